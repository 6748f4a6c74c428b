// What the SED directions are (issue #18): pure analysis of `record.readouts` — functional-mode peaks and
// concentrations beside their random null, the x² + y² composition probe on the recorded fields, the per-example
// SVD's R_k, centroid-PC Fourier R², when the key frequencies of the embedding appear, and a verdict on the
// author's findings computed from those numbers.
import { makeDataset, makeTask } from "../data/tasks";
import type { CompositionR2, ModeReadout, ReadoutPoint, ReadoutResult } from "../records/results";
import type { RunRecord } from "../records/schema";
import {
  COMPOSITION_SETS,
  type CompositionBasis,
  type CompositionSet,
  compositionBasis,
  compositionR2s,
  isPrime,
} from "../util/fourier";
import { Rng } from "../util/rng";
import { median } from "./sed";

/** The author's numbers (NOTES.md §3 C6 and §4, arXiv 2604.06256: seed 42, update-SED, top-8, centred rows). */
export const PAPER_READOUTS = {
  addOmega: [25, 26] as [number, number],
  mulLogOmega: 29,
  /** F in the discrete-log basis ÷ F in the plain Fourier basis, mul. */
  mulLogGain: 5.9,
  /** Per-example gradient SVD R_k at init, mid-training and post-grok; |cos| with the mean gradient. */
  perExampleR: { init: 27, mid: 92, "post-grok": 431 } as Record<string, number>,
  perExampleCos: [0.05, 0.35] as [number, number],
  /** x² + y²: "cross-terms of additive and multiplicative features provide a 4x variance boost" (abstract). */
  sqSumCrossGain: 4,
} as const;

export function readoutsOf(r: RunRecord): ReadoutResult | null {
  return (r.readouts as ReadoutResult | undefined) ?? null;
}

/** The readout point for a stage: init, mid (the first measurement before the grok step), post-grok, end. */
export function pointFor(
  ro: ReadoutResult,
  stage: "init" | "mid" | "post-grok" | "end",
): ReadoutPoint | null {
  const want = stage === "mid" ? "first measurement" : stage;
  return ro.points.find((p) => p.reasons.includes(want)) ?? null;
}

export interface ModeRow {
  op: string;
  seed: number;
  step: number;
  stage: string;
  source: "update" | "gradient";
  /** Direction index k (1 = top). */
  k: number;
  answerPeak: number;
  answerF: number;
  sumPeak: number;
  sumF: number;
  /** The discrete-log basis (multiplication mod a prime), else null. */
  logPeak: number | null;
  logF: number | null;
  /** The median answer-grouped F of the point's random directions (the null), and F ÷ it. */
  nullF: number;
  gainOverNull: number;
}

/** One row per run × readout point × source × direction. */
export function modeRows(records: readonly RunRecord[]): ModeRow[] {
  const out: ModeRow[] = [];
  for (const r of records) {
    const ro = readoutsOf(r);
    if (!ro) continue;
    for (const pt of ro.points) {
      const nullF = median(pt.randomModes.map((m) => m.answer.F));
      for (const source of ["update", "gradient"] as const) {
        (pt.modes?.[source] ?? []).forEach((m: ModeReadout, i) => {
          out.push({
            op: r.task,
            seed: r.config.seed,
            step: pt.step,
            stage: pt.reasons.join("+"),
            source,
            k: i + 1,
            answerPeak: m.answer.peak,
            answerF: m.answer.F,
            sumPeak: m.sum.peak,
            sumF: m.sum.F,
            logPeak: m.log?.peak ?? null,
            logF: m.log?.F ?? null,
            nullF,
            gainOverNull: nullF > 0 ? m.answer.F / nullF : Number.NaN,
          });
        });
      }
    }
  }
  return out;
}

export interface PerExampleRow {
  op: string;
  seed: number;
  stage: "init" | "mid" | "post-grok" | "end";
  step: number;
  R: number[];
  cosTop: number;
  paperR1: number | null;
}

/** Per-example SVD R_k at init, mid, post-grok and the end, per run. */
export function perExampleRows(records: readonly RunRecord[]): PerExampleRow[] {
  const out: PerExampleRow[] = [];
  for (const r of records) {
    const ro = readoutsOf(r);
    if (!ro) continue;
    for (const stage of ["init", "mid", "post-grok", "end"] as const) {
      const pt = pointFor(ro, stage);
      if (!pt) continue;
      out.push({
        op: r.task,
        seed: r.config.seed,
        stage,
        step: pt.step,
        R: pt.perExample.R,
        cosTop: pt.perExample.cosMean[0],
        paperR1: PAPER_READOUTS.perExampleR[stage] ?? null,
      });
    }
  }
  return out;
}

/** A frequency "stands out" once its share of the embedding's power is this many times the uniform share. */
export const STANDS_OUT = 3;

export interface KeyFrequencyRow {
  op: string;
  seed: number;
  /** The frequencies that carry ≥ `share` of the embedding's power at the last eval, largest first. */
  keys: number[];
  /** The first eval at which each key frequency's share is ≥ STANDS_OUT × uniform (null: never). */
  firstStandsOut: (number | null)[];
  grokStep: number | null;
  /** First SED measurement where gradient-SED R̄ reaches half its peak (null: no coupling record). */
  gradientRise: number | null;
}

/** The smallest set of frequencies carrying ≥ share of `power` (index ω − 1), largest first. */
function keysOf(power: readonly number[], share: number): number[] {
  const order = power.map((x, i) => ({ x, omega: i + 1 })).sort((a, b) => b.x - a.x);
  const total = power.reduce((s, x) => s + x, 0);
  const keys: number[] = [];
  let acc = 0;
  for (const o of order) {
    if (total <= 0 || acc >= share * total) break;
    keys.push(o.omega);
    acc += o.x;
  }
  return keys;
}

/** Key frequencies at the end and when each first stood out, beside the grok step and the gradient-SED rise. */
export function keyFrequencyRows(records: readonly RunRecord[], share = 0.5): KeyFrequencyRow[] {
  const out: KeyFrequencyRow[] = [];
  for (const r of records) {
    const ro = readoutsOf(r);
    if (!ro || ro.keyFrequencies.length === 0) continue;
    const lastPower = ro.keyFrequencies[ro.keyFrequencies.length - 1].power;
    const uniform = 1 / lastPower.length;
    const keys = keysOf(lastPower, share);
    const firstStandsOut = keys.map(
      (w) => ro.keyFrequencies.find((k) => k.power[w - 1] >= STANDS_OUT * uniform)?.step ?? null,
    );
    const curve = (r.coupling as { gradient?: { curve: { step: number; Rbar: number }[] } } | undefined)
      ?.gradient?.curve;
    let gradientRise: number | null = null;
    if (curve?.length) {
      const peak = Math.max(...curve.map((c) => c.Rbar).filter(Number.isFinite));
      gradientRise = curve.find((c) => c.Rbar >= peak / 2)?.step ?? null;
    }
    out.push({ op: r.task, seed: r.config.seed, keys, firstStandsOut, grokStep: r.grokStep, gradientRise });
  }
  return out;
}

export interface PcRow {
  op: string;
  seed: number;
  step: number;
  stage: string;
  /** PC j (1-based), its explained-variance share, the best single ω of a+b and its R², and full-basis R². */
  pc: number;
  share: number;
  bestOmega: number;
  bestR2: number;
  answerR2: number;
  abR2: number;
  logR2: number | null;
}

/** Centroid-PC Fourier R² per run × point × PC. */
export function pcRows(records: readonly RunRecord[]): PcRow[] {
  const out: PcRow[] = [];
  for (const r of records) {
    const ro = readoutsOf(r);
    if (!ro) continue;
    for (const pt of ro.points) {
      pt.centroidPcs.pcs.forEach((pc, j) => {
        out.push({
          op: r.task,
          seed: r.config.seed,
          step: pt.step,
          stage: pt.reasons.join("+"),
          pc: j + 1,
          share: pt.centroidPcs.share[j],
          bestOmega: pc.sum.omega,
          bestR2: pc.sum.r2,
          answerR2: pc.full.y,
          abR2: pc.full.a_b,
          logR2: pc.log?.r2 ?? null,
        });
      });
    }
  }
  return out;
}

/** Time spent in the readouts as a share of each run's wall time (the ≤ 15 % budget). */
export function readoutCost(records: readonly RunRecord[]): { id: string; seconds: number; share: number }[] {
  return records.flatMap((r) => {
    const ro = readoutsOf(r);
    return ro
      ? [{ id: r.id, seconds: ro.seconds, share: r.wallSeconds > 0 ? ro.seconds / r.wallSeconds : 0 }]
      : [];
  });
}

/** The author ran the composition probe on these (x2y2_composition_test.py's `for op_name in [...]`). */
export const COMPOSITION_OPS = ["add", "mul", "sq_sum"] as const;

/** A multi-fold boost "like the author's": R²(all columns) ≥ half the author's 4× over the best single basis. */
export const COMPOSITION_GAIN = PAPER_READOUTS.sqSumCrossGain / 2;

export interface CompositionRow {
  op: string;
  seed: number;
  source: "update" | "gradient";
  step: number;
  /** The pairs fitted: the run's held-out split (the author's test_pairs) or the whole grid; a·b ≡ 0 left out. */
  sample: "test" | "all";
  n: number;
  /** Ridge R² of the top direction's f per feature set (util/fourier COMPOSITION_SETS). */
  r2: Record<CompositionSet, number>;
  /** R²(add + mul + cross) ÷ max(R²(add), R²(mul)): the boost over the best single harmonic basis. */
  gain: number;
  /** R²(add + mul + cross) ÷ R²(add + mul): what the cross terms add to both bases together. */
  crossGain: number;
  /** The median R² over `shuffles` permutations of f among the pairs (what the columns fit by chance), its gain. */
  shuffled: Record<CompositionSet, number>;
  shuffledGain: number;
  /** (1 + shuffles with R²(full) ≥ ours) / (1 + shuffles): a permutation p-value of the full fit. */
  pFull: number;
  /** The same probe on the point's random directions (median; recorded by runs since the probe was added). */
  randomFull: number | null;
  randomGain: number | null;
}

const gainOf = (r: Pick<CompositionR2, CompositionSet>) => r.full / Math.max(r.add, r.mul);

/** The record's grid (fields.lo, fields.side) pairs to fit, and their indices into the row-major field. */
function compositionPairs(
  r: RunRecord,
  f: NonNullable<ReadoutResult["fields"]>,
  sample: "test" | "all",
): { a: Int32Array; b: Int32Array; idx: Int32Array } {
  const { lo, side } = f;
  if (sample === "all") {
    const idx = Int32Array.from({ length: side * side }, (_, i) => i);
    return { a: idx.map((i) => lo + Math.floor(i / side)), b: idx.map((i) => lo + (i % side)), idx };
  }
  const c = r.config;
  const task = makeTask(c.expr !== undefined ? { expr: c.expr, p: c.p } : { op: c.op, p: c.p });
  if (task.lo !== lo || task.p - lo !== side)
    throw new Error(
      `run ${r.id}: its field covers operands ${lo}..${lo + side - 1}, its task ${task.lo}..${c.p - 1}`,
    );
  // The run's own split (the one training used), so "test" are the pairs the model never trained on.
  const ds = makeDataset(task, c.frac, c.seed);
  const idx = Int32Array.from(ds.testA, (a, i) => (a - lo) * side + (ds.testB[i] - lo));
  return { a: ds.testA, b: ds.testB, idx };
}

/**
 * The author's composition probe (x² + y² = (a + b)² − 2ab; x2y2_composition_test.py) on the recorded f(a, b) of the
 * top update- and gradient-SED direction: ridge R² on additive, discrete-log, both, cross-term and all features,
 * on the run's held-out pairs by default (the author's sample), beside the same fits on f shuffled among those
 * pairs and, where the record has them, on random directions. Records whose p is not prime (no discrete log) or
 * that have no fields are skipped. The author reports the top directions of a centred update-SED (top-8); our
 * fields hold the top direction of each of our SED sources.
 */
export function compositionRows(
  records: readonly RunRecord[],
  opts: { sample?: "test" | "all"; shuffles?: number; ops?: readonly string[] | "all" } = {},
): CompositionRow[] {
  const sample = opts.sample ?? "test";
  const shuffles = opts.shuffles ?? 19;
  const ops = opts.ops ?? COMPOSITION_OPS;
  const bases = new Map<string, CompositionBasis>(); // one design per split (add, sub and sq_sum share theirs)
  const out: CompositionRow[] = [];
  for (const r of records) {
    const ro = readoutsOf(r);
    const f = ro?.fields;
    if (!ro || !f || !isPrime(r.config.p) || (ops !== "all" && !ops.includes(r.task))) continue;
    const { a, b, idx } = compositionPairs(r, f, sample);
    const key = `${r.config.p}:${f.lo}:${f.side}:${sample === "test" ? `${r.config.frac}:${r.config.seed}` : ""}`;
    let basis = bases.get(key);
    if (!basis) {
      basis = compositionBasis(a, b, r.config.p);
      bases.set(key, basis);
    }
    const pt = ro.points.find((p) => p.step === f.step);
    const randoms = (pt?.randomModes ?? []).flatMap((m) => (m.composition ? [m.composition] : []));
    for (const source of ["update", "gradient"] as const) {
      const field = f[source];
      if (!field) continue;
      const y = Float64Array.from(idx, (i) => field[i]);
      // Permute f among the kept pairs only (a·b ≡ 0 is never fitted), with a stream fixed per run and source.
      const rng = new Rng(r.config.seed).fork(`composition-${source}`);
      const kept = basis.kept;
      const perm = Int32Array.from(kept);
      const permuted = Array.from({ length: shuffles }, () => {
        rng.shuffle(perm);
        const yPerm = Float64Array.from(y);
        for (let i = 0; i < kept.length; i++) yPerm[kept[i]] = y[perm[i]];
        return yPerm;
      });
      const [r2, ...null_] = compositionR2s(basis, [y, ...permuted]);
      const shuffled = Object.fromEntries(
        COMPOSITION_SETS.map((k) => [k, null_.length ? median(null_.map((n) => n[k])) : Number.NaN]),
      ) as Record<CompositionSet, number>;
      out.push({
        op: r.task,
        seed: r.config.seed,
        source,
        step: f.step,
        sample,
        n: kept.length,
        r2,
        gain: gainOf(r2),
        crossGain: r2.full / r2.addMul,
        shuffled,
        shuffledGain: null_.length ? median(null_.map(gainOf)) : Number.NaN,
        pFull: (1 + null_.filter((n) => n.full >= r2.full).length) / (1 + null_.length),
        randomFull: randoms.length ? median(randoms.map((c) => c.full)) : null,
        randomGain: randoms.length ? median(randoms.map(gainOf)) : null,
      });
    }
  }
  return out;
}

/** The composition probe's table: one row per run × source of `ops` (x² + y² by default), beside the author's 4×. */
export function compositionDisplay(
  rows: readonly CompositionRow[],
  ops: readonly string[] = ["sq_sum"],
): Record<string, string | number>[] {
  const x = (v: number | null) => (v === null || !Number.isFinite(v) ? "—" : `${v.toFixed(1)}×`);
  const shown = rows.filter((r) => ops.includes(r.op));
  // Records made before the observer ran the probe have no random directions' R²: no empty column for them.
  const withRandom = shown.some((r) => r.randomGain !== null);
  return shown.map((r) => ({
    op: r.op,
    seed: r.seed,
    source: `${r.source}-SED`,
    "pairs fitted": r.n,
    "R²: add": f3(r.r2.add),
    "R²: mul (log)": f3(r.r2.mul),
    "R²: add + mul": f3(r.r2.addMul),
    "R²: + cross terms": f3(r.r2.full),
    "÷ best single basis": x(r.gain),
    "the same, f shuffled": x(r.shuffledGain),
    "R² (all), f shuffled": f3(r.shuffled.full),
    "p (shuffles)": f3(r.pFull),
    ...(withRandom ? { "the same, random directions": x(r.randomGain) } : {}),
    author: `${PAPER_READOUTS.sqSumCrossGain}×`,
  }));
}

/** The composition verdict for x² + y² from the rows of one source (empty when there are none). */
function compositionVerdict(rows: readonly CompositionRow[], source: "update" | "gradient"): string {
  const sq = rows.filter((r) => r.op === "sq_sum" && r.source === source);
  if (!sq.length) return "";
  const fmt = (xs: number[]) => xs.map((v) => v.toFixed(1)).join(", ");
  const big = sq.filter((r) => r.gain >= COMPOSITION_GAIN).length;
  const beyond = sq.filter(
    (r) => r.gain >= COMPOSITION_GAIN && r.gain > r.shuffledGain && r.pFull <= 0.05,
  ).length;
  const structured = sq.filter((r) => r.pFull <= 0.05).length;
  const others = COMPOSITION_OPS.filter((op) => op !== "sq_sum")
    .map((op) => [op, rows.filter((r) => r.op === op && r.source === source).map((r) => r.gain)] as const)
    .filter(([, g]) => g.length)
    .map(([op, g]) => `${op} ${median(g).toFixed(1)}×`);
  const said =
    beyond === sq.length
      ? "*Holds.*"
      : big === 0
        ? "*Does not hold here.*"
        : beyond === 0 && sq.every((r) => r.gain <= r.shuffledGain)
          ? "*The ratio is there, but no larger than a shuffled f's: it counts the columns, not structure.*"
          : "*Holds in some runs.*";
  return (
    ` Composition probe (the author's ridge fits of the top direction's f on ${sq[0].sample === "test" ? "the held-out" : "all"} pairs): ` +
    `R²(add + mul + cross terms) ÷ max(R²(add), R²(mul)) = ${fmt(sq.map((r) => r.gain))}× (R² ${sq.map((r) => f3(r.r2.full)).join(", ")}); ` +
    `the same columns on f shuffled among the pairs: ${fmt(sq.map((r) => r.shuffledGain))}× (R² ${sq.map((r) => f3(r.shuffled.full)).join(", ")}); ` +
    `the full fit beats every shuffle in ${structured} of ${sq.length} runs` +
    (others.length ? `; the same probe on ${others.join(", ")} (median)` : "") +
    `. The author: ${PAPER_READOUTS.sqSumCrossGain}× (rule: ≥ ${COMPOSITION_GAIN}× and above the shuffles). ${said}`
  );
}

/**
 * The author's four findings against our end-of-run readouts of the top gradient- and update-SED direction,
 * each with the rule that decides it. A "single mode" is answer-grouped F ≥ 0.5 and ≥ 5× the random null; the
 * x² + y² cross-term finding is decided from `composition` (compositionRows), when given.
 */
export function readoutVerdict(
  rows: readonly ModeRow[],
  composition: readonly CompositionRow[] = [],
): string {
  const end = rows.filter((r) => r.stage.includes("end") && r.k === 1);
  const lines: string[] = [];
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(", ");
  const single = (r: ModeRow, F = r.answerF) => F >= 0.5 && F >= 5 * r.nullF;
  for (const source of ["gradient", "update"] as const) {
    const by = (op: string) => end.filter((r) => r.op === op && r.source === source);
    const add = by("add");
    if (add.length) {
      const n = add.filter((r) => single(r)).length;
      lines.push(
        `- **add (${source}-SED, top direction):** a single mode in ${n} of ${add.length} runs (F = ${fmt(add.map((r) => r.answerF))}; peak ω ${add.map((r) => r.answerPeak).join(", ")}; null F ${fmt(add.map((r) => r.nullF))}). The author: one mode, ω ≈ ${PAPER_READOUTS.addOmega.join("–")} (seed 42). ${n === add.length ? "*Holds.*" : n === 0 ? "*Does not hold here.*" : "*Holds in some runs.*"}`,
      );
    }
    const mul = by("mul").filter((r) => r.logF !== null);
    if (mul.length) {
      const gains = mul.map((r) => (r.answerF > 0 ? (r.logF as number) / r.answerF : Number.NaN));
      const n = mul.filter((r) => single(r, r.logF as number)).length;
      lines.push(
        `- **mul (${source}-SED):** a single mode in the discrete-log basis in ${n} of ${mul.length} runs (log F = ${fmt(mul.map((r) => r.logF as number))}, peak ω ${mul.map((r) => r.logPeak).join(", ")}); log F ÷ plain F = ${fmt(gains)}. The author: ω = ${PAPER_READOUTS.mulLogOmega}, ${PAPER_READOUTS.mulLogGain}× (seed 42). ${n === mul.length && gains.every((g) => g > 2) ? "*Holds.*" : n === 0 ? "*Does not hold here.*" : "*Holds in part.*"}`,
      );
    }
    const sub = by("sub");
    if (sub.length) {
      const multi = sub.filter((r) => !single(r)).length;
      lines.push(
        `- **sub (${source}-SED):** not a single mode in ${multi} of ${sub.length} runs (F = ${fmt(sub.map((r) => r.answerF))}). The author: a multi-mode family. ${multi === sub.length ? "*Holds.*" : multi === 0 ? "*Does not hold here.*" : "*Holds in some runs.*"}`,
      );
    }
    const sq = by("sq_sum");
    if (sq.length) {
      lines.push(
        `- **x² + y² (${source}-SED):** answer-grouped F = ${fmt(sq.map((r) => r.answerF))}, log-basis F ${sq.some((r) => r.logF !== null) ? fmt(sq.map((r) => r.logF ?? Number.NaN)) : "— (not multiplicative)"}. The author: no single harmonic basis, add × mul cross terms raise R² ${PAPER_READOUTS.sqSumCrossGain}×.${compositionVerdict(composition, source) || " (No composition probe: pass compositionRows.)"}`,
      );
    }
  }
  return lines.join("\n");
}

const f2 = (x: number | null) => (x === null || !Number.isFinite(x) ? "—" : x.toFixed(2));
const f3 = (x: number | null) => (x === null || !Number.isFinite(x) ? "—" : x.toFixed(3));

/** The end-of-run top directions per run and source: peak ω and F by answer (and log), beside the null. */
export function modeDisplay(rows: readonly ModeRow[]): Record<string, string | number>[] {
  return rows
    .filter((r) => r.stage.includes("end") && r.k === 1)
    .map((r) => ({
      op: r.op,
      seed: r.seed,
      source: `${r.source}-SED`,
      step: r.step,
      "peak ω (answer)": r.answerPeak,
      "F (answer)": f2(r.answerF),
      "F of random directions (median)": f2(r.nullF),
      "peak ω (log basis)": r.logPeak ?? "—",
      "F (log basis)": f2(r.logF),
    }));
}

export function perExampleDisplay(rows: readonly PerExampleRow[]): Record<string, string | number>[] {
  return rows.map((r) => ({
    op: r.op,
    seed: r.seed,
    stage: r.stage,
    step: r.step,
    "R_1, R_2, R_3": r.R.map((x) => x.toFixed(0)).join(", "),
    "|cos(v_1, mean gradient)|": f2(r.cosTop),
    "paper R_k": r.paperR1 === null ? "—" : String(r.paperR1),
  }));
}

export function keyFrequencyDisplay(rows: readonly KeyFrequencyRow[]): Record<string, string | number>[] {
  return rows.map((r) => ({
    op: r.op,
    seed: r.seed,
    "key frequencies (end)": r.keys.join(", "),
    "first stands out (step)": r.firstStandsOut.map((s) => s ?? "never").join(", "),
    "grok step": r.grokStep ?? "none",
    "gradient-SED R̄ at half its peak (step)": r.gradientRise ?? "—",
  }));
}

/** PC rows at the end of each run (the first `pcs` PCs). */
export function pcDisplay(rows: readonly PcRow[], pcs = 3): Record<string, string | number>[] {
  return rows
    .filter((r) => r.stage.includes("end") && r.pc <= pcs)
    .map((r) => ({
      op: r.op,
      seed: r.seed,
      PC: r.pc,
      "variance share": f2(r.share),
      "best ω (a + b)": r.bestOmega,
      "R² at that ω": f2(r.bestR2),
      "R², answer basis": f2(r.answerR2),
      "R², a & b": f2(r.abR2),
      "R², best log ω": f2(r.logR2),
    }));
}
