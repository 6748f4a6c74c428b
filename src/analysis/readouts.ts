// What the SED directions are (issue #18): pure analysis of `record.readouts` — functional-mode peaks and
// concentrations beside their random null, the per-example SVD's R_k, centroid-PC Fourier R², when the key
// frequencies of the embedding appear, and a verdict on the author's findings computed from those numbers.
import type { ModeReadout, ReadoutPoint, ReadoutResult } from "../records/results";
import type { RunRecord } from "../records/schema";
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

/**
 * The author's four findings against our end-of-run readouts of the top gradient- and update-SED direction,
 * each with the rule that decides it. A "single mode" is answer-grouped F ≥ 0.5 and ≥ 5× the random null.
 */
export function readoutVerdict(rows: readonly ModeRow[]): string {
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
        `- **x² + y² (${source}-SED):** answer-grouped F = ${fmt(sq.map((r) => r.answerF))}, log-basis F ${sq.some((r) => r.logF !== null) ? fmt(sq.map((r) => r.logF ?? Number.NaN)) : "— (not multiplicative)"}. The author: no single harmonic basis, add × mul cross terms raise R² 4× — the cross-term fit is not computed here.`,
      );
    }
  }
  return lines.join("\n");
}

const f2 = (x: number | null) => (x === null || !Number.isFinite(x) ? "—" : x.toFixed(2));

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
