// Coupling of weight-space directions to the linear centroids: how much the centroids move when the attention
// weights are nudged along a direction, relative to random directions of the same norm.
//   A(v)  = mean over probes ‖μ(θ + εv) − μ(θ − εv)‖² / (2ε)²,   ε = ε_rel · ‖θ_attn‖, only θ_attn perturbed
//   R_k   = A(v_k) / median_j A(r_j),   R̄ = mean of R_1..R_K
// In a multitask model each task has its own centroids (its head's logits), so A, the baseline and R_k are
// per task: `couplingHeads` evaluates each direction once for all the heads that ask for it.

import { groupRange, type Layout } from "../model/params";
import { type CentroidKind, centroidsHeads, type Probes } from "./centroids";

export interface ResponseOptions {
  kind: CentroidKind;
  /** Absolute step ε along the unit direction. */
  eps: number;
  /** Whose centroids (multitask: the head's index in layout.heads); default the first. */
  head?: number;
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
  return responses(layout, theta, probes, v, [opts.head ?? 0], opts, scratch)[0];
}

/** A(v) of each head in `heads` (its own centroids), from the same two perturbed forward passes. */
export function responses(
  layout: Layout,
  theta: Float32Array,
  probes: Probes,
  v: Float32Array,
  heads: readonly number[],
  opts: Omit<ResponseOptions, "head">,
  scratch = new Float32Array(theta.length),
): number[] {
  const { start, end } = groupRange(layout, "attn");
  if (v.length !== end - start)
    throw new Error(`direction has ${v.length} entries, the attn group ${end - start}`);
  const at = (sign: number) => {
    scratch.set(theta);
    for (let i = 0; i < v.length; i++) scratch[start + i] = theta[start + i] + sign * opts.eps * v[i];
    return centroidsHeads(layout, scratch, probes, opts.kind, heads);
  };
  const plus = at(1);
  const minus = at(-1);
  const n = probes.pairs.a.length;
  return heads.map((_, j) => {
    let s = 0;
    for (let i = 0; i < plus[j].length; i++) {
      const diff = plus[j][i] - minus[j][i];
      s += diff * diff;
    }
    return s / n / (2 * opts.eps) ** 2;
  });
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
 * the paper (ε = 0.005·‖θ_attn‖). 2·(Σ|basis| + |random|) centroid passes. `head`: whose centroids (multitask).
 */
export function coupling(
  layout: Layout,
  theta: Float32Array,
  probes: Probes,
  bases: Record<string, Float32Array[]>,
  randomDirs: Float32Array[],
  opts: { kind: CentroidKind; epsRel: number; head?: number },
): Coupling {
  const head = opts.head ?? 0;
  return couplingHeads(layout, theta, probes, { [head]: bases }, randomDirs, opts)[head];
}

/**
 * `coupling` for several heads of a multitask model at once: `bases[h]` are the bases to measure against head
 * h's centroids, each head against its own baseline (the median A of the same random directions, with its own
 * centroids). A direction several heads ask for (the same Float32Array, e.g. a shared update-SED basis vector)
 * costs one pair of perturbed forward passes and one backward per head.
 */
export function couplingHeads(
  layout: Layout,
  theta: Float32Array,
  probes: Probes,
  bases: Record<number, Record<string, Float32Array[]>>,
  randomDirs: Float32Array[],
  opts: { kind: CentroidKind; epsRel: number },
): Record<number, Coupling> {
  const eps = opts.epsRel * attnNorm(layout, theta);
  const scratch = new Float32Array(theta.length);
  const heads = Object.keys(bases).map(Number);
  // Every direction once, with the heads that need it (the random ones: all), in first-asked order.
  const want = new Map<Float32Array, number[]>();
  const ask = (v: Float32Array, h: number) => {
    const list = want.get(v) ?? [];
    if (!list.includes(h)) list.push(h);
    want.set(v, list);
  };
  for (const v of randomDirs) for (const h of heads) ask(v, h);
  for (const h of heads) for (const basis of Object.values(bases[h])) for (const v of basis) ask(v, h);
  const A = new Map<Float32Array, Map<number, number>>();
  for (const [v, hs] of want) {
    const a = responses(layout, theta, probes, v, hs, { kind: opts.kind, eps }, scratch);
    A.set(v, new Map(hs.map((h, i) => [h, a[i]])));
  }
  const at = (v: Float32Array, h: number) => A.get(v)?.get(h) as number;
  const out: Record<number, Coupling> = {};
  for (const h of heads) {
    const Arandom = randomDirs.map((v) => at(v, h));
    const medianRandom = median(Arandom);
    const res: Record<string, CouplingResult> = {};
    for (const [name, basis] of Object.entries(bases[h])) {
      const a = basis.map((v) => at(v, h));
      const R = a.map((x) => x / medianRandom);
      res[name] = { A: a, R, Rbar: R.length ? R.reduce((s, x) => s + x, 0) / R.length : Number.NaN };
    }
    out[h] = { eps, Arandom, medianRandom, bases: res };
  }
  return out;
}
