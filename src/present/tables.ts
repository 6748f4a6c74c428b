// Tables built from run records: plain rows in, a danfojs DataFrame out (notebooks display it).
import * as dfd from "danfojs-node";
import { PAPER } from "../analysis/paper";
import { byOp, formatMeanSd, meanSd, type PeakRow } from "../analysis/sed";
import type { RunRecord } from "../records/schema";

export interface RunSummaryRow {
  run: string;
  task: string;
  p: number;
  frac: number;
  seed: number;
  preset: string;
  backend: string;
  grokStep: number | null;
  firstTest98Step: number | null;
  steps: number;
  finalTestAcc: number;
  wallSeconds: number;
  date: string;
}

export function runSummaryRows(records: RunRecord[]): RunSummaryRow[] {
  return records.map((r) => ({
    run: r.id,
    task: r.task,
    p: r.config.p,
    frac: r.config.frac,
    seed: r.config.seed,
    preset: r.config.preset,
    backend: r.backend,
    grokStep: r.grokStep,
    firstTest98Step: r.firstTest98Step,
    steps: r.steps,
    finalTestAcc: r.final.testAcc,
    wallSeconds: r.wallSeconds,
    date: r.date.slice(0, 10),
  }));
}

/** The run summary as a DataFrame (missing values, e.g. a run that never grokked, shown as "—"). */
export function runSummary(records: RunRecord[]): dfd.DataFrame {
  const rows = runSummaryRows(records).map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? "—" : v])),
  );
  return new dfd.DataFrame(rows);
}

const fmt = (x: number | null, digits = 1) => (x === null || !Number.isFinite(x) ? "—" : x.toFixed(digits));

/** Per run: peak and final R̄ of update- and gradient-SED. */
export function couplingTable(rows: PeakRow[]): dfd.DataFrame {
  return new dfd.DataFrame(
    rows.map((r) => ({
      op: r.op,
      seed: r.seed,
      "grok step": r.grokStep ?? "—",
      "update R̄ peak": fmt(r.updatePeak),
      "update R̄ final": fmt(r.updateFinal),
      "gradient R̄ peak": fmt(r.gradientPeak),
      "gradient R̄ final": fmt(r.gradientFinal),
      "gradient / update (peaks)": fmt(r.gain),
    })),
  );
}

/** Per op: mean ± sd over seeds of the R̄ peaks, beside the paper's numbers. */
export function couplingSummary(rows: PeakRow[]): dfd.DataFrame {
  const out: Record<string, string | number>[] = [];
  for (const [op, rs] of byOp(rows)) {
    const perSeed = PAPER.gradientPeakPerSeed[op];
    out.push({
      op,
      seeds: rs.length,
      "update R̄ peak (ours)": formatMeanSd(meanSd(rs.map((r) => r.updatePeak))),
      "update R̄ peak (paper)": PAPER.updatePeakText[op] ?? "—",
      "gradient R̄ peak (ours)": formatMeanSd(meanSd(rs.map((r) => r.gradientPeak)), 0),
      "gradient R̄ peak (paper)": perSeed
        ? `${Object.values(perSeed).join(", ")} (seeds ${Object.keys(perSeed).join(", ")})`
        : `within ${PAPER.gradientPeakRange[0]}–${PAPER.gradientPeakRange[1]}`,
      "grok step (ours)": formatMeanSd(meanSd(rs.map((r) => r.grokStep)), 0),
    });
  }
  return new dfd.DataFrame(out);
}
