// Run times as the records state them (wallSeconds: every segment's wall time, added), never as constants.
import type { RunRecord } from "../records/schema";
import { median } from "./sed";

export interface RunTimeSummary {
  n: number;
  medianMinutes: number;
  minMinutes: number;
  maxMinutes: number;
}

/** Median and range of the runs' wall times, in minutes (null for no runs). */
export function runTimeSummary(records: readonly RunRecord[]): RunTimeSummary | null {
  if (records.length === 0) return null;
  const m = records.map((r) => r.wallSeconds / 60);
  return { n: m.length, medianMinutes: median(m), minMinutes: Math.min(...m), maxMinutes: Math.max(...m) };
}

/** E.g. "median 31 min (27–48 min over 3 runs, one core each)"; "no runs yet" when there are none. */
export function runTimeText(records: readonly RunRecord[]): string {
  const s = runTimeSummary(records);
  if (!s) return "no runs to time yet";
  const f = (x: number) => (x < 10 ? x.toFixed(1) : x.toFixed(0));
  if (s.n === 1) return `${f(s.medianMinutes)} min (1 run)`;
  return `median ${f(s.medianMinutes)} min (${f(s.minMinutes)}–${f(s.maxMinutes)} min over ${s.n} runs)`;
}
