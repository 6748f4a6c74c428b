// The single-task SED observer: at every checkpoint an update row (θ_attn(t) − θ_attn(t−c)) and a gradient row
// (∇_attn of the loss on a fixed batch, at θ_t); at measurement steps each source's top-K SED basis and its
// coupling R_k to the linear centroids against a shared random baseline. Training never sees it. The windows,
// update rows, curves and checkpoint state are the SED recorder's (recorder.ts).
import type { SedConfig } from "../config/config";
import { samplePairs } from "../data/tasks";
import { disposeEngineBatch, type EngineBatch, engineBatch, engineLossAndGrad } from "../model/engine";
import { groupRange, type Layout } from "../model/params";
import { type CouplingRecord, SOURCES } from "../records/results";
import type { TrainObserver } from "../train/observer";
import { Rng } from "../util/rng";
import { type CentroidKind, disposeProbes, makeProbes, type Probes } from "./centroids";
import { coupling } from "./coupling";
import { type RecorderState, SedRecorder } from "./recorder";

interface Pending {
  step: number;
  theta: Float32Array;
}

/** A measurement's SED bases (the main window's, by source), shown to whoever reads them (the readouts). */
export interface SedMeasurement {
  step: number;
  theta: Float32Array;
  bases: Partial<Record<(typeof SOURCES)[number], Float32Array[]>>;
  /** The measurement's coupling baseline (median A of its random directions) and ε: R of another direction
   * at θ is its A with these probes and ε over medianRandom. */
  medianRandom: number;
  eps: number;
}

/**
 * The observer; `config.sed` must be set. Name "coupling": its result lands in `record.coupling`.
 * `onMeasure` is shown each measurement's main-window bases (after their coupling is recorded).
 */
export function sedObserver(opts: { onMeasure?: (m: SedMeasurement) => void } = {}): TrainObserver {
  let cfg: SedConfig;
  let layout: Layout;
  let attn: { start: number; end: number };
  let probes: Probes | undefined;
  let gradBatch: EngineBatch | undefined;
  let rec: SedRecorder;
  let pending: Pending[] = [];
  let grad: Float32Array;

  /** The main window W and the W ablation's extra sizes. */
  const sizes = () => [...new Set([cfg.window, ...cfg.windows])];

  const gradientRow = (theta: Float32Array): Float32Array => {
    if (!gradBatch) throw new Error("sed observer used before setup");
    engineLossAndGrad(layout, theta, gradBatch, grad);
    return grad.subarray(attn.start, attn.end);
  };

  /** Measures coupling at `theta` (checkpoint `step`) with the windows' last-W rows. */
  const measure = (step: number, theta: Float32Array, windowEnd: number) => {
    if (!probes) throw new Error("sed observer used before setup");
    const bases: Record<string, Float32Array[]> = {};
    const spectra: Record<string, { sigma: number[]; W: number }> = {};
    for (const W of sizes()) {
      for (const src of SOURCES) {
        if (rec.windows[src].size < W) continue;
        const svd = rec.windows[src].svd(cfg.k, { last: W, center: cfg.center });
        const key = W === cfg.window ? src : `${src}@${W}`;
        bases[key] = svd.basis;
        spectra[key] = { sigma: svd.sigma, W };
      }
    }
    if (Object.keys(bases).length === 0) return;
    const c = coupling(layout, theta, probes, bases, rec.randomDirections(), {
      kind: cfg.centroid as CentroidKind,
      epsRel: cfg.epsRel,
    });
    for (const [key, r] of Object.entries(c.bases)) {
      const { sigma, W } = spectra[key];
      rec.record(key, step, windowEnd, W, sigma, { ...r, medianRandom: c.medianRandom, eps: c.eps });
    }
    opts.onMeasure?.({
      step,
      theta,
      bases: Object.fromEntries(SOURCES.filter((src) => bases[src]).map((src) => [src, bases[src]])),
      medianRandom: c.medianRandom,
      eps: c.eps,
    });
  };

  return {
    name: "coupling",
    setup({ config, layout: l, dataset }) {
      if (!config.sed) throw new Error("sedObserver needs config.sed");
      cfg = config.sed;
      layout = l;
      attn = groupRange(l, "attn");
      grad = new Float32Array(l.size);
      const task = dataset.task;
      // Own streams: the diagnostics never change the training run's randomness.
      const root = new Rng(config.seed).fork("sed");
      const gb = samplePairs(task, cfg.gradBatch, root.fork("gradBatch"));
      gradBatch = engineBatch(gb.a, gb.b, gb.y, config.p);
      probes = makeProbes(samplePairs(task, cfg.probes, root.fork("probes")), config.p);
      const P = attn.end - attn.start;
      rec = new SedRecorder(
        cfg,
        config.checkpointEvery,
        SOURCES,
        Math.max(...sizes()),
        P,
        root.fork("random"),
      );
    },
    onEval(ctx) {
      const theta = ctx.theta;
      if (!rec.updateRow(theta.subarray(attn.start, attn.end))) return;
      rec.windows.gradient.push(gradientRow(theta));
      if (cfg.windowMode === "trailing") {
        if (rec.due(ctx.step)) measure(ctx.step, theta, ctx.step);
      } else {
        // Leading window: the basis for checkpoint t uses rows t..t+(W−1)c, so measure θ_t later.
        if (ctx.step % cfg.measureEvery === 0) pending.push({ step: ctx.step, theta: theta.slice() });
        const ready = pending.filter((p) => p.step + (cfg.window - 1) * rec.every === ctx.step);
        for (const p of ready) measure(p.step, p.theta, ctx.step);
        pending = pending.filter((p) => !ready.includes(p));
      }
    },
    finish(ctx) {
      // One more measurement at the end, with the trailing window (rows up to the final checkpoint).
      if (rec.finalDue(ctx.step)) measure(ctx.step, ctx.theta, ctx.step);
    },
    dispose() {
      if (probes) disposeProbes(probes);
      if (gradBatch) disposeEngineBatch(gradBatch);
      probes = undefined;
      gradBatch = undefined;
    },
    state() {
      const s = rec.state();
      pending.forEach((p, i) => {
        s.arrays[`pending.${i}`] = p.theta;
      });
      return { json: { ...s.json, pending: pending.map((p) => p.step) }, arrays: s.arrays };
    },
    restore(s) {
      const j = s.json as (RecorderState["json"] & { pending: number[] }) | undefined;
      if (!j) return;
      rec.restore(j, s.arrays);
      pending = j.pending.map((step, i) => ({ step, theta: s.arrays[`pending.${i}`].slice() }));
    },
    result(): CouplingRecord {
      const extra = Object.keys(rec.curves).filter((k) => k.includes("@"));
      return {
        update: rec.summary("update"),
        gradient: rec.summary("gradient"),
        ...(extra.length ? { windows: Object.fromEntries(extra.map((k) => [k, rec.summary(k)])) } : {}),
      };
    },
  };
}
