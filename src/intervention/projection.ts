// The projections of causal interventions (paper §5, the author's sed_intervention_grad.py / sed_intervention.py): each step,
// replace the attention group's clipped gradient g (or, with projection "update", its AdamW displacement) by
// its projection onto — or away from — a rank-k subspace: the SED subspace of the last W applied rows, or a
// fresh random one. Everything else trains as usual.
import { RANK_RTOL, type RowWindow } from "../sed/rollingSvd";
import { frame3KernelFor } from "../util/frameBuffer";
import { combine, dot, dots, symmetricEigen } from "../util/linalg";

/** A rank-k projection done implicitly through the window's rows (see projectOnWindow). */
export interface WindowProjection {
  /** Coefficients β over the window's rows (oldest first): the kept part of g is Σ_t β_t r_t. */
  beta: Float64Array;
  /** ‖VVᵀg‖ / ‖g‖ (0 when g is 0). */
  keptFraction: number;
  /** The output's dot products with the window's rows and its squared norm: a free RowWindow.push. */
  applied: { dots: Float64Array; self: number };
}

/**
 * Project g onto the span of the top-k right singular vectors of the window's rows without forming them:
 * with G = RRᵀ = UΛUᵀ, v_j = Rᵀu_j/√λ_j, so VVᵀg = Rᵀβ with β = Σ_j u_j (u_j·Rg)/λ_j. Two passes over the W
 * rows (Rg, then Rᵀβ) instead of k·W·P to build V; the output's Gram entries follow from G (keep: Gβ;
 * remove: Rg − Gβ). Writes into `out` (may alias g): keep → VVᵀg, remove → g − VVᵀg.
 */
export function projectOnWindow(
  window: RowWindow,
  k: number,
  g: Float32Array,
  mode: "keep" | "remove",
  out: Float32Array = g,
): WindowProjection {
  const w = window.size;
  const G = window.gram();
  const { values, vectors } = symmetricEigen(G, w);
  let trace = 0;
  for (let i = 0; i < w; i++) trace += G[i * w + i];
  const h = window.dots(g);
  const beta = new Float64Array(w);
  for (let j = 0; j < Math.min(k, w); j++) {
    const lam = values[j];
    if (!(lam > RANK_RTOL * trace && lam > 0)) break; // below the rank tolerance: not a direction
    let c = 0;
    for (let t = 0; t < w; t++) c += vectors[t * w + j] * h[t];
    c /= lam;
    for (let t = 0; t < w; t++) beta[t] += vectors[t * w + j] * c;
  }
  const Gbeta = new Float64Array(w);
  let kept2 = 0;
  for (let s = 0; s < w; s++) {
    for (let t = 0; t < w; t++) Gbeta[s] += G[s * w + t] * beta[t];
    kept2 += beta[s] * Gbeta[s];
  }
  const gNorm2 = dot(g, g);
  const keep = mode === "keep";
  const self = window.combineInto(beta, g, mode, out);
  const appliedDots = keep ? Gbeta : h.map((x, t) => x - Gbeta[t]);
  return {
    beta,
    keptFraction: gNorm2 > 0 ? Math.sqrt(Math.max(kept2, 0) / gNorm2) : 0,
    applied: { dots: appliedDots, self },
  };
}

/**
 * keep → QQᵀg, remove → g − QQᵀg where Q is the orthonormal frame of the k Gaussian columns Z (QR of Z, as the
 * author's script draws it) — computed as Z(ZᵀZ)⁻¹Zᵀg, the same projector, without orthonormalising Z.
 * `z` holds the k columns of length P back to back. In place on g; returns ‖QQᵀg‖/‖g‖.
 */
export function projectOnGaussian(
  z: Float32Array,
  k: number,
  g: Float32Array,
  mode: "keep" | "remove",
): number {
  const P = g.length;
  if (z.length !== k * P)
    throw new RangeError(`projectOnGaussian: z has ${z.length} entries, expected ${k}×${P}`);
  const Z = Array.from({ length: k }, (_, j) => z.subarray(j * P, (j + 1) * P));
  if (k === 3) return projectOnGaussian3(z, Z, g, mode);
  const c = dots(Z, g);
  const M = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    const row = dots(Z.slice(j), Z[j]);
    for (let i = j; i < k; i++) {
      M[j * k + i] = row[i - j];
      M[i * k + j] = row[i - j];
    }
  }
  const a = solveSpd(M, c, k);
  const acc = combine(Z, a, new Float64Array(P));
  const gNorm2 = dot(g, g);
  if (mode === "keep") for (let i = 0; i < P; i++) g[i] = acc[i];
  else for (let i = 0; i < P; i++) g[i] -= acc[i];
  let kept2 = 0;
  for (let j = 0; j < k; j++) kept2 += a[j] * c[j]; // ‖Za‖² = aᵀZᵀZa = aᵀc
  return gNorm2 > 0 ? Math.sqrt(Math.max(kept2, 0) / gNorm2) : 0;
}

/**
 * projectOnGaussian for k = 3 (the paper's rank, run every step): Zᵀg, ZᵀZ and ‖g‖² in one pass over the frame
 * (the general path makes ten), and the projection written straight into g — on the polar kernel when z is a
 * normalBuffer with room to stage g (bitwise this JavaScript, ~3× faster).
 */
function projectOnGaussian3(
  z: Float32Array,
  Z: Float32Array[],
  g: Float32Array,
  mode: "keep" | "remove",
): number {
  const kernel = frame3KernelFor(z, g.length);
  const [c0, c1, c2, m00, m01, m02, m11, m12, m22, gg] = kernel ? kernel.sums(g) : frameSums3(Z, g);
  const M = Float64Array.of(m00, m01, m02, m01, m11, m12, m02, m12, m22);
  const c = [c0, c1, c2];
  const a = solveSpd(M, c, 3);
  const [a0, a1, a2] = a;
  if (kernel) kernel.write(g, a, mode === "remove");
  else {
    const [z0, z1, z2] = Z;
    const P = g.length;
    if (mode === "keep") for (let i = 0; i < P; i++) g[i] = a0 * z0[i] + a1 * z1[i] + a2 * z2[i];
    else for (let i = 0; i < P; i++) g[i] -= a0 * z0[i] + a1 * z1[i] + a2 * z2[i];
  }
  const kept2 = a0 * c0 + a1 * c1 + a2 * c2; // ‖Za‖² = aᵀZᵀZa = aᵀc
  return gg > 0 ? Math.sqrt(Math.max(kept2, 0) / gg) : 0;
}

/** c = Zᵀg, ZᵀZ and ‖g‖² of a 3-frame, each summed in index order: c0 c1 c2 m00 m01 m02 m11 m12 m22 gg. */
function frameSums3(Z: Float32Array[], g: Float32Array): number[] {
  const [z0, z1, z2] = Z;
  let c0 = 0;
  let c1 = 0;
  let c2 = 0;
  let m00 = 0;
  let m01 = 0;
  let m02 = 0;
  let m11 = 0;
  let m12 = 0;
  let m22 = 0;
  let gg = 0;
  for (let i = 0; i < g.length; i++) {
    const a = z0[i];
    const b = z1[i];
    const d = z2[i];
    const x = g[i];
    c0 += a * x;
    c1 += b * x;
    c2 += d * x;
    m00 += a * a;
    m01 += a * b;
    m02 += a * d;
    m11 += b * b;
    m12 += b * d;
    m22 += d * d;
    gg += x * x;
  }
  return [c0, c1, c2, m00, m01, m02, m11, m12, m22, gg];
}

/** Solve M x = b for a symmetric positive definite k×k M by Cholesky (float64). */
function solveSpd(M: Float64Array, b: ArrayLike<number>, k: number): Float64Array {
  const L = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = M[i * k + j];
      for (let r = 0; r < j; r++) s -= L[i * k + r] * L[j * k + r];
      if (i === j) {
        if (!(s > 0)) throw new Error("projectOnGaussian: Gaussian frame is rank deficient");
        L[i * k + i] = Math.sqrt(s);
      } else L[i * k + j] = s / L[j * k + j];
    }
  }
  const y = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let s = b[i];
    for (let r = 0; r < i; r++) s -= L[i * k + r] * y[r];
    y[i] = s / L[i * k + i];
  }
  const x = new Float64Array(k);
  for (let i = k - 1; i >= 0; i--) {
    let s = y[i];
    for (let r = i + 1; r < k; r++) s -= L[r * k + i] * x[r];
    x[i] = s / L[i * k + i];
  }
  return x;
}
