// Grokfast's EMA gradient filter (Lee et al. 2024, "Grokfast: Accelerated Grokking by Amplifying Slow
// Gradients"; ironjr/grokfast's gradfilter_ema): each step ema ← α·ema + (1 − α)·g (ema starts as the first
// gradient), then g ← g + λ·ema. Float32 storage, like the reference's tensors.

export interface GrokfastState {
  started: boolean;
  ema: Float32Array;
}

export class GrokfastFilter {
  private started = false;
  private ema: Float32Array;

  constructor(
    size: number,
    readonly alpha: number,
    readonly lambda: number,
  ) {
    this.ema = new Float32Array(size);
  }

  /** Filter g in place. */
  apply(g: Float32Array): void {
    const { alpha, lambda, ema } = this;
    if (g.length !== ema.length)
      throw new RangeError(`GrokfastFilter: gradient has ${g.length} entries, expected ${ema.length}`);
    if (!this.started) {
      ema.set(g);
      this.started = true;
    } else for (let i = 0; i < g.length; i++) ema[i] = alpha * ema[i] + (1 - alpha) * g[i];
    for (let i = 0; i < g.length; i++) g[i] += lambda * ema[i];
  }

  state(): GrokfastState {
    return { started: this.started, ema: this.ema.slice() };
  }

  restore(s: GrokfastState): void {
    if (s.ema.length !== this.ema.length)
      throw new RangeError(`GrokfastFilter.restore: ${s.ema.length} entries, expected ${this.ema.length}`);
    this.ema.set(s.ema);
    this.started = s.started;
  }
}
