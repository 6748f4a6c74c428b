// Tables built from run records: plain rows in, a danfojs DataFrame out (notebooks display it).
import * as dfd from "danfojs-node";
import type { RunRecord } from "./records";

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
