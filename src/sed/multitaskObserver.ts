// The multitask SED observer (paper §C3): where does aggregation across tasks lose the coupling? At every
// checkpoint it records, in the shared attention space,
//   - an update row θ_attn(t) − θ_attn(t−c) (the joint trajectory),
//   - per task t a gradient row g_t = ∇_attn of task t's own loss (its head) on its own fixed batch, at θ_t,
//   - an aggregate row Σ_t g_t: the gradient of the summed loss on those per-task batches,
// and the cancellation ratio ‖Σ_t g_t‖ / Σ_t ‖g_t‖. At measurement steps (once the window is full, and at the
// end) it takes the top-K basis of each window — update and aggregate (one each), per task (one per task) — and
// measures R_k for each task with that task's centroids (its head's correct-class logit): update-SED and
// aggregate gradient-SED against every task, per-task gradient-SED against its own task; plus the principal
// angles between each task's subspace and the aggregate and update ones. Same definitions as sedObserver, on the same SED recorder (recorder.ts).

import type { SedConfig } from "../config/config";
import { labelsOf, samplePairs } from "../data/tasks";
import { disposeEngineBatch, type EngineBatch, engineBatch, engineLossAndGrad } from "../model/engine";
import { groupRange, type Layout } from "../model/params";
import {
  type AnglePoint,
  type CancellationPoint,
  MULTITASK_SOURCES,
  type MultitaskCouplingRecord,
  type MultitaskSource,
} from "../records/results";
import type { TrainObserver } from "../train/observer";
import { norm, principalAngles } from "../util/linalg";
import { Rng } from "../util/rng";
import { type CentroidKind, disposeProbes, makeProbes, type Probes } from "./centroids";
import { couplingHeads } from "./coupling";
import { type RecorderState, SedRecorder } from "./recorder";
import type { RollingSvd } from "./rollingSvd";

const DEG = 180 / Math.PI;
const degrees = (rad: number[]) => rad.map((x) => x * DEG);

/** Per-source windows of the observer: update, aggregate, then one per task. */
const windowKeys = (tasks: readonly string[]) => ["update", "aggregate", ...tasks.map((t) => `perTask.${t}`)];
/** The recorder's curve of one source measured against one task's centroids. */
const curveKey = (src: MultitaskSource, task: string) => `${src}.${task}`;

/** The observer for multitask runs (`config.tasks` and `config.sed`); its result lands in `record.coupling`. */
export function multitaskSedObserver(): TrainObserver {
  let cfg: SedConfig;
  let layout: Layout;
  let tasks: string[];
  let attn: { start: number; end: number };
  let probes: Probes | undefined;
  let gradBatches: EngineBatch[] = [];
  let rec: SedRecorder;
  let angles: AnglePoint[] = [];
  let cancellation: CancellationPoint[] = [];
  let grad: Float32Array;

  /** Task t's attention gradient row on its own batch (a copy). */
  const taskGradient = (theta: Float32Array, t: number): Float32Array => {
    engineLossAndGrad(layout, theta, gradBatches[t], grad, [t]);
    return grad.slice(attn.start, attn.end);
  };

  const measure = (step: number, theta: Float32Array) => {
    if (!probes) throw new Error("multitask sed observer used before setup");
    const svd: Record<string, RollingSvd> = {};
    for (const key of windowKeys(tasks))
      svd[key] = rec.windows[key].svd(cfg.k, { last: cfg.window, center: cfg.center });
    const perTask = (t: string) => svd[`perTask.${t}`];
    const bases: Record<number, Record<string, Float32Array[]>> = {};
    tasks.forEach((t, h) => {
      bases[h] = { update: svd.update.basis, aggregate: svd.aggregate.basis, perTask: perTask(t).basis };
    });
    const c = couplingHeads(layout, theta, probes, bases, rec.randomDirections(), {
      kind: cfg.centroid as CentroidKind,
      epsRel: cfg.epsRel,
    });
    tasks.forEach((t, h) => {
      for (const src of MULTITASK_SOURCES) {
        const r = c[h].bases[src];
        const sigma = (src === "perTask" ? perTask(t) : svd[src]).sigma;
        rec.record(curveKey(src, t), step, step, cfg.window, sigma, {
          ...r,
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
      const P = attn.end - attn.start;
      rec = new SedRecorder(
        cfg,
        config.checkpointEvery,
        windowKeys(tasks),
        cfg.window,
        P,
        root.fork("random"),
      );
    },
    onEval(ctx) {
      const theta = ctx.theta;
      const u = rec.updateRow(theta.subarray(attn.start, attn.end));
      if (!u) return;
      const g = tasks.map((_, t) => taskGradient(theta, t));
      const sum = new Float64Array(u.length);
      for (const gt of g) for (let i = 0; i < gt.length; i++) sum[i] += gt[i];
      const agg = Float32Array.from(sum);
      rec.windows.aggregate.push(agg);
      tasks.forEach((t, i) => {
        rec.windows[`perTask.${t}`].push(g[i]);
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
      if (rec.due(ctx.step)) measure(ctx.step, theta);
    },
    finish(ctx) {
      if (rec.finalDue(ctx.step)) measure(ctx.step, ctx.theta);
    },
    dispose() {
      if (probes) disposeProbes(probes);
      for (const b of gradBatches) disposeEngineBatch(b);
      probes = undefined;
      gradBatches = [];
    },
    state() {
      const s = rec.state();
      return { json: { ...s.json, angles, cancellation }, arrays: s.arrays };
    },
    restore(s) {
      const j = s.json as
        | (RecorderState["json"] & { angles: AnglePoint[]; cancellation: CancellationPoint[] })
        | undefined;
      if (!j) return;
      rec.restore(j, s.arrays);
      angles = j.angles;
      cancellation = j.cancellation;
    },
    result(): MultitaskCouplingRecord {
      const per = (src: MultitaskSource) =>
        Object.fromEntries(tasks.map((t) => [t, rec.summary(curveKey(src, t))]));
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
