// The attention controls of issue #15 as edits of one AdamW step on a parameter range (the attention group):
// undo it (freeze), keep only its weight decay (zero gradient), or scale it (learning-rate scale). Each takes
// the parameters before the step and after it (live) and rewrites `after` on the range; pure array code.
import type { Range } from "../model/params";

/** Freeze: the range keeps its value from before the step, bit for bit (no gradient step, no decay). */
export function holdRange(before: Float32Array, after: Float32Array, r: Range): void {
  after.set(before.subarray(r.start, r.end), r.start);
}

/**
 * Zero gradient: θ ← (1 − lr·wd)·θ on the range, exactly what AdamW does to a parameter whose gradient and
 * moments are zero (`decay` is optim.ts's factor). Adam's own moments for the range are never used again, so
 * whatever they hold does not matter.
 */
export function decayRange(before: Float32Array, after: Float32Array, r: Range, decay: number): void {
  for (let i = r.start; i < r.end; i++) after[i] = before[i] * decay;
}

/** Learning-rate scale: θ ← θ_before + s·(θ_after − θ_before) on the range (the decay term scales with it). */
export function scaleRange(before: Float32Array, after: Float32Array, r: Range, s: number): void {
  for (let i = r.start; i < r.end; i++) after[i] = before[i] + s * (after[i] - before[i]);
}

/** Rescale g in place to Euclidean norm `target` (a zero g stays zero); returns the factor applied. */
export function matchNorm(g: Float32Array, target: number): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  const norm = Math.sqrt(s);
  if (!(norm > 0)) return 1;
  const f = target / norm;
  for (let i = 0; i < g.length; i++) g[i] *= f;
  return f;
}

/** ‖x‖₂ in float64. */
export function norm2(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}
