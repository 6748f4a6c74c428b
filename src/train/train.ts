// The training loop, top to bottom: config → data → steps (observers watch) → evals → run record.
import * as tf from "@tensorflow/tfjs";
import { canonicalJson, type TrainConfig, validateConfig } from "../config/config";
import { type Dataset, makeDataset, makeMultitaskDataset } from "../data/tasks";
import { interventionObserver } from "../intervention/intervention";
import {
  disposeEngineBatch,
  disposeWeights,
  type EngineBatch,
  type EngineWeights,
  engineBatch,
  engineLogitsHeads,
  engineLossAndGrad,
  engineWeights,
} from "../model/engine";
import { initTheta, type Layout, makeLayout } from "../model/params";
import {
  type MetricPoint,
  RECORD_SCHEMA,
  RECORD_VERSION,
  type RunRecord,
  runId,
  saveRecord,
} from "../records/records";
import { initBackend } from "../runs/backend";
import { checkpointPath, loadCheckpoint, removeCheckpoint, saveCheckpoint } from "../runs/checkpointFile";
import { multitaskSedObserver } from "../sed/multitaskObserver";
import { sedObserver } from "../sed/observer";
import { checkpointsDir, packageVersion } from "../util/paths";
import { gitCommit } from "../util/provenance";
import { Rng, type RngState } from "../util/rng";
import { adamwStep, newAdamWState, type StepHooks } from "./optim";

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
  state?(): { json?: unknown; arrays?: Record<string, Float32Array> };
  restore?(s: { json?: unknown; arrays: Record<string, Float32Array> }): void;
  result?(): unknown;
  /** Frees what `setup` allocated (tensors); called once when training ends, however it ends. */
  dispose?(): void;
}

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

export interface TrainOptions {
  observers?: TrainObserver[];
  onProgress?: (p: Progress) => void;
  /** Aborting saves a checkpoint (when enabled) and rejects with TrainingInterrupted. */
  signal?: AbortSignal;
  /** Folder for resumable checkpoints; null disables them. Default: checkpoints/. */
  checkpointDir?: string | null;
  /** Folder to save the run record in; null: do not save. Default: data/runs. */
  recordDir?: string | null;
  /** Stop (as if interrupted, after checkpointing) once this step is reached; for tests of resumption. */
  stopAtStep?: number;
}

export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingError";
  }
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

/** Eval inputs for one split, in chunks, built once per run; `ys`: each head's labels. */
interface EvalSet {
  chunks: { bt: EngineBatch; ys: Int32Array[] }[];
  n: number;
}

const EVAL_CHUNK = 2048;

function makeEvalSet(a: Int32Array, b: Int32Array, ys: Int32Array[], p: number): EvalSet {
  const chunks: EvalSet["chunks"] = [];
  for (let s = 0; s < a.length; s += EVAL_CHUNK) {
    const e = Math.min(s + EVAL_CHUNK, a.length);
    const yc = ys.map((y) => y.slice(s, e));
    chunks.push({
      bt: engineBatch(a.slice(s, e), b.slice(s, e), yc, p, { withGradInputs: false }),
      ys: yc,
    });
  }
  return { chunks, n: a.length };
}

/** Accuracy and mean cross-entropy of each head on a split (forward only, no tape). */
function evaluate(w: EngineWeights, layout: Layout, set: EvalSet): { acc: number; loss: number }[] {
  const nH = layout.heads.length;
  const correct = new Array<number>(nH).fill(0);
  const lossSum = new Array<number>(nH).fill(0);
  for (const { bt, ys } of set.chunks) {
    // Tensors out of the tidy, read after it (tidy would walk a returned typed array element by element).
    const out = tf.tidy(() =>
      engineLogitsHeads(w, layout, bt).map((logits, h) => ({
        pred: tf.argMax(logits, 1),
        nll: tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), bt.yOneHots[h]))),
      })),
    );
    out.forEach(({ pred, nll }, h) => {
      const p = pred.dataSync();
      const y = ys[h];
      for (let i = 0; i < y.length; i++) if (p[i] === y[i]) correct[h]++;
      lossSum[h] += nll.dataSync()[0];
    });
    tf.dispose(out.flatMap((o) => [o.pred, o.nll]));
  }
  return correct.map((c, h) => ({ acc: c / set.n, loss: lossSum[h] / set.n }));
}

export function grokStepOf(metrics: MetricPoint[], threshold = 0.5): number | null {
  return metrics.find((m) => m.testAcc >= threshold)?.step ?? null;
}

/** A multitask run's grok step of one task (its first eval with test accuracy ≥ threshold). */
export function taskGrokStepOf(metrics: MetricPoint[], task: string, threshold = 0.5): number | null {
  return metrics.find((m) => (m.tasks?.[task]?.testAcc ?? -1) >= threshold)?.step ?? null;
}

/**
 * Train one run and return its record (also saved unless `recordDir` is null). Resumes from a checkpoint of
 * the same config when one exists; the resumed run ends with the same record as an uninterrupted one.
 */
export async function train(config: TrainConfig, opts: TrainOptions = {}): Promise<RunRecord> {
  const backend = await initBackend();
  const tasks = validateConfig(config);
  const id = runId(config);
  // A multitask run (config.tasks) is the same loop with one head and one label set per task.
  const multi = config.tasks !== undefined;
  const dataset = multi
    ? makeMultitaskDataset(tasks, config.frac, config.seed)
    : makeDataset(tasks[0], config.frac, config.seed);
  const layout = makeLayout(
    {
      p: config.p,
      d: config.d,
      nHeads: config.nHeads,
      dff: config.dff,
      layers: config.layers,
    },
    config.tasks,
  );
  const taskNames = multi ? (config.tasks as string[]) : [tasks[0].name];
  // The config decides the diagnostics, so a record always says what was measured.
  const observers = [
    ...(config.sed ? [multi ? multitaskSedObserver() : sedObserver()] : []),
    ...(config.intervention ? [interventionObserver()] : []),
    ...(opts.observers ?? []),
  ];
  const ckDir = opts.checkpointDir === undefined ? checkpointsDir() : opts.checkpointDir;
  const ckPath = ckDir ? checkpointPath(ckDir, id) : null;

  // Independent streams, so e.g. changing the batch size does not change the initial weights.
  const root = new Rng(config.seed);
  let theta = initTheta(layout, root.fork("init"), config.copyLayerInit);
  let batchRng = root.fork("batch");
  let opt = newAdamWState(layout.size);
  let metrics: MetricPoint[] = [];
  let step = 0;
  let priorSeconds = 0;
  /** Per task: evals with test accuracy ≥ 0.98 so far. */
  let evals98 = taskNames.map(() => 0);
  const taskTestAcc = (m: MetricPoint, t: number) =>
    multi ? (m.tasks?.[taskNames[t]]?.testAcc ?? 0) : m.testAcc;
  const count98 = (m: MetricPoint) => {
    evals98 = evals98.map((n, t) => n + (taskTestAcc(m, t) >= 0.98 ? 1 : 0));
  };
  const converged = () => evals98.every((n) => n >= config.stopAfterEvals);

  for (const o of observers) o.setup?.({ config, layout, dataset });

  const ck = ckPath ? loadCheckpoint(ckPath) : undefined;
  if (ck) {
    if (canonicalJson(ck.header.config) !== canonicalJson(config)) {
      throw new TrainingError(
        `checkpoint ${ckPath} belongs to a different config; delete it to start afresh`,
      );
    }
    theta = ck.arrays.theta;
    opt = { step: ck.header.adamStep as number, m: ck.arrays.m, v: ck.arrays.v };
    batchRng = Rng.fromState(ck.header.batchRng as RngState);
    metrics = ck.header.metrics as MetricPoint[];
    step = ck.header.step as number;
    priorSeconds = ck.header.wallSeconds as number;
    for (const m of metrics) count98(m);
    const obsState = (ck.header.observers ?? {}) as Record<string, unknown>;
    for (const o of observers) {
      const prefix = `obs.${o.name}.`;
      const arrays = Object.fromEntries(
        Object.entries(ck.arrays)
          .filter(([k]) => k.startsWith(prefix))
          .map(([k, v]) => [k.slice(prefix.length), v]),
      );
      o.restore?.({ json: obsState[o.name], arrays });
    }
  }

  const started = performance.now();
  const elapsed = () => priorSeconds + (performance.now() - started) / 1000;
  const trainSet = makeEvalSet(dataset.trainA, dataset.trainB, dataset.trainYs, config.p);
  const testSet = makeEvalSet(dataset.testA, dataset.testB, dataset.testYs, config.p);
  const grad = new Float32Array(layout.size);
  const nTrain = dataset.trainA.length;
  const ba = new Int32Array(config.batch);
  const bb = new Int32Array(config.batch);
  const bys = dataset.trainYs.map(() => new Int32Array(config.batch));
  let lastLoss = Number.NaN;

  const saveCk = () => {
    if (!ckPath) return;
    const header: Record<string, unknown> = {
      id,
      config,
      step,
      adamStep: opt.step,
      batchRng: batchRng.state(),
      metrics,
      wallSeconds: elapsed(),
      observers: {},
    };
    const arrays: Record<string, Float32Array> = { theta, m: opt.m, v: opt.v };
    for (const o of observers) {
      const s = o.state?.();
      if (!s) continue;
      (header.observers as Record<string, unknown>)[o.name] = s.json;
      for (const [k, v] of Object.entries(s.arrays ?? {})) arrays[`obs.${o.name}.${k}`] = v;
    }
    saveCheckpoint(ckPath, { header, arrays });
  };

  const doEval = (): MetricPoint => {
    const w = engineWeights(layout, theta);
    try {
      const tr = evaluate(w, layout, trainSet);
      const te = evaluate(w, layout, testSet);
      if (!multi) return { step, loss: tr[0].loss, trainAcc: tr[0].acc, testAcc: te[0].acc };
      // Multitask: the objective (sum of the tasks' losses) and the worst task's accuracies, then each task.
      return {
        step,
        loss: tr.reduce((s, x) => s + x.loss, 0),
        trainAcc: Math.min(...tr.map((x) => x.acc)),
        testAcc: Math.min(...te.map((x) => x.acc)),
        tasks: Object.fromEntries(
          taskNames.map((t, i) => [t, { loss: tr[i].loss, trainAcc: tr[i].acc, testAcc: te[i].acc }]),
        ),
      };
    } finally {
      disposeWeights(w);
    }
  };

  const report = () => {
    if (!opts.onProgress) return;
    const last = metrics[metrics.length - 1];
    const secs = (performance.now() - started) / 1000;
    const done = step - (ck ? (ck.header.step as number) : 0);
    opts.onProgress({
      step,
      maxSteps: config.maxSteps,
      loss: lastLoss,
      trainAcc: last?.trainAcc ?? 0,
      testAcc: last?.testAcc ?? 0,
      grokStep: grokStepOf(metrics),
      elapsedSeconds: elapsed(),
      etaSeconds: done > 0 ? ((config.maxSteps - step) * secs) / done : Number.NaN,
    });
  };

  const hooks = mergeHooks(observers);
  let stopReason: RunRecord["stopReason"] = "maxSteps";
  try {
    if (step === 0) {
      metrics.push(doEval());
      for (const o of observers) o.onEval?.({ step, layout, theta, loss: Number.NaN, metrics: metrics[0] });
    }
    if (converged()) stopReason = "converged";
    while (stopReason !== "converged" && step < config.maxSteps) {
      for (let i = 0; i < config.batch; i++) {
        const j = batchRng.int(nTrain);
        ba[i] = dataset.trainA[j];
        bb[i] = dataset.trainB[j];
        for (let t = 0; t < bys.length; t++) bys[t][i] = dataset.trainYs[t][j];
      }
      const bt = engineBatch(ba, bb, bys, config.p);
      try {
        lastLoss = engineLossAndGrad(layout, theta, bt, grad);
      } finally {
        disposeEngineBatch(bt);
      }
      if (!Number.isFinite(lastLoss)) {
        throw new TrainingError(
          `training loss is ${lastLoss} at step ${step + 1} (lr ${config.lr}); the run diverged — lower the learning rate or check the config`,
        );
      }
      adamwStep(theta, grad, opt, config, layout, hooks);
      step += 1;
      const ctx: StepContext = { step, layout, theta, loss: lastLoss };
      for (const o of observers) o.onStep?.(ctx);
      if (step % config.checkpointEvery === 0 || step === config.maxSteps) {
        const m = doEval();
        metrics.push(m);
        count98(m);
        for (const o of observers) o.onEval?.({ ...ctx, metrics: m });
        if (converged()) stopReason = "converged";
      }
      if (config.saveEvery > 0 && step % config.saveEvery === 0) saveCk();
      report();
      if (opts.signal?.aborted || step === opts.stopAtStep) {
        saveCk();
        throw new TrainingInterrupted(step, ckPath);
      }
      // Let signal handlers and notebook display messages run.
      if (step % 5 === 0) await new Promise((r) => setImmediate(r));
    }
    const finalCtx: StepContext = { step, layout, theta, loss: lastLoss };
    for (const o of observers) o.finish?.(finalCtx);
  } finally {
    for (const s of [trainSet, testSet]) for (const c of s.chunks) disposeEngineBatch(c.bt);
    for (const o of observers) o.dispose?.();
  }

  const record: RunRecord = {
    schema: RECORD_SCHEMA,
    schemaVersion: RECORD_VERSION,
    id,
    config,
    task: taskNames.join("+"),
    backend: backend.name,
    sedlabVersion: packageVersion(),
    commit: gitCommit(),
    date: new Date().toISOString(),
    wallSeconds: Math.round(elapsed() * 10) / 10,
    steps: step,
    stopReason,
    metrics,
    grokStep: grokStepOf(metrics),
    firstTest98Step: grokStepOf(metrics, 0.98),
    final: metrics[metrics.length - 1],
  };
  if (multi) {
    record.grokSteps = Object.fromEntries(taskNames.map((t) => [t, taskGrokStepOf(metrics, t)]));
    record.firstTest98Steps = Object.fromEntries(taskNames.map((t) => [t, taskGrokStepOf(metrics, t, 0.98)]));
  }
  for (const o of observers) {
    const r = o.result?.();
    if (r !== undefined) record[o.name] = r;
  }
  if (opts.recordDir !== null) saveRecord(record, opts.recordDir);
  if (ckPath) removeCheckpoint(ckPath);
  return record;
}

function mergeHooks(observers: TrainObserver[]): StepHooks | undefined {
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
