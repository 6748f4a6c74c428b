// A sweep's status line and ETA, and its event lines: pure functions of plain data (the pool draws them).
import { formatDuration } from "../../util/progress";
import type { RunProgress } from "./worker";

/** A run a worker is on; no progress yet: starting. */
export interface RunningRun {
  id: string;
  progress?: RunProgress;
}

export interface SweepStatus {
  /** Label in front of the line. */
  name?: string;
  /** Runs in the sweep, done or not. */
  total: number;
  /** Runs with a record (skipped or trained). */
  done: number;
  failed: number;
  running: readonly RunningRun[];
  /** Runs not yet handed to a worker. */
  pending: number;
  /** The most workers the sweep runs at once. */
  jobs: number;
  elapsedSeconds: number;
  /** Wall seconds of the runs trained so far in this sweep. */
  durations: readonly number[];
}

const BAR_WIDTH = 20;

/** `name [#####...] 3/8 runs done, 1 failed; running add_… 120/150, sub_… starting; 1m05s elapsed, ETA ~2m10s`. */
export function statusLine(s: SweepStatus): string {
  const filled = Math.round((s.done / s.total) * BAR_WIDTH);
  const run = s.running
    .map((r) => `${r.id} ${r.progress ? `${r.progress.step}/${r.progress.maxSteps}` : "starting"}`)
    .join(", ");
  return (
    `${s.name ? `${s.name} ` : ""}[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ` +
    `${s.done}/${s.total} runs done${s.failed ? `, ${s.failed} failed` : ""}` +
    `${s.running.length ? `; running ${run}` : ""}; ${formatDuration(s.elapsedSeconds)} elapsed, ETA ${sweepEta(s)}`
  );
}

/**
 * Time left, spread over the workers: `~…` from the completed runs' mean duration once there are some, before
 * that `≤…` from the running runs' own estimates (upper bounds: a run may grok and stop early); `?`: no
 * estimate yet.
 */
export function sweepEta(s: Pick<SweepStatus, "running" | "pending" | "jobs" | "durations">): string {
  const workers = Math.max(1, Math.min(s.jobs, s.running.length + s.pending));
  if (s.durations.length > 0) {
    const avg = s.durations.reduce((a, b) => a + b, 0) / s.durations.length;
    const left = s.running.reduce((t, r) => t + Math.max(0, avg - (r.progress?.elapsedSeconds ?? 0)), 0);
    return `~${formatDuration((left + s.pending * avg) / workers)}`;
  }
  const known = s.running.filter((r) => r.progress && Number.isFinite(r.progress.etaSeconds));
  if (known.length === 0) return "?";
  const total = known.map((r) => (r.progress?.elapsedSeconds ?? 0) + (r.progress?.etaSeconds ?? 0));
  const avg = total.reduce((a, b) => a + b, 0) / total.length;
  const left = known.reduce((t, r) => t + (r.progress?.etaSeconds ?? 0), 0);
  return `≤${formatDuration((left + (s.running.length - known.length + s.pending) * avg) / workers)}`;
}

/** The event line of a trained run: `done   add_…: grok@450, 600 steps, test 99.1%, 2m03s [3/8]`. */
export function doneLine(
  m: { id: string; grokStep: number | null; steps: number; testAcc: number; wallSeconds: number },
  done: number,
  total: number,
): string {
  const g = m.grokStep === null ? "no grok" : `grok@${m.grokStep}`;
  return (
    `done   ${m.id}: ${g}, ${m.steps} steps, test ${(100 * m.testAcc).toFixed(1)}%, ` +
    `${formatDuration(m.wallSeconds)} [${done}/${total}]`
  );
}
