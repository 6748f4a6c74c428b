// The worker side of a sweep: the IPC protocol between `sedlab sweep` and its `sedlab _worker` children, and the
// hidden `_worker` command, which trains the runs its parent sends one at a time.
import type { TrainConfig } from "../../config/config";
import { TrainingInterrupted } from "../../train/train";
import type { Progress } from "../../util/progress";
import { initBackend } from "../backend";
import { trainRun } from "../trainRun";

/** Progress of a worker's current run, as the status line shows it. */
export interface RunProgress {
  step: number;
  maxSteps: number;
  elapsedSeconds: number;
  etaSeconds: number;
}

export type ToWorker = { type: "run"; id: string; config: TrainConfig; recordDir: string } | { type: "stop" };
export type FromWorker =
  | { type: "ready" }
  | ({ type: "progress"; id: string } & RunProgress)
  | { type: "done"; id: string; wallSeconds: number; steps: number; grokStep: number | null; testAcc: number }
  | { type: "interrupted"; id: string; step: number }
  | { type: "failed"; id: string; error: string }
  /** Something the run says on the way (a resume across commits, an invalid record moved aside). */
  | { type: "warning"; id: string; message: string };

/**
 * The hidden `sedlab _worker` command: trains the runs its parent sends, one at a time, reporting progress.
 * A stop message, SIGINT/SIGTERM or losing the parent aborts the current run (which saves a checkpoint).
 */
export async function sweepWorker(): Promise<number> {
  const send = process.send?.bind(process);
  if (!send) {
    console.error("sedlab _worker is internal: `sedlab sweep` starts it");
    return 2;
  }
  // Listeners go up before the (slow) backend start so an early stop message is not lost.
  const backend = initBackend();
  let controller: AbortController | undefined;
  let stopping = false;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    finish = r;
  });
  const post = (m: FromWorker) =>
    new Promise<void>((r) => {
      if (!process.connected) return r();
      send(m, undefined, {}, () => r());
    });
  const stop = () => {
    stopping = true;
    if (controller) controller.abort();
    else finish(0);
  };
  let signals = 0;
  const onSignal = () => {
    // A second Ctrl-C quits at once, as `sedlab train` does (the last periodic checkpoint remains).
    if (++signals > 1) process.exit(130);
    stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("disconnect", stop);
  process.on("message", async (m: ToWorker) => {
    if (m.type === "stop") return stop();
    if (m.type !== "run" || controller) return;
    if (stopping) {
      await post({ type: "interrupted", id: m.id, step: 0 });
      return;
    }
    controller = new AbortController();
    await backend;
    let last = 0;
    const onProgress = (p: Progress) => {
      const now = performance.now();
      if (now - last < 500 && p.step < p.maxSteps) return;
      last = now;
      const { step, maxSteps, elapsedSeconds, etaSeconds } = p;
      void post({ type: "progress", id: m.id, step, maxSteps, elapsedSeconds, etaSeconds });
    };
    try {
      const warn = (message: string) => void post({ type: "warning", id: m.id, message });
      const rec = await trainRun(m.config, {
        signal: controller.signal,
        onProgress,
        recordDir: m.recordDir,
        warn,
      });
      await post({
        type: "done",
        id: m.id,
        wallSeconds: rec.wallSeconds,
        steps: rec.steps,
        grokStep: rec.grokStep,
        testAcc: rec.final.testAcc,
      });
    } catch (e) {
      if (e instanceof TrainingInterrupted) await post({ type: "interrupted", id: m.id, step: e.step });
      else await post({ type: "failed", id: m.id, error: (e as Error)?.message ?? String(e) });
    } finally {
      controller = undefined;
    }
    if (stopping) finish(130);
  });
  await backend;
  if (!stopping) await post({ type: "ready" });
  const code = await done;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  if (process.connected) process.disconnect();
  return code;
}
