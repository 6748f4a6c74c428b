// Coupling of weight-space directions to the linear centroids: how much the centroids move when the attention
// weights are nudged along a direction, relative to random directions of the same norm.
//   A(v)  = mean over probes ‖μ(θ + εv) − μ(θ − εv)‖² / (2ε)²,   ε = ε_rel · ‖θ_attn‖, only θ_attn perturbed
//   R_k   = A(v_k) / median_j A(r_j),   R̄ = mean of R_1..R_K
import { type CentroidKind, centroids, type Probes } from "./centroids";
import { groupRange, type Layout } from "./params";

export interface ResponseOptions {
  kind: CentroidKind;
  /** Absolute step ε along the unit direction. */
  eps: number;
}

/** A(v) for one unit direction v of the attention group. */
export function response(
  layout: Layout,
  theta: Float32Array,
  probes: Probes,
  v: Float32Array,
  opts: ResponseOptions,
  scratch = new Float32Array(theta.length),
): number {
  const { start, end } = groupRange(layout, "attn");
  if (v.length !== end - start)
    throw new Error(`direction has ${v.length} entries, the attn group ${end - start}`);
  const at = (sign: number) => {
    scratch.set(theta);
    for (let i = 0; i < v.length; i++) scratch[start + i] = theta[start + i] + sign * opts.eps * v[i];
    return centroids(layout, scratch, probes, opts.kind);
  };
  const plus = at(1);
  const minus = at(-1);
  let s = 0;
  for (let i = 0; i < plus.length; i++) {
    const diff = plus[i] - minus[i];
    s += diff * diff;
  }
  const n = probes.pairs.a.length;
  return s / n / (2 * opts.eps) ** 2;
}

export function attnNorm(layout: Layout, theta: Float32Array): number {
  const { start, end } = groupRange(layout, "attn");
  let s = 0;
  for (let i = start; i < end; i++) s += theta[i] * theta[i];
  return Math.sqrt(s);
}

export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error("median of an empty list");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface CouplingResult {
  /** A(v_k) for each direction of the basis. */
  A: number[];
  /** R_k = A(v_k) / median A(random). */
  R: number[];
  Rbar: number;
}

export interface Coupling {
  eps: number;
  /** A of each random direction, and their median (the shared baseline). */
  Arandom: number[];
  medianRandom: number;
  /** Per named basis (e.g. "update", "gradient"). */
  bases: Record<string, CouplingResult>;
}

/**
 * Coupling of several bases against one shared random baseline at theta. `epsRel` scales with ‖θ_attn‖ as in
 * the paper (ε = 0.005·‖θ_attn‖). 2·(Σ|basis| + |random|) centroid passes.
 */
export function coupling(
  layout: Layout,
  theta: Float32Array,
  probes: Probes,
  bases: Record<string, Float32Array[]>,
  randomDirs: Float32Array[],
  opts: { kind: CentroidKind; epsRel: number },
): Coupling {
  const eps = opts.epsRel * attnNorm(layout, theta);
  const scratch = new Float32Array(theta.length);
  const A = (v: Float32Array) => response(layout, theta, probes, v, { kind: opts.kind, eps }, scratch);
  const Arandom = randomDirs.map(A);
  const medianRandom = median(Arandom);
  const out: Record<string, CouplingResult> = {};
  for (const [name, basis] of Object.entries(bases)) {
    const a = basis.map(A);
    const R = a.map((x) => x / medianRandom);
    out[name] = { A: a, R, Rbar: R.length ? R.reduce((s, x) => s + x, 0) / R.length : Number.NaN };
  }
  return { eps, Arandom, medianRandom, bases: out };
}
