// What a checkpoint holds and how a run resumes from one (pure: the file format and its I/O live in
// runs/checkpointFile.ts, handed to the loop as a CheckpointStore).
import { canonicalJson, type TrainConfig } from "../config/config";
import type { MetricPoint, Segment } from "../records/schema";
import { Rng, type RngState } from "../util/rng";
import type { TrainObserver } from "./observer";
import type { AdamWState } from "./optim";

export interface Checkpoint {
  /** JSON-serialisable state (step, RNG state, metrics, config, …). */
  header: Record<string, unknown>;
  /** Named float arrays (parameters, optimizer moments, observer buffers). */
  arrays: Record<string, Float32Array>;
}

/** Where one run's checkpoint is kept. `where` names it in messages (a file path). */
export interface CheckpointStore {
  where: string;
  load(): Checkpoint | undefined;
  save(ck: Checkpoint): void;
  remove(): void;
}

/** Everything the loop needs to continue a run exactly where it stopped. */
export interface LoopState {
  step: number;
  theta: Float32Array;
  opt: AdamWState;
  batchRng: Rng;
  metrics: MetricPoint[];
  /** Wall time of the earlier segments. */
  priorSeconds: number;
  segments: Segment[];
}

export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingError";
  }
}

/** The checkpoint of `state` (plus every observer's own state, under `obs.<name>.`). */
export function checkpointOf(
  id: string,
  config: TrainConfig,
  state: LoopState,
  wallSeconds: number,
  observers: readonly TrainObserver[],
): Checkpoint {
  const obsJson: Record<string, unknown> = {};
  const arrays: Record<string, Float32Array> = { theta: state.theta, m: state.opt.m, v: state.opt.v };
  for (const o of observers) {
    const s = o.state?.();
    if (!s) continue;
    obsJson[o.name] = s.json;
    for (const [k, v] of Object.entries(s.arrays ?? {})) arrays[`obs.${o.name}.${k}`] = v;
  }
  const header: Record<string, unknown> = {
    id,
    config,
    step: state.step,
    adamStep: state.opt.step,
    batchRng: state.batchRng.state(),
    metrics: state.metrics,
    wallSeconds,
    observers: obsJson,
    segments: state.segments,
  };
  return { header, arrays };
}

/**
 * The loop state saved in `ck`, with every observer restored. `now` is the code and backend resuming it: when
 * they differ from the checkpoint's last segment, a new segment starts here and `warn` says which changed.
 */
export function resumeFrom(
  ck: Checkpoint,
  where: string,
  config: TrainConfig,
  observers: readonly TrainObserver[],
  now: Omit<Segment, "fromStep">,
  warn: (msg: string) => void,
): LoopState {
  const h = ck.header;
  if (canonicalJson(h.config) !== canonicalJson(config)) {
    throw new TrainingError(`checkpoint ${where} belongs to a different config; delete it to start afresh`);
  }
  const step = h.step as number;
  const obsState = (h.observers ?? {}) as Record<string, unknown>;
  for (const o of observers) {
    const prefix = `obs.${o.name}.`;
    const arrays = Object.fromEntries(
      Object.entries(ck.arrays)
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, v]) => [k.slice(prefix.length), v]),
    );
    o.restore?.({ json: obsState[o.name], arrays });
  }
  // Checkpoints written before segments were recorded say nothing of the code that made them.
  const segments: Segment[] = Array.isArray(h.segments)
    ? [...(h.segments as Segment[])]
    : [{ fromStep: 0, commit: "unknown (checkpoint predates segment records)", backend: "unknown" }];
  const last = segments[segments.length - 1];
  if (last.commit !== now.commit || last.backend !== now.backend) {
    warn(
      `resuming ${h.id} at step ${step} with commit ${now.commit} on ${now.backend}; its checkpoint was written by ` +
        `commit ${last.commit} on ${last.backend}. The record will list both segments (float rounding may differ).`,
    );
    segments.push({ fromStep: step, ...now });
  }
  return {
    step,
    theta: ck.arrays.theta,
    opt: { step: h.adamStep as number, m: ck.arrays.m, v: ck.arrays.v },
    batchRng: Rng.fromState(h.batchRng as RngState),
    metrics: h.metrics as MetricPoint[],
    priorSeconds: h.wallSeconds as number,
    segments,
  };
}
