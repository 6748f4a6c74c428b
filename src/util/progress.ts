// Progress display for long work: a one-line bar in a terminal, a line every few seconds in logs.

/** Where a training run stands: what progress bars and notebook lines show. */
export interface Progress {
  step: number;
  maxSteps: number;
  loss: number;
  trainAcc: number;
  testAcc: number;
  grokStep: number | null;
  elapsedSeconds: number;
  /** Seconds to maxSteps at the current rate (an upper bound: runs stop early once they converge). */
  etaSeconds: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** One line describing training progress (shared by the terminal bar and the notebook line). */
export function progressLine(p: Progress, width = 24): string {
  const frac = Math.min(1, p.step / p.maxSteps);
  const filled = Math.round(frac * width);
  const bar = width > 0 ? `[${"#".repeat(filled)}${".".repeat(width - filled)}] ` : "";
  const grok = p.grokStep === null ? "" : ` grok@${p.grokStep}`;
  return (
    `${bar}step ${p.step}/${p.maxSteps} loss ${p.loss.toFixed(4)} train ${(100 * p.trainAcc).toFixed(1)}% ` +
    `test ${(100 * p.testAcc).toFixed(1)}%${grok} ${formatDuration(p.elapsedSeconds)} elapsed, ETA ≤${formatDuration(p.etaSeconds)}`
  );
}

/** A progress callback for a terminal: redraws one line on a TTY, prints a line every `everySeconds` otherwise. */
export function terminalProgress(
  stream: NodeJS.WriteStream = process.stderr,
  everySeconds = 10,
): ((p: Progress) => void) & { end(): void } {
  let last = 0;
  let drawn = false;
  const f = (p: Progress) => {
    const now = performance.now();
    if (stream.isTTY) {
      if (now - last < 200 && p.step < p.maxSteps) return;
      stream.write(`\r${progressLine(p).slice(0, (stream.columns ?? 120) - 1)}\x1b[K`);
      drawn = true;
    } else {
      if (now - last < everySeconds * 1000) return;
      stream.write(`${progressLine(p, 0)}\n`);
    }
    last = now;
  };
  f.end = () => {
    if (drawn) stream.write("\n");
  };
  return f;
}
