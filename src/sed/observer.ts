// The SED observer: records update rows (θ_attn(t) − θ_attn(t−c)) and gradient rows (∇_attn of the loss on a
// fixed batch, at θ_t) at every checkpoint, and at measurement steps computes each source's top-K SED basis
// and its coupling R_k to the linear centroids against a shared random baseline. Training never sees it.

import type { SedConfig } from "../config/config";
import { samplePairs } from "../data/tasks";
import { disposeEngineBatch, type EngineBatch, engineBatch, engineLossAndGrad } from "../model/engine";
import { groupRange, type Layout } from "../model/params";
import type { StepContext, TrainObserver } from "../train/train";
import { Rng, type RngState } from "../util/rng";
import { type CentroidKind, disposeProbes, makeProbes, type Probes } from "./centroids";
import { type Coupling, coupling } from "./coupling";
import { RowWindow, spectralGap } from "./rollingSvd";

export const SOURCES = ["update", "gradient"] as const;
export type Source = (typeof SOURCES)[number];

/** One measurement of one SED source. */
export interface CurvePoint {
  step: number;
  /** Rows' span: the window covers checkpoints windowStart..windowEnd. */
  windowStart: number;
  windowEnd: number;
  R: number[];
  Rbar: number;
  /** All W singular values, descending. */
  sigma: number[];
  /** Spectral gap: k* = argmax σ_j/σ_{j+1} (1-based) and the ratio. */
  gapIndex: number;
  gapRatio: number;
  /** Median A of the random directions (shared by the sources) and ε. */
  medianRandom: number;
  eps: number;
}

export interface SourceSummary {
  peakRbar: number | null;
  finalRbar: number | null;
  peakR1: number | null;
  curve: CurvePoint[];
}

/** `coupling` field of a run record: per source, and per extra window size for the W ablation. */
export interface CouplingRecord {
  update: SourceSummary;
  gradient: SourceSummary;
  /** W ablation: "update@5", "gradient@5", … (only when config.sed.windows is set). */
  windows?: Record<string, SourceSummary>;
}

export function summarise(curve: CurvePoint[]): SourceSummary {
  const finite = curve.filter((c) => Number.isFinite(c.Rbar));
  return {
    peakRbar: finite.length ? Math.max(...finite.map((c) => c.Rbar)) : null,
    finalRbar: finite.length ? finite[finite.length - 1].Rbar : null,
    peakR1: finite.length
      ? Math.max(...finite.map((c) => c.R[0] ?? Number.NaN).filter(Number.isFinite))
      : null,
    curve,
  };
}

/** `count` Gaussian directions of length P, each normalised to unit length (the R_k baseline's directions). */
export function unitGaussians(rng: Rng, count: number, P: number): Float32Array[] {
  return Array.from({ length: count }, () => {
    const v = rng.fillNormal(new Float32Array(P));
    let s = 0;
    for (let i = 0; i < P; i++) s += v[i] * v[i];
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < P; i++) v[i] *= inv;
    return v;
  });
}

interface Pending {
  step: number;
  theta: Float32Array;
}

/** The observer; `config.sed` must be set. Name "coupling": its result lands in `record.coupling`. */
export function sedObserver(): TrainObserver {
  let cfg: SedConfig;
  let layout: Layout;
  let every: number;
  let attn: { start: number; end: number };
  let probes: Probes | undefined;
  let gradBatch: EngineBatch | undefined;
  let randomRng: Rng;
  let prevAttn: Float32Array | undefined;
  let windows: Record<Source, RowWindow>;
  let curves: Record<string, CurvePoint[]> = {};
  let pending: Pending[] = [];
  let grad: Float32Array;
  let lastMeasured = -1;

  const sizes = () => [...new Set([cfg.window, ...cfg.windows])];

  const gradientRow = (theta: Float32Array): Float32Array => {
    if (!gradBatch) throw new Error("sed observer used before setup");
    engineLossAndGrad(layout, theta, gradBatch, grad);
    return grad.subarray(attn.start, attn.end);
  };

  const randomDirections = (): Float32Array[] =>
    unitGaussians(randomRng, cfg.randomDirs, attn.end - attn.start);

  /** Measures coupling at `theta` (checkpoint `step`) with the windows' last-W rows. */
  const measure = (step: number, theta: Float32Array, windowEnd: number) => {
    if (!probes) throw new Error("sed observer used before setup");
    const bases: Record<string, Float32Array[]> = {};
    const spectra: Record<string, { sigma: number[]; W: number }> = {};
    for (const W of sizes()) {
      for (const src of SOURCES) {
        if (windows[src].size < W) continue;
        const svd = windows[src].svd(cfg.k, { last: W, center: cfg.center });
        const key = W === cfg.window ? src : `${src}@${W}`;
        bases[key] = svd.basis;
        spectra[key] = { sigma: svd.sigma, W };
      }
    }
    if (Object.keys(bases).length === 0) return;
    const c: Coupling = coupling(layout, theta, probes, bases, randomDirections(), {
      kind: cfg.centroid as CentroidKind,
      epsRel: cfg.epsRel,
    });
    for (const [key, r] of Object.entries(c.bases)) {
      const { sigma, W } = spectra[key];
      const gap = spectralGap(sigma);
      if (!curves[key]) curves[key] = [];
      curves[key].push({
        step,
        windowStart: windowEnd - (W - 1) * every,
        windowEnd,
        R: r.R,
        Rbar: r.Rbar,
        sigma,
        gapIndex: gap.index,
        gapRatio: gap.ratio,
        medianRandom: c.medianRandom,
        eps: c.eps,
      });
    }
    lastMeasured = step;
  };

  return {
    name: "coupling",
    setup({ config, layout: l, dataset }) {
      if (!config.sed) throw new Error("sedObserver needs config.sed");
      cfg = config.sed;
      layout = l;
      every = config.checkpointEvery;
      attn = groupRange(l, "attn");
      grad = new Float32Array(l.size);
      const task = dataset.task;
      // Own streams: the diagnostics never change the training run's randomness.
      const root = new Rng(config.seed).fork("sed");
      const gb = samplePairs(task, cfg.gradBatch, root.fork("gradBatch"));
      gradBatch = engineBatch(gb.a, gb.b, gb.y, config.p);
      probes = makeProbes(samplePairs(task, cfg.probes, root.fork("probes")), config.p);
      randomRng = root.fork("random");
      const cap = Math.max(...sizes());
      const P = attn.end - attn.start;
      windows = { update: new RowWindow(cap, P), gradient: new RowWindow(cap, P) };
    },
    onEval(ctx) {
      const theta = ctx.theta;
      const now = theta.subarray(attn.start, attn.end);
      if (!prevAttn) {
        // Step 0 (or the first eval after a resume without state): nothing to difference yet.
        prevAttn = now.slice();
        return;
      }
      const u = new Float32Array(now.length);
      for (let i = 0; i < u.length; i++) u[i] = now[i] - prevAttn[i];
      prevAttn.set(now);
      windows.update.push(u);
      windows.gradient.push(gradientRow(theta));
      const due = ctx.step % cfg.measureEvery === 0;
      if (cfg.windowMode === "trailing") {
        if (due && windows.update.size >= cfg.window) measure(ctx.step, theta, ctx.step);
      } else {
        // Leading window: the basis for checkpoint t uses rows t..t+(W−1)c, so measure θ_t later.
        if (due) pending.push({ step: ctx.step, theta: theta.slice() });
        const ready = pending.filter((p) => p.step + (cfg.window - 1) * every === ctx.step);
        for (const p of ready) measure(p.step, p.theta, ctx.step);
        pending = pending.filter((p) => !ready.includes(p));
      }
    },
    finish(ctx: StepContext) {
      // One more measurement at the end, with the trailing window (rows up to the final checkpoint).
      if (ctx.step !== lastMeasured && windows.update.size >= cfg.window)
        measure(ctx.step, ctx.theta, ctx.step);
    },
    dispose() {
      if (probes) disposeProbes(probes);
      if (gradBatch) disposeEngineBatch(gradBatch);
      probes = undefined;
      gradBatch = undefined;
    },
    state() {
      const arrays: Record<string, Float32Array> = {};
      for (const src of SOURCES) {
        const s = windows[src].state();
        arrays[`${src}.rows`] = s.arrays.rows;
      }
      if (prevAttn) arrays.prevAttn = prevAttn;
      pending.forEach((p, i) => {
        arrays[`pending.${i}`] = p.theta;
      });
      return {
        json: {
          windows: Object.fromEntries(SOURCES.map((s) => [s, windows[s].state().json])),
          curves,
          random: randomRng.state(),
          pending: pending.map((p) => p.step),
          lastMeasured,
        },
        arrays,
      };
    },
    restore(s) {
      const j = s.json as {
        windows: Record<Source, ReturnType<RowWindow["state"]>["json"]>;
        curves: Record<string, CurvePoint[]>;
        random: RngState;
        pending: number[];
        lastMeasured: number;
      };
      if (!j) return;
      for (const src of SOURCES)
        windows[src].restore({ json: j.windows[src], arrays: { rows: s.arrays[`${src}.rows`] } });
      prevAttn = s.arrays.prevAttn?.slice();
      curves = j.curves;
      randomRng = Rng.fromState(j.random);
      pending = j.pending.map((step, i) => ({ step, theta: s.arrays[`pending.${i}`].slice() }));
      lastMeasured = j.lastMeasured;
    },
    result(): CouplingRecord {
      const extra = Object.keys(curves).filter((k) => k.includes("@"));
      return {
        update: summarise(curves.update ?? []),
        gradient: summarise(curves.gradient ?? []),
        ...(extra.length ? { windows: Object.fromEntries(extra.map((k) => [k, summarise(curves[k])])) } : {}),
      };
    },
  };
}
