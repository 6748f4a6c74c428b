// Fourier readout of the linear centroids' principal components (the author's
// gradient_sed/diagnostics/fourier_readout.py in skydancerosel/grokking-integrability): the centroids
// μ(x) = ∂z_y/∂e(x) of every pair of the task's grid, their top-k PCs, and for each PC score s_j(x) the R² of
// least-squares fits on Fourier bases of a + b, a, b, the answer y = op(a, b) and (for multiplication) the
// discrete logs. Pure functions over plain arrays; tfjs only inside `centroids`.
import { allPairs, type Pairs, type Task } from "../data/tasks";
import type { Layout } from "../model/params";
import type { PcFourier, PcFourierReadout, SingleOmega } from "../records/results";
import { centred, discreteLog, fourierColumns, isPrime } from "../util/fourier";
import { orthonormalize64, topEigenpairs } from "../util/linalg";
import { centroids, disposeProbes, makeProbes } from "./centroids";
import { checkGrid } from "./functionalModes";

export type { PcFourier, PcFourierReadout, SingleOmega };

/**
 * The "logit" centroids of every pair of the task's grid (allPairs order), [n, 2d] row-major: row i is
 * [∂z_y/∂e at position 0, at position 1] of pair i, the author's `grad.reshape(N, -1)` of the [N, 2, d]
 * embedding gradient (fourier_readout.py:74-85, full-grid probes :240-245).
 */
export function centroidMatrix(layout: Layout, theta: Float32Array, task: Task): Float32Array {
  const { p, d } = layout.sizes;
  if (task.p !== p) throw new Error(`centroidMatrix: task has p = ${task.p}, the model p = ${p}`);
  const pairs = allPairs(task);
  const n = pairs.a.length;
  const probes = makeProbes(pairs, p);
  let flat: Float32Array;
  try {
    flat = centroids(layout, theta, probes, "logit");
  } finally {
    disposeProbes(probes);
  }
  // The engine's layout: rows 0..n−1 are position 0, rows n..2n−1 position 1.
  const out = new Float32Array(n * 2 * d);
  for (let i = 0; i < n; i++) {
    out.set(flat.subarray(i * d, (i + 1) * d), i * 2 * d);
    out.set(flat.subarray((n + i) * d, (n + i + 1) * d), i * 2 * d + d);
  }
  return out;
}

export interface CentroidPcs {
  /** PC score vectors s_j = X_c·u_j (length n each), j = 0..k−1: the author's U[:, :K]·S[:K]. */
  scores: Float64Array[];
  /** The PCs' directions u_j in centroid space (length dim each, unit). */
  directions: Float64Array[];
  /** Explained-variance share λ_j / Σλ over all dim components (the author's ev_n). */
  share: number[];
  /** λ_j = S_j² (sum of squares of the centred matrix along u_j). */
  values: number[];
  /** Σλ = ‖X_c‖²_F. */
  total: number;
}

/**
 * PCA of the column-centred n × dim matrix (row-major) through its dim × dim scatter matrix X_cᵀX_c and the
 * Jacobi eigensolver: the same scores and shares as the author's SVD (fourier_readout.py:283-288:
 * muc = mu − mean, U S Vᵀ = svd(muc), scores = U·S, ev_n = S² / ΣS²). A PC's sign is arbitrary (here: the
 * direction's largest-|component| entry is positive).
 */
export function centroidPcs(matrix: ArrayLike<number>, n: number, dim: number, k = 5): CentroidPcs {
  if (!Number.isInteger(n) || !Number.isInteger(dim) || n < 1 || dim < 1 || matrix.length !== n * dim)
    throw new RangeError(`centroidPcs: matrix of length ${matrix.length} is not ${n}×${dim}`);
  const X = new Float64Array(n * dim);
  const mean = new Float64Array(dim);
  for (let r = 0; r < n; r++) for (let i = 0; i < dim; i++) mean[i] += matrix[r * dim + i];
  for (let i = 0; i < dim; i++) mean[i] /= n;
  for (let r = 0; r < n; r++) for (let i = 0; i < dim; i++) X[r * dim + i] = matrix[r * dim + i] - mean[i];
  // Upper triangle of XᵀX by rank-1 updates (contiguous in both), four rows per pass over C, then mirrored.
  const C = new Float64Array(dim * dim);
  let r = 0;
  for (; r + 4 <= n; r += 4) {
    const o0 = r * dim;
    const o1 = o0 + dim;
    const o2 = o1 + dim;
    const o3 = o2 + dim;
    for (let i = 0; i < dim; i++) {
      const x0 = X[o0 + i];
      const x1 = X[o1 + i];
      const x2 = X[o2 + i];
      const x3 = X[o3 + i];
      const row = i * dim;
      for (let j = i; j < dim; j++)
        C[row + j] += x0 * X[o0 + j] + x1 * X[o1 + j] + x2 * X[o2 + j] + x3 * X[o3 + j];
    }
  }
  for (; r < n; r++) {
    const off = r * dim;
    for (let i = 0; i < dim; i++) {
      const xi = X[off + i];
      const row = i * dim;
      for (let j = i; j < dim; j++) C[row + j] += xi * X[off + j];
    }
  }
  for (let i = 0; i < dim; i++) for (let j = 0; j < i; j++) C[i * dim + j] = C[j * dim + i];
  let total = 0;
  for (let i = 0; i < dim; i++) total += C[i * dim + i];
  const K = Math.max(0, Math.min(k, dim, n));
  // The top K only (subspace iteration: ~0.1 s at dim 256, where the full Jacobi takes ~2 s).
  const top = K > 0 ? topEigenpairs(C, dim, K) : { values: [], vectors: [] };
  const values = top.values;
  const out: CentroidPcs = { scores: [], directions: [], share: [], values: [], total };
  for (let j = 0; j < K; j++) {
    const u = Float64Array.from(top.vectors[j]);
    // Sign: the largest-|component| entry positive.
    let big = 0;
    for (let i = 0; i < dim; i++) if (Math.abs(u[i]) > Math.abs(u[big])) big = i;
    if (u[big] < 0) for (let i = 0; i < dim; i++) u[i] = -u[i];
    const s = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let acc = 0;
      const off = r * dim;
      for (let i = 0; i < dim; i++) acc += X[off + i] * u[i];
      s[r] = acc;
    }
    const lambda = Math.max(0, values[j]);
    out.scores.push(s);
    out.directions.push(u);
    out.values.push(lambda);
    out.share.push(total > 0 ? lambda / total : 0);
  }
  return out;
}

/** R² = ‖projection of the centred y on span(centred columns)‖² / SS_tot; NaN for a constant y (as basisR2). */
function projR2(y: { c: Float64Array; ss: number; sumSq: number }, Q: readonly Float64Array[]): number {
  if (!(y.ss > 1e-28 * y.sumSq)) return Number.NaN;
  let expl = 0;
  for (const q of Q) {
    let d = 0;
    for (let i = 0; i < q.length; i++) d += q[i] * y.c[i];
    expl += d * d;
  }
  return Math.min(1, expl / y.ss);
}

/**
 * Full-Fourier-basis R² without the lstsq: intercept + cos, sin at every ω = 1..⌊n/2⌋ span every function of
 * x mod n (n columns after the vanishing sin at the Nyquist), so the fit is the bucket means of y by x and
 * R² = 1 − SS_within / SS_tot. Exactly the author's lstsq R² (tested against basisR2 on the design columns).
 */
function groupR2(y: { c: Float64Array; ss: number; sumSq: number }, x: Int32Array, n: number): number {
  if (!(y.ss > 1e-28 * y.sumSq)) return Number.NaN;
  const sum = new Float64Array(n);
  const cnt = new Float64Array(n);
  for (let i = 0; i < x.length; i++) {
    sum[x[i]] += y.c[i];
    cnt[x[i]] += 1;
  }
  let between = 0;
  for (let q = 0; q < n; q++) if (cnt[q] > 0) between += (sum[q] * sum[q]) / cnt[q];
  return Math.min(1, between / y.ss);
}

/** Centred, orthonormalised cos/sin columns of one ω at positions x (mod n). */
function omegaBasis(x: Int32Array, n: number, omega: number): Float64Array[] {
  return orthonormalize64(
    fourierColumns(x, n, [omega]).map((col) => centred(col).c),
    1e-9,
  );
}

function singleOmega(ys: ReturnType<typeof centred>[], x: Int32Array, n: number): SingleOmega[] {
  const h = Math.floor(n / 2);
  const curves = ys.map(() => new Array<number>(h));
  for (let w = 1; w <= h; w++) {
    const Q = omegaBasis(x, n, w);
    ys.forEach((y, j) => {
      curves[j][w - 1] = projR2(y, Q);
    });
  }
  return curves.map((r2ByOmega) => {
    let best = 0;
    for (let i = 1; i < h; i++) if (r2ByOmega[i] > r2ByOmega[best]) best = i;
    return { omega: best + 1, r2: r2ByOmega[best], r2ByOmega };
  });
}

/**
 * The author's Fourier readout of PC scores over the task's grid (fourier_readout.py: fit_R2 :90-104 with an
 * intercept column; single-ω fits of a + b, a, b :107-123; full bases :137-191; ω = 1..⌊p/2⌋ :258). The log
 * bases follow the author's condition (:174): p prime and every a, b and y nonzero (multiplication on 1..p−1);
 * otherwise `log` and the full log_* are absent and `logNote` says why. `pairs` defaults to allPairs(task).
 */
export function pcFourierR2(
  scores: readonly ArrayLike<number>[],
  task: Task,
  pairs: Pairs = allPairs(task),
): PcFourierReadout {
  const { p } = task;
  const { lo } = checkGrid(task, pairs);
  const N = pairs.a.length;
  for (const s of scores)
    if (s.length !== N) throw new RangeError(`pcFourierR2: a score has length ${s.length}, the grid ${N}`);
  const ys = scores.map((s) => centred(s));
  const xa = Int32Array.from(pairs.a, (a) => a % p);
  const xb = Int32Array.from(pairs.b, (b) => b % p);
  const xs = Int32Array.from(xa, (a, i) => (a + xb[i]) % p);
  const xy = Int32Array.from(pairs.y, (y) => ((y % p) + p) % p);
  const sum = singleOmega(ys, xs, p);
  const sa = singleOmega(ys, xa, p);
  const sb = singleOmega(ys, xb, p);
  const pcs: PcFourier[] = ys.map((y, j) => {
    const fa = groupR2(y, xa, p);
    const fb = groupR2(y, xb, p);
    return {
      sum: sum[j],
      a: sa[j],
      b: sb[j],
      // The grid is complete and balanced, so the a and b column spaces are orthogonal after centring:
      // the a & b fit explains exactly the a fit plus the b fit.
      full: { sum: groupR2(y, xs, p), a: fa, b: fb, a_b: Math.min(1, fa + fb), y: groupR2(y, xy, p) },
      log: null,
    };
  });
  const out: PcFourierReadout = { p, lo, g: null, pcs };
  const zero = xa.some((a) => a === 0) || xb.some((b) => b === 0) || xy.some((y) => y === 0);
  if (!isPrime(p) || p < 3) {
    out.logNote = `p = ${p} is not an odd prime: no discrete-log basis`;
  } else if (zero) {
    out.logNote =
      "some a, b or answer is 0 mod p (no discrete log): the log bases are read only when none is";
  } else {
    const { g, log } = discreteLog(p);
    const m = p - 1;
    const la = Int32Array.from(xa, (a) => log[a]);
    const lb = Int32Array.from(xb, (b) => log[b]);
    const ly = Int32Array.from(xy, (y) => log[y]);
    const lsum = Int32Array.from(la, (a, i) => (a + lb[i]) % m);
    const single = singleOmega(ys, lsum, m);
    out.g = g;
    ys.forEach((y, j) => {
      const fa = groupR2(y, la, m);
      const fb = groupR2(y, lb, m);
      Object.assign(pcs[j].full, {
        log_a: fa,
        log_b: fb,
        log_a_b: Math.min(1, fa + fb),
        log_y: groupR2(y, ly, m),
      });
      pcs[j].log = single[j];
    });
  }
  return out;
}
