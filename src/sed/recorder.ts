// The SED recorder both SED observers are built on: per-source rolling windows of attention rows, the update
// row θ_attn(t) − θ_attn(t−c) at each checkpoint, the R_k baseline's random directions (their own RNG stream),
// one curve of measurements per key, and the state a checkpoint saves. What rows a source gets and which
// centroids its basis is measured against is the observers' business (observer.ts, multitaskObserver.ts).
import type { SedConfig } from "../config/config";
import type { CurvePoint, SourceSummary } from "../records/results";
import { Rng, type RngState } from "../util/rng";
import { RowWindow, spectralGap } from "./rollingSvd";

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

/** Peak and final R̄ and peak R_1 of a curve (null when it has no finite point). */
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

/** One basis' coupling at a measurement: R_k, R̄, and the shared baseline's median A and ε. */
export interface Measured {
  R: number[];
  Rbar: number;
  medianRandom: number;
  eps: number;
}

export interface RecorderState {
  json: {
    windows: Record<string, unknown>;
    curves: Record<string, CurvePoint[]>;
    random: RngState;
    lastMeasured: number;
  };
  arrays: Record<string, Float32Array>;
}

export class SedRecorder {
  readonly windows: Record<string, RowWindow>;
  curves: Record<string, CurvePoint[]> = {};
  /** The last step measured (finish measures once more unless it was the last checkpoint). */
  lastMeasured = -1;
  private random: Rng;
  private prevAttn: Float32Array | undefined;

  /**
   * @param windowKeys one rolling window per key, each holding up to `capacity` rows of length P
   * @param every steps between checkpoints (rows)
   * @param random the baseline directions' stream (forked from the run's seed: diagnostics never change training)
   */
  constructor(
    readonly cfg: SedConfig,
    readonly every: number,
    windowKeys: readonly string[],
    capacity: number,
    readonly P: number,
    random: Rng,
  ) {
    this.windows = Object.fromEntries(windowKeys.map((k) => [k, new RowWindow(capacity, P)]));
    this.random = random;
  }

  /**
   * The update row θ_attn(t) − θ_attn(t−c), pushed to the "update" window; null at the first checkpoint (step
   * 0, or the first eval after a resume without state), when there is nothing to difference yet.
   */
  updateRow(attnNow: Float32Array): Float32Array | null {
    if (!this.prevAttn) {
      this.prevAttn = attnNow.slice();
      return null;
    }
    const u = new Float32Array(attnNow.length);
    for (let i = 0; i < u.length; i++) u[i] = attnNow[i] - this.prevAttn[i];
    this.prevAttn.set(attnNow);
    this.windows.update.push(u);
    return u;
  }

  /** Is a measurement due at this checkpoint (every measureEvery steps, once the update window is full)? */
  due(step: number): boolean {
    return step % this.cfg.measureEvery === 0 && this.windows.update.size >= this.cfg.window;
  }

  /** Should `finish` measure once more at the last step? */
  finalDue(step: number): boolean {
    return step !== this.lastMeasured && this.windows.update.size >= this.cfg.window;
  }

  /** Fresh unit random directions in the attention space: the R_k baseline of one measurement. */
  randomDirections(): Float32Array[] {
    return unitGaussians(this.random, this.cfg.randomDirs, this.P);
  }

  /** Append one measurement of the basis `key` (window of W rows ending at checkpoint windowEnd). */
  record(key: string, step: number, windowEnd: number, W: number, sigma: number[], m: Measured): void {
    const gap = spectralGap(sigma);
    this.curves[key] ??= [];
    this.curves[key].push({
      step,
      windowStart: windowEnd - (W - 1) * this.every,
      windowEnd,
      R: m.R,
      Rbar: m.Rbar,
      sigma,
      gapIndex: gap.index,
      gapRatio: gap.ratio,
      medianRandom: m.medianRandom,
      eps: m.eps,
    });
    this.lastMeasured = step;
  }

  summary(key: string): SourceSummary {
    return summarise(this.curves[key] ?? []);
  }

  state(): RecorderState {
    const arrays: Record<string, Float32Array> = {};
    const windows: Record<string, unknown> = {};
    for (const [k, w] of Object.entries(this.windows)) {
      const s = w.state();
      arrays[`${k}.rows`] = s.arrays.rows;
      windows[k] = s.json;
    }
    if (this.prevAttn) arrays.prevAttn = this.prevAttn;
    return {
      json: { windows, curves: this.curves, random: this.random.state(), lastMeasured: this.lastMeasured },
      arrays,
    };
  }

  restore(json: RecorderState["json"], arrays: Record<string, Float32Array>): void {
    for (const [k, w] of Object.entries(this.windows)) {
      w.restore({
        json: json.windows[k] as Parameters<RowWindow["restore"]>[0]["json"],
        arrays: { rows: arrays[`${k}.rows`] },
      });
    }
    this.prevAttn = arrays.prevAttn?.slice();
    this.curves = json.curves;
    this.random = Rng.fromState(json.random);
    this.lastMeasured = json.lastMeasured;
  }
}
