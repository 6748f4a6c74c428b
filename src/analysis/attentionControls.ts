// Why does confining attention to a rank-3 subspace speed grokking? Pure analysis of the attention-control runs
// (issue #15: freeze, zero gradient, lr scale, norm-matched keep-random, Grokfast): grok steps and speed-ups
// over a control trained with them, where attention ends up, and a verdict computed from those numbers.
import type { InterventionConfig, InterventionMode } from "../config/config";
import type { AttentionPoint, AttentionResult } from "../records/results";
import type { RunRecord } from "../records/schema";
import type { InterventionRow } from "./interventions";
import { formatMeanSd, meanSd } from "./sed";

/** One run of the attention-control grids. */
export interface ControlRow {
  id: string;
  op: string;
  seed: number;
  mode: InterventionMode;
  /** The arm: the mode, with its lr scale for scale-attention-lr (e.g. "attention lr ×0.1"). */
  condition: string;
  /** First eval with test accuracy ≥ 0.5 (null: never). */
  grokStep: number | null;
  /** The step training stopped at after its 20th eval ≥ 0.98 (null: it never converged). */
  stopStep: number | null;
  steps: number;
  finalTestAcc: number;
  /** ‖θ_attn − θ_attn(0)‖ / ‖θ_attn(0)‖ at the grok step's eval (the last eval for a run that never grokked). */
  displacementAtGrok: number;
  displacementFinal: number;
  /** Mean |softmax − ½| of the head's query at position 0 at the grok step's eval, and at the end. */
  patternAtGrok: number;
  patternFinal: number;
}

/** The arms in display order: control first, then the controls by how much attention may still learn. */
export const CONDITION_ORDER = [
  "control",
  "freeze attention at init",
  "freeze attention",
  "zero attention gradient",
  "attention lr ×0.01",
  "attention lr ×0.1",
  "attention lr ×10",
  "keep random, norm-matched",
  "Grokfast (all)",
  "Grokfast (attention)",
] as const;

/** The arm's label of an intervention config. */
export function conditionOf(iv: InterventionConfig): string {
  switch (iv.mode) {
    case "control":
      return "control";
    case "freeze-attention":
      return "freeze attention";
    case "freeze-attention-at-init":
      return "freeze attention at init";
    case "zero-attention-gradient":
      return "zero attention gradient";
    case "scale-attention-lr":
      return `attention lr ×${iv.lrScale}`;
    case "keep-random-norm-matched":
      return "keep random, norm-matched";
    case "grokfast":
      return "Grokfast (all)";
    case "grokfast-attention":
      return "Grokfast (attention)";
    default:
      return iv.mode;
  }
}

/** The eval point at `step` (the last one at or before it), or the last point when step is null. */
function pointAt(points: readonly AttentionPoint[], step: number | null): AttentionPoint {
  if (step === null) return points[points.length - 1];
  let best = points[0];
  for (const p of points) if (p.step <= step) best = p;
  return best;
}

/** Rows of the runs that carry an attention record (runs without one are refused by name). */
export function controlRows(records: readonly RunRecord[]): ControlRow[] {
  return records.map((r) => {
    const iv = r.config.intervention;
    const att = r.attention as AttentionResult | undefined;
    if (!iv || !att || att.points.length === 0)
      throw new Error(`run ${r.id} has no attention record: it is not a run of the attention-control grids`);
    const atGrok = pointAt(att.points, r.grokStep);
    const last = att.points[att.points.length - 1];
    return {
      id: r.id,
      op: r.task,
      seed: r.config.seed,
      mode: iv.mode,
      condition: conditionOf(iv),
      grokStep: r.grokStep,
      stopStep: r.stopReason === "converged" ? r.steps : null,
      steps: r.steps,
      finalTestAcc: r.final.testAcc,
      displacementAtGrok: atGrok.displacement,
      displacementFinal: last.displacement,
      patternAtGrok: atGrok.patternDeviation,
      patternFinal: last.patternDeviation,
    };
  });
}

export interface ControlTableRow {
  op: string;
  condition: string;
  mode: InterventionMode;
  /** Grok step per seed (null: did not grok within the step budget). */
  grokSteps: Record<number, number | null>;
  grok: { mean: number; sd: number; n: number };
  /** Control's mean grok step ÷ this arm's (a run that never grokked counts with its step budget). */
  speedup: number | null;
  /** The same for the stop step. */
  stopSpeedup: number | null;
  /** Runs that never reached test accuracy 0.5. */
  notGrokked: number;
  displacementAtGrok: { mean: number; sd: number; n: number };
  finalTestAcc: number;
}

const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** Per op × arm, in CONDITION_ORDER (arms outside it after, in first-seen order). */
export function controlTable(rows: readonly ControlRow[]): ControlTableRow[] {
  const out: ControlTableRow[] = [];
  const ops = [...new Set(rows.map((r) => r.op))];
  const seen = [...new Set(rows.map((r) => r.condition))];
  const order = [
    ...CONDITION_ORDER.filter((c) => seen.includes(c)),
    ...seen.filter((c) => !(CONDITION_ORDER as readonly string[]).includes(c)),
  ];
  for (const op of ops) {
    const ctl = rows.filter((r) => r.op === op && r.mode === "control");
    const ctlGrok = ctl.length ? avg(ctl.map((r) => r.grokStep ?? r.steps)) : null;
    const ctlStop = ctl.length ? avg(ctl.map((r) => r.stopStep ?? r.steps)) : null;
    for (const condition of order) {
      const rs = rows.filter((r) => r.op === op && r.condition === condition);
      if (rs.length === 0) continue;
      const g = avg(rs.map((r) => r.grokStep ?? r.steps));
      const s = avg(rs.map((r) => r.stopStep ?? r.steps));
      out.push({
        op,
        condition,
        mode: rs[0].mode,
        grokSteps: Object.fromEntries(rs.map((r) => [r.seed, r.grokStep])),
        grok: meanSd(rs.map((r) => r.grokStep ?? r.steps)),
        speedup: ctlGrok !== null ? ctlGrok / g : null,
        stopSpeedup: ctlStop !== null ? ctlStop / s : null,
        notGrokked: rs.filter((r) => r.grokStep === null).length,
        displacementAtGrok: meanSd(rs.map((r) => r.displacementAtGrok)),
        finalTestAcc: avg(rs.map((r) => r.finalTestAcc)),
      });
    }
  }
  return out;
}

/** Table rows for display: grok steps per seed, mean ± sd, speed-ups, displacement at the grok step. */
export function controlDisplay(table: readonly ControlTableRow[]): Record<string, string>[] {
  const x = (v: number | null) => (v === null ? "—" : `${v.toFixed(2)}×`);
  return table.map((r) => ({
    op: r.op,
    arm: r.condition,
    "grok step per seed": Object.entries(r.grokSteps)
      .map(([s, g]) => `${s}: ${g ?? "none"}`)
      .join(", "),
    "grok step (mean ± sd)": formatMeanSd(r.grok, 0),
    "speed-up": x(r.speedup),
    "speed-up of the stop step": x(r.stopSpeedup),
    "attention displacement at grok": formatMeanSd(r.displacementAtGrok, 3),
    "final test acc": r.finalTestAcc.toFixed(3),
  }));
}

/** Spearman's rank correlation (average ranks for ties); NaN below 3 points. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`spearman: ${x.length} vs ${y.length} values`);
  if (x.length < 3) return Number.NaN;
  const rank = (v: readonly number[]) => {
    const idx = v.map((_, i) => i).sort((a, b) => v[a] - v[b]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < idx.length; ) {
      let j = i;
      while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
      for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const rx = rank(x);
  const ry = rank(y);
  const mx = avg(rx);
  const my = avg(ry);
  let num = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < rx.length; i++) {
    num += (rx[i] - mx) * (ry[i] - my);
    dx += (rx[i] - mx) ** 2;
    dy += (ry[i] - my) ** 2;
  }
  return dx > 0 && dy > 0 ? num / Math.sqrt(dx * dy) : Number.NaN;
}

/** How a speed-up compares to another with their seed spreads: "a ≈ b", "a > b" or "a < b" by a 15 % margin. */
function relation(a: number, b: number): "≈" | ">" | "<" {
  if (a > 1.15 * b) return ">";
  if (a < b / 1.15) return "<";
  return "≈";
}

/**
 * The verdict, computed from the table (and `keepRandom`: keep-random's speed-up per op from notebook 04's runs,
 * when given). Each sentence states numbers; the reading of them is marked as interpretation, with the rule that
 * chose it.
 */
export function controlVerdict(
  table: readonly ControlTableRow[],
  rows: readonly ControlRow[],
  keepRandom: Record<string, number | null> = {},
): string {
  const out: string[] = [];
  const sp = (op: string, c: string) => table.find((t) => t.op === op && t.condition === c);
  const fx = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${v.toFixed(2)}×`);
  for (const op of [...new Set(table.map((t) => t.op))]) {
    const ctl = sp(op, "control");
    if (!ctl || ctl.notGrokked === ctl.grok.n) {
      out.push(
        `- **${op}**: ${ctl ? "no control run grokked within its step budget" : "no control run"}, so no speed-up is measured.`,
      );
      continue;
    }
    const parts: string[] = [];
    const freeze = sp(op, "freeze attention");
    const init = sp(op, "freeze attention at init");
    const zero = sp(op, "zero attention gradient");
    const kr = keepRandom[op] ?? null;
    if (freeze?.speedup) {
      parts.push(
        `freezing attention after step 20 gives ${fx(freeze.speedup)} (${freeze.notGrokked === 0 ? `all ${freeze.grok.n} runs grokked` : `${freeze.notGrokked} of ${freeze.grok.n} runs did not grok`})` +
          `${init?.speedup ? `, from initialisation ${fx(init.speedup)}` : ""}` +
          `${zero?.speedup ? `, zeroing its gradient (decay only) ${fx(zero.speedup)}` : ""}` +
          `${kr ? `; keep-random (notebook 04) ${fx(kr)}` : ""}`,
      );
    }
    const lrs = table
      .filter((t) => t.op === op && t.mode === "scale-attention-lr" && t.speedup !== null)
      .map((t) => ({ scale: Number(t.condition.split("×")[1]), speedup: t.speedup as number }))
      .sort((a, b) => a.scale - b.scale);
    if (lrs.length)
      parts.push(
        `attention lr ${lrs.map((l) => `×${l.scale}: ${fx(l.speedup)}`).join(", ")} (×1 is control)`,
      );
    const nm = sp(op, "keep random, norm-matched");
    if (nm?.speedup) parts.push(`keep-random rescaled to the full gradient's norm ${fx(nm.speedup)}`);
    const gf = sp(op, "Grokfast (all)");
    const gfa = sp(op, "Grokfast (attention)");
    if (gf?.speedup || gfa?.speedup)
      parts.push(`Grokfast ${fx(gf?.speedup)} on all parameters, ${fx(gfa?.speedup)} on attention only`);
    const rs = rows.filter((r) => r.op === op);
    const rho = spearman(
      rs.map((r) => r.displacementAtGrok),
      rs.map((r) => r.grokStep ?? r.steps),
    );
    if (Number.isFinite(rho))
      parts.push(
        `across its ${rs.length} runs the attention displacement at the grok step and the grok step have Spearman ρ = ${rho.toFixed(2)}`,
      );
    if (parts.length) out.push(`- **${op}**: ${parts.join("; ")}.`);

    // Interpretation, by stated rules.
    if (freeze?.speedup && kr) {
      const rel = relation(freeze.speedup, kr);
      const reading =
        freeze.speedup < 1.15
          ? "freezing attention does not speed grokking up, so the keep-random speed-up needs the small updates it still lets through"
          : rel === "<"
            ? "freezing attention gives part of keep-random's speed-up: stopping attention from learning explains some of it, not all"
            : rel === "≈"
              ? "attention need not learn for the speed-up: stopping it from learning gives about the same speed-up as keeping a random rank-3 part of its gradient"
              : "attention need not learn for the speed-up: stopping it from learning gives more than keeping a random rank-3 part of its gradient";
      out.push(
        `  *Interpretation (freeze ${fx(freeze.speedup)} vs keep-random ${fx(kr)}, equal within 15 % or not):* ${reading}.`,
      );
    }
    if (lrs.length >= 2) {
      // With control as ×1: is the speed-up monotone in the attention learning rate?
      const pts = [...lrs, { scale: 1, speedup: 1 }].sort((a, b) => a.scale - b.scale);
      const ups = pts.slice(1).map((p2, i) => p2.speedup - pts[i].speedup);
      const reading = ups.every((d) => d <= 0)
        ? "the slower attention learns, the sooner the network groks (the speed-up falls monotonically with attention's learning rate)"
        : ups.every((d) => d >= 0)
          ? "the faster attention learns, the sooner the network groks"
          : `the speed-up is not monotone in attention's learning rate${
              pts[0].speedup > 1.15 && pts[pts.length - 1].speedup > 1.15
                ? ": control's ×1 groks later than both the slowest and the fastest attention"
                : ""
            }`;
      out.push(
        `  *Interpretation (speed-up against the attention lr scale, control at ×1; direction of each change):* ${reading}.`,
      );
    }
    if (nm?.speedup && kr) {
      const rel = relation(nm.speedup, kr);
      const reading =
        rel === "≈"
          ? "the kept part's size does not matter — consistent with Adam's per-coordinate normalisation turning a small kept gradient into full-size steps"
          : rel === "<"
            ? "restoring the kept part's size removes some of the speed-up, so its smallness matters beyond what Adam normalises away"
            : "restoring the kept part's size speeds grokking further";
      out.push(`  *Interpretation (norm-matched ${fx(nm.speedup)} vs keep-random ${fx(kr)}):* ${reading}.`);
    }
  }
  return out.join("\n");
}

/**
 * Keep-random's speed-up per op measured against this grid's control: notebook 04's keep-random runs (rank 3,
 * gradient projection, weight decay 1) over the control trained beside the attention controls, so that both
 * compare with one baseline.
 */
export function keepRandomSpeedups(
  ivRows: readonly InterventionRow[],
  table: readonly ControlTableRow[],
): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const t of table.filter((r) => r.mode === "control")) {
    const kr = ivRows.filter(
      (r) =>
        r.op === t.op &&
        r.mode === "keep-random" &&
        r.projection === "gradient" &&
        r.rank === 3 &&
        r.weightDecay === 1,
    );
    out[t.op] = kr.length ? t.grok.mean / avg(kr.map((r) => r.grokStep ?? r.steps)) : null;
  }
  return out;
}

/**
 * Rows to set beside the controls in their table: notebook 04's four projection modes (rank 3, gradient
 * projection, weight decay 1) measured against this grid's control, and for add the paper's published values.
 */
export function referenceRows(
  ivRows: readonly InterventionRow[],
  table: readonly ControlTableRow[],
): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  const x = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${v.toFixed(2)}×`);
  const paper: Record<string, number> = {
    "keep-sed": 2.2,
    "keep-random": 2.36,
    "remove-sed": 1.02,
    "remove-random": 1.0,
  };
  for (const ctl of table.filter((t) => t.mode === "control")) {
    for (const mode of ["keep-sed", "keep-random", "remove-sed", "remove-random"] as const) {
      const rs = ivRows.filter(
        (r) =>
          r.op === ctl.op &&
          r.mode === mode &&
          r.projection === "gradient" &&
          r.rank === 3 &&
          r.weightDecay === 1,
      );
      if (!rs.length) continue;
      const g = avg(rs.map((r) => r.grokStep ?? r.steps));
      out.push({
        op: ctl.op,
        arm: `${mode} (notebook 04)`,
        "grok step per seed": rs.map((r) => `${r.seed}: ${r.grokStep ?? "none"}`).join(", "),
        "grok step (mean ± sd)": formatMeanSd(meanSd(rs.map((r) => r.grokStep ?? r.steps)), 0),
        "speed-up": x(ctl.grok.mean / g),
        "paper (add)": ctl.op === "add" ? x(paper[mode]) : "—",
      });
    }
  }
  return out;
}
