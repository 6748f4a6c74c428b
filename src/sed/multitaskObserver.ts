// The multitask SED observer (paper §C3): where does aggregation across tasks lose the coupling? At every
// checkpoint it records, in the shared attention space,
//   - an update row θ_attn(t) − θ_attn(t−c) (the joint trajectory),
//   - per task t a gradient row g_t = ∇_attn of task t's own loss (its head) on its own fixed batch, at θ_t,
//   - an aggregate row Σ_t g_t: the gradient of the summed loss on those per-task batches,
// and the cancellation ratio ‖Σ_t g_t‖ / Σ_t ‖g_t‖. At measurement steps (once the window is full, and at the
// end) it takes the top-K basis of each window — update and aggregate (one each), per task (one per task) — and
// measures R_k for each task with that task's centroids (its head's correct-class logit): update-SED and
// aggregate gradient-SED against every task, per-task gradient-SED against its own task; plus the principal
// angles between each task's subspace and the aggregate and update ones. Same definitions as sedObserver.

import type { SedConfig } from "../config/config";
import { labelsOf, samplePairs } from "../data/tasks";
import { disposeEngineBatch, type EngineBatch, engineBatch, engineLossAndGrad } from "../model/engine";
import { groupRange, type Layout } from "../model/params";
import type { TrainObserver } from "../train/train";
import { norm, principalAngles } from "../util/linalg";
import { Rng, type RngState } from "../util/rng";
import { type CentroidKind, disposeProbes, makeProbes, type Probes } from "./centroids";
import { couplingHeads } from "./coupling";
import { type CurvePoint, type SourceSummary, summarise, unitGaussians } from "./observer";
import { type RollingSvd, RowWindow, spectralGap } from "./rollingSvd";

export const MULTITASK_SOURCES = ["update", "aggregate", "perTask"] as const;
export type MultitaskSource = (typeof MULTITASK_SOURCES)[number];

/** Principal angles in degrees (ascending), at one measurement. */
export interface AnglePoint {
  step: number;
  /** Per task: between its per-task gradient-SED subspace and the aggregate gradient-SED subspace. */
  aggregate: Record<string, number[]>;
  /** Per task: between its per-task gradient-SED subspace and the update-SED subspace. */
  update: Record<string, number[]>;
  /** Between the aggregate gradient-SED and the update-SED subspaces. */
  aggregateUpdate: number[];
}

/** At one checkpoint: how much the tasks' attention gradients cancel when summed. */
export interface CancellationPoint {
  step: number;
  /** ‖Σ_t g_t‖ / Σ_t ‖g_t‖: 1 when the tasks' gradients point the same way, near 0 when they cancel. */
  ratio: number;
  /** ‖g_t‖ per task. */
  norms: Record<string, number>;
  /** ‖Σ_t g_t‖. */
  aggregateNorm: number;
}

/** `coupling` field of a multitask run record: per source, per task. */
export interface MultitaskCouplingRecord {
  tasks: string[];
  /** One basis from the joint update rows; R_k against each task's centroids. */
  update: Record<string, SourceSummary>;
  /** One basis from the summed-loss gradient rows; R_k against each task's centroids. */
  aggregate: Record<string, SourceSummary>;
  /** Each task's own gradient rows and basis; R_k against its own centroids. */
  perTask: Record<string, SourceSummary>;
  angles: AnglePoint[];
  cancellation: CancellationPoint[];
}

const DEG = 180 / Math.PI;
const degrees = (rad: number[]) => rad.map((x) => x * DEG);

/** Per-source windows of the observer: update, aggregate, then one per task. */
const windowKeys = (tasks: readonly string[]) => ["update", "aggregate", ...tasks.map((t) => `perTask.${t}`)];

/** The observer for multitask runs (`config.tasks` and `config.sed`); its result lands in `record.coupling`. */
export function multitaskSedObserver(): TrainObserver {
  let cfg: SedConfig;
  let layout: Layout;
  let tasks: string[];
  let every: number;
  let attn: { start: number; end: number };
  let probes: Probes | undefined;
  let gradBatches: EngineBatch[] = [];
  let randomRng: Rng;
  let prevAttn: Float32Array | undefined;
  let windows: Record<string, RowWindow>;
  let curves: Record<MultitaskSource, Record<string, CurvePoint[]>>;
  let angles: AnglePoint[] = [];
  let cancellation: CancellationPoint[] = [];
  let grad: Float32Array;
  let lastMeasured = -1;

  const emptyCurves = () =>
    Object.fromEntries(
      MULTITASK_SOURCES.map((s) => [s, Object.fromEntries(tasks.map((t) => [t, [] as CurvePoint[]]))]),
    ) as Record<MultitaskSource, Record<string, CurvePoint[]>>;

  /** Task t's attention gradient row on its own batch (a copy). */
  const taskGradient = (theta: Float32Array, t: number): Float32Array => {
    engineLossAndGrad(layout, theta, gradBatches[t], grad, [t]);
    return grad.slice(attn.start, attn.end);
  };

  const measure = (step: number, theta: Float32Array) => {
    if (!probes) throw new Error("multitask sed observer used before setup");
    const svd: Record<string, RollingSvd> = {};
    for (const key of windowKeys(tasks))
      svd[key] = windows[key].svd(cfg.k, { last: cfg.window, center: cfg.center });
    const perTask = (t: string) => svd[`perTask.${t}`];
    const bases: Record<number, Record<string, Float32Array[]>> = {};
    tasks.forEach((t, h) => {
      bases[h] = { update: svd.update.basis, aggregate: svd.aggregate.basis, perTask: perTask(t).basis };
    });
    const c = couplingHeads(
      layout,
      theta,
      probes,
      bases,
      unitGaussians(randomRng, cfg.randomDirs, attn.end - attn.start),
      { kind: cfg.centroid as CentroidKind, epsRel: cfg.epsRel },
    );
    tasks.forEach((t, h) => {
      for (const src of MULTITASK_SOURCES) {
        const r = c[h].bases[src];
        const sigma = (src === "perTask" ? perTask(t) : svd[src]).sigma;
        const gap = spectralGap(sigma);
        curves[src][t].push({
          step,
          windowStart: step - (cfg.window - 1) * every,
          windowEnd: step,
          R: r.R,
          Rbar: r.Rbar,
          sigma,
          gapIndex: gap.index,
          gapRatio: gap.ratio,
          medianRandom: c[h].medianRandom,
          eps: c[h].eps,
        });
      }
    });
    angles.push({
      step,
      aggregate: Object.fromEntries(
        tasks.map((t) => [t, degrees(principalAngles(perTask(t).basis, svd.aggregate.basis))]),
      ),
      update: Object.fromEntries(
        tasks.map((t) => [t, degrees(principalAngles(perTask(t).basis, svd.update.basis))]),
      ),
      aggregateUpdate: degrees(principalAngles(svd.aggregate.basis, svd.update.basis)),
    });
    lastMeasured = step;
  };

  return {
    name: "coupling",
    setup({ config, layout: l, dataset }) {
      if (!config.sed || !config.tasks)
        throw new Error("multitaskSedObserver needs config.sed and config.tasks");
      cfg = config.sed;
      if (cfg.windowMode !== "trailing" || cfg.windows.length > 0)
        throw new Error("multitask SED diagnostics support the trailing window only, without extra windows");
      layout = l;
      tasks = [...config.tasks];
      every = config.checkpointEvery;
      attn = groupRange(l, "attn");
      grad = new Float32Array(l.size);
      // Own streams: the diagnostics never change the training run's randomness.
      const root = new Rng(config.seed).fork("sed");
      gradBatches = dataset.tasks.map((task) => {
        const gb = samplePairs(task, cfg.gradBatch, root.fork(`gradBatch.${task.name}`));
        return engineBatch(gb.a, gb.b, gb.y, config.p);
      });
      // One probe set (the tasks share their pairs); each task's centroids use its own labels and head.
      const pairs = samplePairs(dataset.tasks[0], cfg.probes, root.fork("probes"));
      probes = makeProbes(pairs, config.p, labelsOf(dataset.tasks, pairs.a, pairs.b));
      randomRng = root.fork("random");
      const P = attn.end - attn.start;
      windows = Object.fromEntries(windowKeys(tasks).map((k) => [k, new RowWindow(cfg.window, P)]));
      curves = emptyCurves();
    },
    onEval(ctx) {
      const theta = ctx.theta;
      const now = theta.subarray(attn.start, attn.end);
      if (!prevAttn) {
        prevAttn = now.slice();
        return;
      }
      const u = new Float32Array(now.length);
      for (let i = 0; i < u.length; i++) u[i] = now[i] - prevAttn[i];
      prevAttn.set(now);
      windows.update.push(u);
      const g = tasks.map((_, t) => taskGradient(theta, t));
      const sum = new Float64Array(u.length);
      for (const gt of g) for (let i = 0; i < gt.length; i++) sum[i] += gt[i];
      const agg = Float32Array.from(sum);
      windows.aggregate.push(agg);
      tasks.forEach((t, i) => {
        windows[`perTask.${t}`].push(g[i]);
      });
      const norms = g.map((gt) => norm(gt));
      const aggregateNorm = norm(agg);
      const total = norms.reduce((s, x) => s + x, 0);
      cancellation.push({
        step: ctx.step,
        ratio: total > 0 ? aggregateNorm / total : Number.NaN,
        norms: Object.fromEntries(tasks.map((t, i) => [t, norms[i]])),
        aggregateNorm,
      });
      if (ctx.step % cfg.measureEvery === 0 && windows.update.size >= cfg.window) measure(ctx.step, theta);
    },
    finish(ctx) {
      if (ctx.step !== lastMeasured && windows.update.size >= cfg.window) measure(ctx.step, ctx.theta);
    },
    dispose() {
      if (probes) disposeProbes(probes);
      for (const b of gradBatches) disposeEngineBatch(b);
      probes = undefined;
      gradBatches = [];
    },
    state() {
      const arrays: Record<string, Float32Array> = {};
      const wjson: Record<string, unknown> = {};
      for (const k of windowKeys(tasks)) {
        const s = windows[k].state();
        arrays[`${k}.rows`] = s.arrays.rows;
        wjson[k] = s.json;
      }
      if (prevAttn) arrays.prevAttn = prevAttn;
      return {
        json: { windows: wjson, curves, angles, cancellation, random: randomRng.state(), lastMeasured },
        arrays,
      };
    },
    restore(s) {
      const j = s.json as {
        windows: Record<string, ReturnType<RowWindow["state"]>["json"]>;
        curves: Record<MultitaskSource, Record<string, CurvePoint[]>>;
        angles: AnglePoint[];
        cancellation: CancellationPoint[];
        random: RngState;
        lastMeasured: number;
      };
      if (!j) return;
      for (const k of windowKeys(tasks))
        windows[k].restore({ json: j.windows[k], arrays: { rows: s.arrays[`${k}.rows`] } });
      prevAttn = s.arrays.prevAttn?.slice();
      curves = j.curves;
      angles = j.angles;
      cancellation = j.cancellation;
      randomRng = Rng.fromState(j.random);
      lastMeasured = j.lastMeasured;
    },
    result(): MultitaskCouplingRecord {
      const per = (src: MultitaskSource) =>
        Object.fromEntries(tasks.map((t) => [t, summarise(curves[src][t] ?? [])]));
      return {
        tasks,
        update: per("update"),
        aggregate: per("aggregate"),
        perTask: per("perTask"),
        angles,
        cancellation,
      };
    },
  };
}
