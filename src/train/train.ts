// The training loop, top to bottom: config → data → steps (observers watch) → evals → run record. It runs
// anywhere tfjs does: the caller hands it the observers, where checkpoints go and which code is running
// (runs/trainRun.ts does that for Node: files, git, the chosen backend).
import { type TrainConfig, validateConfig } from "../config/config";
import { makeDataset, makeMultitaskDataset } from "../data/tasks";
import { disposeEngineBatch, engineBatch, engineLossAndGrad } from "../model/engine";
import { initTheta, makeLayout } from "../model/params";
import {
  computePathOf,
  grokStepOf,
  type MetricPoint,
  RECORD_SCHEMA,
  RECORD_VERSION,
  type RunRecord,
  type Segment,
  taskGrokStepOf,
} from "../records/schema";
import type { Progress } from "../util/progress";
import { Rng } from "../util/rng";
import { optimBuffers } from "./adamwKernel";
import { type CheckpointStore, checkpointOf, type LoopState, resumeFrom, TrainingError } from "./checkpoint";
import { makeEvaluator } from "./evaluate";
import { mergeHooks, type StepContext, type TrainObserver } from "./observer";
import { adamwStep, newAdamWState } from "./optim";

export { TrainingError } from "./checkpoint";

/** Which run this is and which code trains it: stamped on checkpoints (segments) and the record. */
export interface RunEnv {
  id: string;
  /** The tfjs backend ("wasm", "cpu", …): the record's `backend`. */
  backend: string;
  /** The BLAS running wasm's matrix products (the record's `blas`; segments name both), if any. */
  blas?: string | null;
  sedlabVersion: string;
  /** The code's commit, asked when a segment starts and when the record is written. */
  commit(): string;
}

export interface TrainOptions {
  env: RunEnv;
  /** Who watches the run; the caller decides (runs/observers.ts picks them from the config). */
  observers?: readonly TrainObserver[];
  onProgress?: (p: Progress) => void;
  /** Aborting saves a checkpoint (when enabled) and rejects with TrainingInterrupted. */
  signal?: AbortSignal;
  /** This run's checkpoint; null: none (an interrupted run's progress is lost). */
  checkpoints?: CheckpointStore | null;
  /** Stop (as if interrupted, after checkpointing) once this step is reached; for tests of resumption. */
  stopAtStep?: number;
  /** Where warnings go (a resume across commits or backends); default stderr. */
  warn?: (msg: string) => void;
  /** Keeps the finished record (runs/trainRun.ts writes it to data/runs); called before the checkpoint goes. */
  saveRecord?: (r: RunRecord) => void;
}

export class TrainingInterrupted extends Error {
  constructor(
    readonly step: number,
    readonly checkpoint: string | null,
  ) {
    super(
      checkpoint
        ? `training interrupted at step ${step}; checkpoint saved at ${checkpoint} (rerun the same command to resume)`
        : `training interrupted at step ${step} (checkpoints disabled: progress is lost)`,
    );
    this.name = "TrainingInterrupted";
  }
}

/**
 * Train one run and return its record. Resumes from the checkpoint in `opts.checkpoints` when there is one;
 * the resumed run ends with the same record as an uninterrupted one (on the same code and backend).
 */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<RunRecord> {
  const { env } = opts;
  const tasks = validateConfig(config);
  // A multitask run (config.tasks) is the same loop with one head and one label set per task.
  const multi = config.tasks !== undefined;
  const taskNames = multi ? (config.tasks as string[]) : [tasks[0].name];
  const dataset = multi
    ? makeMultitaskDataset(tasks, config.frac, config.seed)
    : makeDataset(tasks[0], config.frac, config.seed);
  const { p, d, nHeads, dff, layers } = config;
  const layout = makeLayout({ p, d, nHeads, dff, layers }, config.tasks);
  const observers = opts.observers ?? [];
  const store = opts.checkpoints ?? null;
  const segmentNow = (): Omit<Segment, "fromStep"> => ({
    commit: env.commit(),
    backend: computePathOf(env.backend, env.blas),
    sedlabVersion: env.sedlabVersion,
  });

  for (const o of observers) o.setup?.({ config, layout, dataset });
  const ck = store?.load();
  // Independent streams, so e.g. changing the batch size does not change the initial weights.
  const root = new Rng(config.seed);
  const s: LoopState = ck
    ? resumeFrom(ck, store?.where ?? "", config, observers, segmentNow(), opts.warn ?? console.warn)
    : {
        step: 0,
        theta: initTheta(layout, root.fork("init"), config.copyLayerInit),
        opt: newAdamWState(layout.size),
        batchRng: root.fork("batch"),
        metrics: [],
        priorSeconds: 0,
        segments: [{ fromStep: 0, ...segmentNow() }],
      };
  const startStep = s.step;
  const started = performance.now();
  const elapsed = () => s.priorSeconds + (performance.now() - started) / 1000;

  // Convergence: every task at test accuracy ≥ 0.98 for stopAfterEvals evals (not necessarily in a row).
  const evals98 = taskNames.map(() => 0);
  const count98 = (m: MetricPoint) =>
    taskNames.forEach((t, i) => {
      if ((multi ? (m.tasks?.[t]?.testAcc ?? 0) : m.testAcc) >= 0.98) evals98[i]++;
    });
  const converged = () => evals98.every((n) => n >= config.stopAfterEvals);
  for (const m of s.metrics) count98(m);

  // θ, its gradient and AdamW's moments in one WebAssembly memory, where AdamW's update runs as a SIMD kernel.
  const buffers = optimBuffers(layout.size);
  buffers.theta.set(s.theta);
  buffers.m.set(s.opt.m);
  buffers.v.set(s.opt.v);
  s.theta = buffers.theta;
  s.opt = { ...s.opt, m: buffers.m, v: buffers.v };
  const grad = buffers.grad;
  const evaluator = makeEvaluator(dataset, layout, config.p, taskNames, multi);
  const nTrain = dataset.trainA.length;
  const ba = new Int32Array(config.batch);
  const bb = new Int32Array(config.batch);
  const bys = dataset.trainYs.map(() => new Int32Array(config.batch));
  const hooks = mergeHooks(observers);
  let lastLoss = Number.NaN;
  const saveCheckpoint = () => store?.save(checkpointOf(env.id, config, s, elapsed(), observers));
  const evalNow = (ctx: StepContext) => {
    const m = evaluator.metricsAt(s.step, s.theta);
    s.metrics.push(m);
    count98(m);
    for (const o of observers) o.onEval?.({ ...ctx, metrics: m });
  };

  let stopReason: RunRecord["stopReason"] = "maxSteps";
  try {
    if (s.step === 0) evalNow({ step: 0, layout, theta: s.theta, loss: Number.NaN });
    if (converged()) stopReason = "converged";
    while (stopReason !== "converged" && s.step < config.maxSteps) {
      // Batch: indices drawn with replacement from the train split.
      for (let i = 0; i < config.batch; i++) {
        const j = s.batchRng.int(nTrain);
        ba[i] = dataset.trainA[j];
        bb[i] = dataset.trainB[j];
        for (let t = 0; t < bys.length; t++) bys[t][i] = dataset.trainYs[t][j];
      }
      // Forward, backward, AdamW (observers' hooks may project the gradient or the update).
      const bt = engineBatch(ba, bb, bys, config.p);
      try {
        lastLoss = engineLossAndGrad(layout, s.theta, bt, grad);
      } finally {
        disposeEngineBatch(bt);
      }
      if (!Number.isFinite(lastLoss)) {
        throw new TrainingError(
          `training loss is ${lastLoss} at step ${s.step + 1} (lr ${config.lr}); the run diverged — lower the learning rate or check the config`,
        );
      }
      adamwStep(s.theta, grad, s.opt, config, layout, hooks);
      s.step += 1;
      const ctx: StepContext = { step: s.step, layout, theta: s.theta, loss: lastLoss };
      for (const o of observers) o.onStep?.(ctx);
      // Eval (every checkpointEvery steps and at the end), then the stop rule.
      if (s.step % config.checkpointEvery === 0 || s.step === config.maxSteps) {
        evalNow(ctx);
        if (converged()) stopReason = "converged";
      }
      // Checkpoint, progress, interruption.
      if (config.saveEvery > 0 && s.step % config.saveEvery === 0) saveCheckpoint();
      opts.onProgress?.(progressOf(s, config.maxSteps, lastLoss, elapsed(), startStep, started));
      if (opts.signal?.aborted || s.step === opts.stopAtStep) {
        saveCheckpoint();
        throw new TrainingInterrupted(s.step, store?.where ?? null);
      }
      // Let signal handlers and notebook display messages run.
      if (s.step % 5 === 0) await yieldToEventLoop();
    }
    for (const o of observers) o.finish?.({ step: s.step, layout, theta: s.theta, loss: lastLoss });
  } finally {
    evaluator.dispose();
    for (const o of observers) o.dispose?.();
  }

  const record = buildRecord(config, env, s, stopReason, elapsed(), taskNames, multi);
  for (const o of observers) {
    const r = o.result?.();
    if (r !== undefined) record[o.name] = r;
  }
  opts.saveRecord?.(record);
  store?.remove();
  return record;
}

/** The browser's MessageChannel, typed here: the notebook kernel compiles src/ without the DOM's types. */
interface Channel {
  port1: { onmessage: (() => void) | null; close(): void };
  port2: { postMessage(m: null): void };
}
const MessageChannelApi = (globalThis as unknown as { MessageChannel?: new () => Channel }).MessageChannel;

/**
 * Lets queued events run: setImmediate in Node; in a browser (a Web Worker) a MessageChannel message, which
 * unlike setTimeout(0) is not clamped to 4 ms.
 */
function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === "function") return new Promise((r) => setImmediate(r));
  if (!MessageChannelApi) return new Promise((r) => setTimeout(r, 0));
  const ch = new MessageChannelApi();
  return new Promise((r) => {
    ch.port1.onmessage = () => {
      ch.port1.close();
      r();
    };
    ch.port2.postMessage(null);
  });
}

function progressOf(
  s: LoopState,
  maxSteps: number,
  loss: number,
  elapsedSeconds: number,
  startStep: number,
  started: number,
): Progress {
  const last = s.metrics[s.metrics.length - 1];
  const secs = (performance.now() - started) / 1000;
  const done = s.step - startStep;
  return {
    step: s.step,
    maxSteps,
    loss,
    trainAcc: last?.trainAcc ?? 0,
    testAcc: last?.testAcc ?? 0,
    grokStep: grokStepOf(s.metrics),
    elapsedSeconds,
    etaSeconds: done > 0 ? ((maxSteps - s.step) * secs) / done : Number.NaN,
  };
}

/** The run record of a finished loop (observers' results are added by the caller of this). */
function buildRecord(
  config: TrainConfig,
  env: RunEnv,
  s: LoopState,
  stopReason: RunRecord["stopReason"],
  wallSeconds: number,
  taskNames: readonly string[],
  multi: boolean,
): RunRecord {
  const record: RunRecord = {
    schema: RECORD_SCHEMA,
    schemaVersion: RECORD_VERSION,
    id: env.id,
    config,
    task: taskNames.join("+"),
    backend: env.backend,
    ...(env.blas ? { blas: env.blas } : {}),
    sedlabVersion: env.sedlabVersion,
    commit: env.commit(),
    date: new Date().toISOString(),
    wallSeconds: Math.round(wallSeconds * 10) / 10,
    steps: s.step,
    stopReason,
    metrics: s.metrics,
    grokStep: grokStepOf(s.metrics),
    firstTest98Step: grokStepOf(s.metrics, 0.98),
    final: s.metrics[s.metrics.length - 1],
  };
  if (multi) {
    record.grokSteps = Object.fromEntries(taskNames.map((t) => [t, taskGrokStepOf(s.metrics, t)]));
    record.firstTest98Steps = Object.fromEntries(
      taskNames.map((t) => [t, taskGrokStepOf(s.metrics, t, 0.98)]),
    );
  }
  record.segments = s.segments;
  return record;
}
