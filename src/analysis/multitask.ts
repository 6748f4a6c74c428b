// Multitask experiments (paper claim C3: aggregation across tasks hides the coupling): pure analysis of their
// records — peaks per task × seed, summaries beside the paper's numbers, the cancellation and subspace-angle
// series, and a plain-words verdict on aggregation as the obstruction.
import {
  isMultitaskCoupling,
  type MultitaskCouplingRecord,
  type MultitaskSource,
  type SourceSummary,
} from "../records/results";
import type { RunRecord } from "../records/schema";
import { PAPER_MULTITASK } from "./paper";
import { formatMeanSd, meanSd, median } from "./sed";

/** The record's multitask diagnostics (throws naming the run when it has none). */
export function multitaskCouplingOf(r: RunRecord): MultitaskCouplingRecord {
  const c = r.coupling;
  if (!r.config.tasks || !c || !isMultitaskCoupling(c)) {
    throw new Error(
      `run ${r.id} is not a multitask run with SED diagnostics (config.tasks and "sed": true; see experiments/multitask.json)`,
    );
  }
  return c;
}

/** One task of one multitask run: its grok step and the peak and final R̄ of each SED source. */
export interface MultitaskPeakRow {
  task: string;
  seed: number;
  /** Checkpoint spacing c (steps). */
  spacing: number;
  grokStep: number | null;
  updatePeak: number | null;
  updateFinal: number | null;
  aggregatePeak: number | null;
  aggregateFinal: number | null;
  perTaskPeak: number | null;
  perTaskFinal: number | null;
  /** Per-task gradient-SED peak ÷ aggregate gradient-SED peak: how much the aggregation loses. */
  perTaskOverAggregate: number | null;
  /** Aggregate gradient-SED peak ÷ update-SED peak: how much the optimizer trajectory loses on top. */
  aggregateOverUpdate: number | null;
}

const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? a / b : null);

export function multitaskPeakRows(records: RunRecord[]): MultitaskPeakRow[] {
  return records.flatMap((r) => {
    const c = multitaskCouplingOf(r);
    return c.tasks.map((task) => {
      const s = (src: MultitaskSource): SourceSummary => c[src][task];
      return {
        task,
        seed: r.config.seed,
        spacing: r.config.checkpointEvery,
        grokStep: r.grokSteps?.[task] ?? null,
        updatePeak: s("update").peakRbar,
        updateFinal: s("update").finalRbar,
        aggregatePeak: s("aggregate").peakRbar,
        aggregateFinal: s("aggregate").finalRbar,
        perTaskPeak: s("perTask").peakRbar,
        perTaskFinal: s("perTask").finalRbar,
        perTaskOverAggregate: ratio(s("perTask").peakRbar, s("aggregate").peakRbar),
        aggregateOverUpdate: ratio(s("aggregate").peakRbar, s("update").peakRbar),
      };
    });
  });
}

/** Per spacing and task, over seeds: mean ± sd of the peaks, beside the paper's numbers (plain table rows). */
export function multitaskSummary(rows: MultitaskPeakRow[]): Record<string, string | number>[] {
  const out: Record<string, string | number>[] = [];
  const spacings = [...new Set(rows.map((r) => r.spacing))].sort((a, b) => b - a);
  for (const c of spacings) {
    const tasks = [...new Set(rows.filter((r) => r.spacing === c).map((r) => r.task))];
    for (const task of tasks) {
      const rs = rows.filter((r) => r.spacing === c && r.task === task);
      const paper = PAPER_MULTITASK.perTaskPeakRbar[task];
      out.push({
        c,
        task,
        seeds: rs.length,
        "grok step": formatMeanSd(meanSd(rs.map((r) => r.grokStep)), 0),
        "update R̄ peak (ours)": formatMeanSd(meanSd(rs.map((r) => r.updatePeak))),
        "update R̄ peak (paper)": `≤ ${PAPER_MULTITASK.updateRbarMax}`,
        "aggregate R̄ peak (ours)": formatMeanSd(meanSd(rs.map((r) => r.aggregatePeak))),
        "aggregate R̄ peak (paper)": "not reported",
        "per-task R̄ peak (ours)": formatMeanSd(meanSd(rs.map((r) => r.perTaskPeak))),
        "per-task R̄ peak (paper)": paper === undefined ? "—" : paper,
        "per-task / aggregate": formatMeanSd(meanSd(rs.map((r) => r.perTaskOverAggregate)), 2),
      });
    }
  }
  return out;
}

/** The cancellation ratio ‖Σ_t g_t‖ / Σ_t ‖g_t‖ over a run (every checkpoint). */
export function cancellationSeries(r: RunRecord): { step: number[]; ratio: number[] } {
  const c = multitaskCouplingOf(r).cancellation;
  return { step: c.map((p) => p.step), ratio: c.map((p) => p.ratio) };
}

/** Mean principal angle (degrees) between each task's subspace and the aggregate or update one, over a run. */
export function angleSeries(
  r: RunRecord,
  against: "aggregate" | "update",
): { step: number[]; byTask: Record<string, number[]> } {
  const c = multitaskCouplingOf(r);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : Number.NaN);
  return {
    step: c.angles.map((a) => a.step),
    byTask: Object.fromEntries(c.tasks.map((t) => [t, c.angles.map((a) => mean(a[against][t] ?? []))])),
  };
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "—");
const range = (xs: number[], d = 1) =>
  xs.length ? `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}` : "—";

/**
 * A plain-words reading of our multitask numbers against the paper's claim (update-SED R̄ ≤ 1 on every task,
 * per-task gradient-SED 20–45×, aggregation across tasks the obstruction), one paragraph per spacing. The
 * aggregate gradient-SED is the direct test: if it couples about as well as the per-task one (peaks within 2×),
 * the text says so, and that the loss is then in the optimizer trajectory, not in the aggregation.
 */
export function multitaskClaimCheck(rows: MultitaskPeakRow[], records: RunRecord[] = []): string {
  const ok = rows.filter((r) => r.updatePeak !== null && r.aggregatePeak !== null && r.perTaskPeak !== null);
  if (ok.length === 0) return "No multitask runs with diagnostics yet.";
  const paras: string[] = [];
  for (const c of [...new Set(ok.map((r) => r.spacing))].sort((a, b) => b - a)) {
    const rs = ok.filter((r) => r.spacing === c);
    const n = rs.length;
    const seeds = new Set(rs.map((r) => r.seed)).size;
    const up = rs.map((r) => r.updatePeak as number);
    const ag = rs.map((r) => r.aggregatePeak as number);
    const pt = rs.map((r) => r.perTaskPeak as number);
    const lossAgg = rs.map((r) => r.perTaskOverAggregate as number).filter(Number.isFinite);
    const lossUpd = rs.map((r) => r.aggregateOverUpdate as number).filter(Number.isFinite);
    const updLe1 = up.filter((x) => x <= PAPER_MULTITASK.updateRbarMax).length;
    const closeAgg = lossAgg.filter((x) => x <= 2).length;
    const mAgg = median(lossAgg);
    const mUpd = median(lossUpd);
    const canc = records
      .filter((r) => r.config.checkpointEvery === c)
      .flatMap((r) => cancellationSeries(r).ratio)
      .filter(Number.isFinite);
    const lines = [
      `**c = ${c} (${seeds} seed${seeds === 1 ? "" : "s"}, ${n} task × seed pairs).** `,
      `Update-SED R̄ peaks at ${range(up)}× (≤ 1 in ${updLe1} of ${n}; paper: ≤ 1 on all four tasks). `,
      `Per-task gradient-SED peaks at ${range(pt)}× (paper: 21.8–44.9×). `,
      `Aggregate gradient-SED — the gradient of the summed loss, one basis for all tasks, which the paper does not report — `,
      `peaks at ${range(ag)}×; per-task peak ÷ aggregate peak has median ${fmt(mAgg, 2)} (≤ 2 in ${closeAgg} of ${n}: `,
      `the aggregate keeps at least half the per-task coupling), and aggregate ÷ update-SED peak has median ${fmt(mUpd, 1)}. `,
    ];
    if (canc.length) {
      lines.push(
        `The tasks' attention gradients cancel partly when summed: ‖Σ_t g_t‖ / Σ_t ‖g_t‖ has median ${fmt(median(canc), 2)} over the checkpoints `,
        `(1 = aligned; 0.5 = four orthogonal gradients of equal norm). `,
      );
    }
    if (closeAgg >= n / 2 && mUpd > 2) {
      lines.push(
        "**So here the aggregate gradient-SED couples about as well as the per-task one: summing the tasks' gradients does not by itself hide the coupling.** ",
        "What does is the step from gradients to AdamW updates (per-coordinate normalisation, momentum, weight decay): the update-SED is the weak one. ",
        "On these numbers aggregation is not the obstruction the paper names; the optimizer trajectory is.",
      );
    } else if (closeAgg >= n / 2) {
      lines.push(
        "Aggregate and per-task gradient-SED couple comparably, and neither is far above the update-SED: on these numbers no stage clearly loses the signal.",
      );
    } else if (mUpd > 2) {
      lines.push(
        "Aggregation loses part of the signal (per-task above aggregate), and the optimizer trajectory loses more on top (aggregate above update): both stages contribute, not aggregation alone.",
      );
    } else {
      lines.push(
        "Aggregation loses the signal: the per-task gradient-SED couples clearly more than the aggregate, which couples about as weakly as the update-SED — consistent with the paper's claim.",
      );
    }
    paras.push(lines.join(""));
  }
  return paras.join("\n\n");
}

/** One seed's runs at two checkpoint spacings, compared at the steps both evaluated. */
export interface SpacingComparison {
  seed: number;
  spacings: [number, number];
  /** Each run's commits (from its segments when it has them), e.g. "55791adbc2e8". */
  commits: [string, string];
  commonSteps: number;
  /** The last common step up to which every metric is bit-identical (null: they differ from the first). */
  identicalThrough: number | null;
  firstDifferentStep: number | null;
  /** Over the common steps: the largest ratio of the two train losses (≥ 1) and gap in test accuracy (points). */
  maxLossRatio: number;
  maxTestAccPoints: number;
}

const commitsOf = (r: RunRecord) => (r.segments ? r.segments.map((s) => s.commit).join(" → ") : r.commit);

/**
 * Same seed, two spacings: the batches are the same (the spacing only sets when evals and SED rows happen), so on
 * one commit and backend the metrics agree bit for bit at the common steps, until the one that converges first
 * stops. Records made on different code may not: this says whether and where they differ, and by how much.
 */
export function spacingComparison(records: readonly RunRecord[]): SpacingComparison[] {
  const multi = records.filter((r) => r.config.tasks);
  const out: SpacingComparison[] = [];
  for (const seed of [...new Set(multi.map((r) => r.config.seed))].sort((a, b) => a - b)) {
    const runs = multi
      .filter((r) => r.config.seed === seed)
      .sort((a, b) => b.config.checkpointEvery - a.config.checkpointEvery);
    if (runs.length < 2) continue;
    const [a, b] = runs;
    const bStep = new Map(b.metrics.map((m) => [m.step, m]));
    let identicalThrough: number | null = null;
    let firstDifferentStep: number | null = null;
    let maxLossRatio = 1;
    let maxTestAccPoints = 0;
    let common = 0;
    for (const ma of a.metrics) {
      const mb = bStep.get(ma.step);
      if (!mb) continue;
      common++;
      const same = JSON.stringify(ma) === JSON.stringify(mb);
      if (same && firstDifferentStep === null) identicalThrough = ma.step;
      if (!same && firstDifferentStep === null) firstDifferentStep = ma.step;
      maxLossRatio = Math.max(maxLossRatio, ma.loss / mb.loss, mb.loss / ma.loss);
      maxTestAccPoints = Math.max(maxTestAccPoints, 100 * Math.abs(ma.testAcc - mb.testAcc));
    }
    out.push({
      seed,
      spacings: [a.config.checkpointEvery, b.config.checkpointEvery],
      commits: [commitsOf(a), commitsOf(b)],
      commonSteps: common,
      identicalThrough,
      firstDifferentStep,
      maxLossRatio,
      maxTestAccPoints,
    });
  }
  return out;
}

/** The comparison in words, computed from the rows (no sentence here holds whatever the numbers are). */
export function spacingVerdict(rows: readonly SpacingComparison[]): string {
  if (rows.length === 0) return "No seed has runs at both spacings yet: nothing to compare.";
  const lines = rows.map((r) =>
    r.firstDifferentStep === null
      ? `- seed ${r.seed}: identical at all ${r.commonSteps} common steps (commits ${r.commits.join(" / ")}).`
      : `- seed ${r.seed}: ${r.identicalThrough === null ? `different from the first common step (${r.firstDifferentStep})` : `identical through step ${r.identicalThrough}, different from step ${r.firstDifferentStep}`} ` +
        `(train loss up to ${r.maxLossRatio.toFixed(2)}× apart, test accuracy up to ${r.maxTestAccPoints.toFixed(1)} points ` +
        `over ${r.commonSteps} common steps); c = ${r.spacings[0]} on ${r.commits[0]}, c = ${r.spacings[1]} on ${r.commits[1]}.`,
  );
  const differing = rows.filter((r) => r.firstDifferentStep !== null);
  const sameCode = differing.filter((r) => r.commits[0] === r.commits[1]);
  let head: string;
  if (differing.length === 0) {
    head = `**Both spacings trained the same trajectory** in all ${rows.length} seeds: the c = ${rows[0].spacings[1]} runs only stop sooner.`;
  } else if (sameCode.length === 0) {
    head =
      `**The two spacings' records are not the same trajectory in ${differing.length} of ${rows.length} seeds**, and in each ` +
      "the two runs were made by different code (commits below): the batches are the same, so float rounding that " +
      "changed between those commits is the likely cause, not the spacing. Compare the spacings' coupling with that in mind.";
  } else {
    head =
      `**The two spacings' records differ in ${differing.length} of ${rows.length} seeds, ${sameCode.length} of them made by ` +
      "the same code**: the spacing should not change training, so that is a bug to find.";
  }
  return [head, "", ...lines].join("\n");
}
