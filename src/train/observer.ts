// The observer contract: what the training loop offers whoever watches it (SED windows, interventions, tests).
// It lives apart from the loop, as tfjs-layers keeps its callbacks in base_callbacks.ts, so that observers and
// the loop both import it and neither imports the other; which observers a run gets is decided above the loop.
import type { TrainConfig } from "../config/config";
import type { Dataset } from "../data/tasks";
import type { Layout } from "../model/params";
import type { MetricPoint } from "../records/schema";
import type { StepHooks } from "./optim";

export type { Progress } from "../util/progress";

export interface StepContext {
  step: number;
  layout: Layout;
  /** Parameters after this step's update (live: copy what you keep). */
  theta: Float32Array;
  loss: number;
}

export interface EvalContext extends StepContext {
  metrics: MetricPoint;
}

/** Observers watch training (SED windows, diagnostics); they never change it except through `hooks`. */
export interface TrainObserver {
  /** Key of this observer's state in checkpoints and of its result in the run record. */
  name: string;
  /** Called once before the first step with the run's setup (also on resume, before `restore`). */
  setup?(ctx: { config: TrainConfig; layout: Layout; dataset: Dataset }): void;
  hooks?: StepHooks;
  onStep?(ctx: StepContext): void;
  onEval?(ctx: EvalContext): void;
  /** Called once after the last step. */
  finish?(ctx: StepContext): void;
  state?(): ObserverState;
  restore?(s: { json?: unknown; arrays: Record<string, Float32Array> }): void;
  /** What lands in `record[name]` (records/results.ts types the built-in observers' results). */
  result?(): unknown;
  /** Frees what `setup` allocated (tensors); called once when training ends, however it ends. */
  dispose?(): void;
}

export interface ObserverState {
  json?: unknown;
  arrays?: Record<string, Float32Array>;
}

/** One set of step hooks that calls every observer's hooks in order (undefined when none has any). */
export function mergeHooks(observers: readonly TrainObserver[]): StepHooks | undefined {
  const onGrad = observers.flatMap((o) => (o.hooks?.onGrad ? [o.hooks.onGrad] : []));
  const onUpdate = observers.flatMap((o) => (o.hooks?.onUpdate ? [o.hooks.onUpdate] : []));
  if (onGrad.length === 0 && onUpdate.length === 0) return undefined;
  return {
    onGrad: onGrad.length
      ? (c) => {
          for (const f of onGrad) f(c);
        }
      : undefined,
    onUpdate: onUpdate.length
      ? (c) => {
          for (const f of onUpdate) f(c);
        }
      : undefined,
  };
}
