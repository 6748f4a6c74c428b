// A training run driven from a user interface (the browser explorer's Web Worker): start, pause, resume and
// stop, with what a live view draws as events — every eval, every SED measurement, progress with ms/step.
// The same loop and observers as `sedlab train` (runs/trainRun.ts is the Node runner); pausing keeps a
// checkpoint in memory, so a paused and resumed run ends with the record of an uninterrupted one.
// Portable: nothing here or below it imports a Node module.
import type { TrainConfig } from "../config/config";
import { runId } from "../records/ids";
import type { CouplingRecord } from "../records/results";
import type { MetricPoint, RunRecord } from "../records/schema";
import { memoryCheckpointStore } from "../train/memoryCheckpoint";
import type { TrainObserver } from "../train/observer";
import { TrainingInterrupted, train } from "../train/train";
import { observersFor } from "./observers";

export interface LiveProgress {
  step: number;
  maxSteps: number;
  loss: number;
  /** Median wall time of the last steps (evals and SED measurements are the outliers it leaves out). */
  msPerStep: number;
  /** Seconds to maxSteps at that rate: an upper bound, as runs stop once they converge. */
  etaSeconds: number;
  elapsedSeconds: number;
}

export type LiveEvent =
  | { type: "eval"; metric: MetricPoint }
  /** The SED observer's whole result so far, after each measurement. */
  | { type: "coupling"; coupling: CouplingRecord }
  | ({ type: "progress" } & LiveProgress)
  | { type: "paused"; step: number }
  | { type: "stopped"; step: number }
  | { type: "done"; record: RunRecord }
  | { type: "error"; message: string };

/** What the record says about the code that trained it (a browser build stamps its own commit). */
export interface LiveEnv {
  backend: string;
  /** The BLAS running the backend's matrix products, if any (never in a browser). */
  blas?: string | null;
  sedlabVersion: string;
  commit: string;
}

export type LiveState = "idle" | "running" | "paused" | "done" | "stopped" | "failed";

/** How many recent steps the ms/step median covers, and how often progress is sent (ms). */
const STEP_WINDOW = 50;
const PROGRESS_EVERY_MS = 100;

export class LiveSession {
  state: LiveState = "idle";
  readonly id: string;
  private controller: AbortController | undefined;
  private stopAsked = false;
  private readonly store = memoryCheckpointStore("memory (paused)");
  private stepMs: number[] = [];
  private lastStepAt: number | undefined;
  private lastSent = 0;
  private step = 0;

  constructor(
    readonly config: TrainConfig,
    private readonly env: LiveEnv,
    private readonly emit: (e: LiveEvent) => void,
  ) {
    this.id = runId(config);
  }

  /** Trains from the start, or from where `pause` left it, until the run ends, is paused or is stopped. */
  async run(): Promise<void> {
    if (this.state === "running") throw new Error("the run is already training");
    if (this.state === "done" || this.state === "stopped" || this.state === "failed")
      throw new Error(`the run has ${this.state === "failed" ? "failed" : "ended"}; start a new one`);
    this.state = "running";
    this.controller = new AbortController();
    this.lastStepAt = undefined;
    // Fresh observers each time, restored from the pause checkpoint, as a resumed `sedlab train` builds them.
    const base = observersFor(this.config);
    // Last, so it reads the SED observer's result after that observer has measured (at an eval and at the end).
    const observers = [...base, this.liveObserver(base.find((o) => o.name === "coupling"))];
    try {
      const record = await train(this.config, {
        env: {
          id: this.id,
          backend: this.env.backend,
          blas: this.env.blas ?? null,
          sedlabVersion: this.env.sedlabVersion,
          commit: () => this.env.commit,
        },
        observers,
        checkpoints: this.store,
        signal: this.controller.signal,
        onProgress: (p) => this.onProgress(p),
      });
      this.state = "done";
      this.emit({ type: "done", record });
    } catch (e) {
      if (e instanceof TrainingInterrupted) {
        if (this.stopAsked) {
          this.store.remove();
          this.state = "stopped";
          this.emit({ type: "stopped", step: e.step });
        } else {
          this.state = "paused";
          this.emit({ type: "paused", step: e.step });
        }
        return;
      }
      this.state = "failed";
      this.emit({ type: "error", message: (e as Error).message ?? String(e) });
    }
  }

  /** Asks the loop to stop after the current step, keeping a checkpoint; `run` again resumes. */
  pause(): void {
    if (this.state === "running") this.controller?.abort();
  }

  /** Ends the run for good (its progress is dropped). */
  stop(): void {
    if (this.state === "running") {
      this.stopAsked = true;
      this.controller?.abort();
    } else if (this.state === "paused" || this.state === "idle") {
      this.store.remove();
      this.state = "stopped";
      this.emit({ type: "stopped", step: this.step });
    }
  }

  /** Sends each eval, and the SED observer's result whenever it has measured again. */
  private liveObserver(sed: TrainObserver | undefined): TrainObserver {
    let measured = 0;
    const sendCoupling = () => {
      const c = sed?.result?.() as CouplingRecord | undefined;
      if (!c) return;
      const n = c.update.curve.length + c.gradient.curve.length;
      if (n === measured) return;
      measured = n;
      this.emit({ type: "coupling", coupling: c });
    };
    return {
      name: "live",
      onEval: (ctx) => {
        this.emit({ type: "eval", metric: ctx.metrics });
        sendCoupling();
      },
      finish: () => sendCoupling(),
    };
  }

  private onProgress(p: { step: number; maxSteps: number; loss: number; elapsedSeconds: number }): void {
    const now = performance.now();
    if (this.lastStepAt !== undefined) {
      this.stepMs.push(now - this.lastStepAt);
      if (this.stepMs.length > STEP_WINDOW) this.stepMs.shift();
    }
    this.lastStepAt = now;
    this.step = p.step;
    const last = p.step >= p.maxSteps;
    if (!last && now - this.lastSent < PROGRESS_EVERY_MS) return;
    this.lastSent = now;
    const ms = medianOf(this.stepMs);
    this.emit({
      type: "progress",
      step: p.step,
      maxSteps: p.maxSteps,
      loss: p.loss,
      msPerStep: ms,
      etaSeconds: ((p.maxSteps - p.step) * ms) / 1000,
      elapsedSeconds: p.elapsedSeconds,
    });
  }
}

function medianOf(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
