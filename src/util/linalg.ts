// Small dense linear algebra for SED: a Jacobi eigensolver for W×W Gram matrices (W ≤ 64), top-k eigenpairs of
// larger PSD matrices (per-example Grams, centroid covariances) by filtered subspace iteration, and
// float64-accumulating kernels over long (P ≈ 131k) Float32 rows. Pure functions over typed arrays.
import { Rng } from "./rng";

/** A long vector: parameter rows are Float32, internal work vectors Float64. */
export type Vec = Float32Array | Float64Array;

export interface SymmetricEigen {
  /** Eigenvalues, descending. */
  values: Float64Array;
  /** Eigenvectors as columns of a row-major n×n matrix: vector j is vectors[i*n + j], i = 0..n-1. */
  vectors: Float64Array;
}

const MAX_SWEEPS = 100;

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major) by cyclic Jacobi rotations.
 * Jacobi rather than QR because n is tiny (a window length) and Jacobi gives small eigenvalues
 * of positive semi-definite Gram matrices to high relative accuracy.
 * The input is symmetrised ((A + Aᵀ)/2, a no-op for symmetric input) and not modified.
 * Sign convention: each eigenvector's largest-|component| entry (first such index on ties) is positive.
 * Ties in eigenvalue keep the order in which Jacobi left them (deterministic for a given input).
 */
export function symmetricEigen(A: Float64Array, n: number): SymmetricEigen {
  if (!Number.isInteger(n) || n < 0 || A.length !== n * n) {
    throw new RangeError(`symmetricEigen: matrix of length ${A.length} is not ${n}×${n}`);
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) a[i * n + j] = 0.5 * (A[i * n + j] + A[j * n + i]);
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const app = a[p * n + p];
        const aqq = a[q * n + q];
        const g = 100 * Math.abs(apq);
        // Once |a_pq| is below rounding of both diagonal entries, rotating cannot change them: zero it so
        // that the sweep loop terminates with an exactly diagonal matrix (Numerical Recipes' criterion).
        if (sweep > 3 && Math.abs(app) + g === Math.abs(app) && Math.abs(aqq) + g === Math.abs(aqq)) {
          a[p * n + q] = 0;
          a[q * n + p] = 0;
          continue;
        }
        const theta = (aqq - app) / (2 * apq);
        // Smaller root of t² + 2tθ − 1 = 0 (rotation angle ≤ π/4) for stability; 1/(2θ) avoids θ² overflow.
        const t =
          Math.abs(theta) > 1e150
            ? 1 / (2 * theta)
            : (theta < 0 ? -1 : 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J: columns p, q then rows p, q (symmetric entries get bitwise-identical updates).
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }

  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => a[j * n + j] - a[i * n + i] || i - j);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let jj = 0; jj < n; jj++) {
    const j = order[jj];
    values[jj] = a[j * n + j];
    let big = 0;
    for (let i = 1; i < n; i++) if (Math.abs(v[i * n + j]) > Math.abs(v[big * n + j])) big = i;
    const sign = v[big * n + j] < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) vectors[i * n + jj] = sign * v[i * n + j];
  }
  return { values, vectors };
}

/** Σ a_i b_i accumulated in float64 (four partial sums for speed; the order is fixed, so the result is
 * deterministic and dot(a, b) === dot(b, a) bitwise). */
export function dot(a: Vec, b: Vec): number {
  const n = a.length;
  if (b.length !== n) throw new RangeError(`dot: lengths differ (${n} vs ${b.length})`);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n4 = n - (n % 4);
  for (let i = 0; i < n4; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (let i = n4; i < n; i++) s0 += a[i] * b[i];
  return s0 + s1 + (s2 + s3);
}

/**
 * rows_t · x for every row, four rows per pass over x (x is read once per four rows), each accumulated in
 * float64 in index order. Not bitwise equal to dot(), which splits the sum into four partial sums.
 */
export function dots(rows: readonly Vec[], x: Vec): Float64Array {
  const n = x.length;
  const out = new Float64Array(rows.length);
  for (const r of rows)
    if (r.length !== n) throw new RangeError(`dots: lengths differ (${r.length} vs ${n})`);
  let t = 0;
  for (; t + 4 <= rows.length; t += 4) {
    const [a, b, c, d] = [rows[t], rows[t + 1], rows[t + 2], rows[t + 3]];
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i];
      s0 += a[i] * xi;
      s1 += b[i] * xi;
      s2 += c[i] * xi;
      s3 += d[i] * xi;
    }
    out[t] = s0;
    out[t + 1] = s1;
    out[t + 2] = s2;
    out[t + 3] = s3;
  }
  for (; t < rows.length; t++) {
    const r = rows[t];
    let s = 0;
    for (let i = 0; i < n; i++) s += r[i] * x[i];
    out[t] = s;
  }
  return out;
}

/** acc ← acc + Σ_t coef_t · rows_t, four rows per pass over acc; returns acc. */
export function combine(rows: readonly Vec[], coef: ArrayLike<number>, acc: Float64Array): Float64Array {
  const n = acc.length;
  for (const r of rows)
    if (r.length !== n) throw new RangeError(`combine: lengths differ (${r.length} vs ${n})`);
  const live = rows.map((r, t) => ({ r, c: coef[t] })).filter((x) => x.c !== 0);
  let t = 0;
  for (; t + 4 <= live.length; t += 4) {
    const [a, b, c, d] = [live[t].r, live[t + 1].r, live[t + 2].r, live[t + 3].r];
    const [ca, cb, cc, cd] = [live[t].c, live[t + 1].c, live[t + 2].c, live[t + 3].c];
    for (let i = 0; i < n; i++) acc[i] += ca * a[i] + cb * b[i] + cc * c[i] + cd * d[i];
  }
  for (; t < live.length; t++) axpy(live[t].c, live[t].r, acc);
  return acc;
}

export function norm(a: Vec): number {
  return Math.sqrt(dot(a, a));
}

/** y ← y + alpha·x, in place; returns y. */
export function axpy<T extends Vec>(alpha: number, x: Vec, y: T): T {
  if (x.length !== y.length) throw new RangeError(`axpy: lengths differ (${x.length} vs ${y.length})`);
  for (let i = 0; i < y.length; i++) y[i] += alpha * x[i];
  return y;
}

/** out ← alpha·x (in place by default); returns out. */
export function scale<T extends Vec>(x: T, alpha: number, out: Vec = x): T {
  if (out.length !== x.length) throw new RangeError(`scale: lengths differ (${x.length} vs ${out.length})`);
  for (let i = 0; i < x.length; i++) out[i] = alpha * x[i];
  return out as T;
}

/** Gram matrix G_ij = rows_i · rows_j (W×W row-major, float64). */
export function gram(rows: readonly Vec[]): Float64Array {
  const w = rows.length;
  const g = new Float64Array(w * w);
  for (let i = 0; i < w; i++) {
    for (let j = i; j < w; j++) {
      const d = dot(rows[i], rows[j]);
      g[i * w + j] = d;
      g[j * w + i] = d;
    }
  }
  return g;
}

/**
 * Orthonormal basis (float64) of span(vectors) by modified Gram–Schmidt applied twice ("twice is enough").
 * A vector whose residual after projection is ≤ relTol of its own norm counts as dependent and is dropped,
 * so the result may be shorter than the input. relTol defaults to 1e-6, the float32 noise level.
 */
export function orthonormalize64(vectors: readonly Vec[], relTol = 1e-6): Float64Array[] {
  const q: Float64Array[] = [];
  for (const v of vectors) {
    const x = new Float64Array(v);
    const n0 = norm(x);
    if (!(n0 > 0)) continue;
    for (let pass = 0; pass < 2; pass++) for (const b of q) axpy(-dot(b, x), b, x);
    const n1 = norm(x);
    if (!(n1 > relTol * n0)) continue;
    q.push(scale(x, 1 / n1));
  }
  return q;
}

/** Float32 orthonormal basis of span(vectors); see orthonormalize64 (the work is done in float64). */
export function orthonormalize(vectors: readonly Vec[], relTol = 1e-6): Float32Array[] {
  return orthonormalize64(vectors, relTol).map((x) => new Float32Array(x));
}

/**
 * Cholesky factor of a symmetric positive-definite n×n matrix (row-major; only the lower triangle is read):
 * L lower-triangular, row-major, with A = L Lᵀ. Throws when a pivot is not positive (A not positive definite).
 */
export function cholesky(A: Float64Array, n: number): Float64Array {
  if (!Number.isInteger(n) || n < 0 || A.length !== n * n)
    throw new RangeError(`cholesky: matrix of length ${A.length} is not ${n}×${n}`);
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = A[ri + j];
      for (let k = 0; k < j; k++) s -= L[ri + k] * L[rj + k];
      if (i === j) {
        if (!(s > 0))
          throw new RangeError(`cholesky: pivot ${i} is ${s}; the matrix is not positive definite`);
        L[ri + i] = Math.sqrt(s);
      } else {
        L[ri + j] = s / L[rj + j];
      }
    }
  }
  return L;
}

/** x with L Lᵀ x = b, for L from cholesky (forward then back substitution). */
export function choleskySolve(L: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  if (L.length !== n * n || b.length !== n)
    throw new RangeError(`choleskySolve: L has length ${L.length}, b ${b.length}, n = ${n}`);
  const x = Float64Array.from(b);
  for (let i = 0; i < n; i++) {
    let s = x[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * x[k];
    x[i] = s / L[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}

/** k orthonormal length-P vectors spanning a uniformly random k-dimensional subspace (QR of a P×k Gaussian). */
export function randomFrame(P: number, k: number, rng: Rng): Float32Array[] {
  if (k > P) throw new RangeError(`randomFrame: k = ${k} > P = ${P}`);
  const g = Array.from({ length: k }, () => rng.fillNormal(new Float32Array(P)));
  const q = orthonormalize(g);
  if (q.length !== k) throw new Error("randomFrame: Gaussian draw was rank deficient");
  return q;
}

/**
 * Principal angles (radians, ascending) between span(A) and span(B); min(rank A, rank B) of them.
 * Inputs need not be orthonormal: both are orthonormalised in float64 first.
 * Cosines are the singular values of QaᵀQb (eigen of (QaᵀQb)ᵀ(QaᵀQb)), clamped to [0, 1]. Angles below π/4
 * come instead from the sines — singular values of the residual Qb − Qa(QaᵀQb) — because acos(1 − δ) ≈ √(2δ)
 * would turn 1e-16 rounding in the cosine into 1e-8 rad error (Knyazev & Argentati 2002).
 */
export function principalAngles(A: readonly Vec[], B: readonly Vec[]): number[] {
  let qa = orthonormalize64(A);
  let qb = orthonormalize64(B);
  if (qa.length < qb.length) [qa, qb] = [qb, qa];
  const ka = qa.length;
  const m = qb.length;
  if (m === 0) return [];
  const M = new Float64Array(ka * m);
  for (let i = 0; i < ka; i++) for (let j = 0; j < m; j++) M[i * m + j] = dot(qa[i], qb[j]);
  const C = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let r = 0; r < ka; r++) s += M[r * m + i] * M[r * m + j];
      C[i * m + j] = s;
    }
  }
  const cos2 = symmetricEigen(C, m).values;
  const resid = qb.map((b, j) => {
    const r = new Float64Array(b);
    for (let i = 0; i < ka; i++) axpy(-M[i * m + j], qa[i], r);
    return r;
  });
  const sin2 = symmetricEigen(gram(resid), m).values;
  const clamp01 = (x: number) => Math.min(1, Math.max(0, x));
  const angles: number[] = [];
  for (let i = 0; i < m; i++) {
    // i-th largest cosine pairs with the i-th smallest sine.
    const c = Math.sqrt(clamp01(cos2[i]));
    const s = Math.sqrt(clamp01(sin2[m - 1 - i]));
    angles.push(c > Math.SQRT1_2 ? Math.asin(s) : Math.acos(c));
  }
  return angles.sort((x, y) => x - y);
}

/**
 * keep → V Vᵀ g, remove → g − V Vᵀ g, for orthonormal V. Coefficients Vᵀg and each output entry are
 * accumulated in float64 and rounded once. `out` may alias g; a fresh array of g's type is made otherwise.
 */
export function project<T extends Vec>(g: T, V: readonly Vec[], mode: "keep" | "remove", out?: T): T {
  const n = g.length;
  const res = out ?? ((g instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as T);
  if (res.length !== n) throw new RangeError(`project: out has length ${res.length}, expected ${n}`);
  const k = V.length;
  const coef = V.map((v) => dot(v, g)); // before any write, so out may alias g
  const keep = mode === "keep";
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += coef[j] * V[j][i];
    res[i] = keep ? s : g[i] - s;
  }
  return res;
}

export interface TopEigen {
  /** The k largest eigenvalues, descending. */
  values: number[];
  /** Their unit eigenvectors (length n each). */
  vectors: Float64Array[];
  /** "jacobi" (n ≤ block: the dense Jacobi of util/linalg) or "subspace" (Chebyshev-filtered subspace
   * iteration). */
  method: "jacobi" | "subspace";
  /** Rayleigh–Ritz steps taken (each after `degree` products with the matrix). */
  iterations: number;
  /** max_k ‖A u_k − λ_k u_k‖ / λ_1 at the end. */
  residual: number;
  converged: boolean;
}

export interface TopEigenOptions {
  /** Stop once max_k ‖A u_k − λ_k u_k‖ ≤ tol · λ_1 (default 1e-8; a float32 Gram is itself good to ~1e-6). */
  tol?: number;
  /** Most Rayleigh–Ritz steps (default 500). */
  maxIter?: number;
  /** Subspace size (default min(n, 2k + 10)); the dense Jacobi on the whole matrix when n ≤ block. */
  block?: number;
  /** Chebyshev filter degree between Rayleigh–Ritz steps (default 8; 1 = plain subspace iteration). */
  degree?: number;
  seed?: number;
}

/**
 * Top-k eigenpairs of a symmetric positive semi-definite n × n matrix (row-major float64) by Chebyshev-filtered
 * subspace iteration (Zhou & Saad 2007) with Rayleigh–Ritz (Jacobi on the block × block projection): between
 * Rayleigh–Ritz steps the block is multiplied by the degree-m Chebyshev polynomial that is small on [0, θ_s]
 * (θ_s the block's smallest Ritz value) and grows fast above it, damping the unwanted spectrum like
 * exp(−m·arccosh(λ_k/θ_s)) instead of plain iteration's (θ_s/λ_k)^m. The dense Jacobi of util/linalg costs
 * ~15 s at n = 512; one product with the block costs n²·block.
 */
export function topEigenpairs(A: Float64Array, n: number, k: number, opts: TopEigenOptions = {}): TopEigen {
  if (!Number.isInteger(n) || n < 1 || A.length !== n * n)
    throw new RangeError(`topEigenpairs: matrix of length ${A.length} is not ${n}×${n}`);
  if (!Number.isInteger(k) || k < 1 || k > n) throw new RangeError(`topEigenpairs: k = ${k} for n = ${n}`);
  const tol = opts.tol ?? 1e-8;
  const maxIter = opts.maxIter ?? 500;
  const degree = Math.max(1, Math.floor(opts.degree ?? 8));
  const s = Math.min(n, Math.max(k, opts.block ?? 2 * k + 10));
  const residualOf = (values: number[], vectors: Float64Array[], products: Float64Array[]) => {
    const scaleRef = Math.max(Math.abs(values[0]), Number.MIN_VALUE);
    const t = new Float64Array(n);
    let worst = 0;
    for (let j = 0; j < k; j++) {
      t.set(products[j]);
      axpy(-values[j], vectors[j], t);
      worst = Math.max(worst, norm(t) / scaleRef);
    }
    return worst;
  };
  // Y = A X for a block of columns: row i of A against four columns at a time (A's row stays in cache; ~2×
  // faster in V8 than a row-major block product with a short inner loop).
  const mulBlock = (X: Float64Array[], Y: Float64Array[]) => {
    const w = X.length;
    for (let i = 0; i < n; i++) {
      const r = i * n;
      let j = 0;
      for (; j + 4 <= w; j += 4) {
        const x0 = X[j];
        const x1 = X[j + 1];
        const x2 = X[j + 2];
        const x3 = X[j + 3];
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        for (let l = 0; l < n; l++) {
          const a = A[r + l];
          a0 += a * x0[l];
          a1 += a * x1[l];
          a2 += a * x2[l];
          a3 += a * x3[l];
        }
        Y[j][i] = a0;
        Y[j + 1][i] = a1;
        Y[j + 2][i] = a2;
        Y[j + 3][i] = a3;
      }
      for (; j < w; j++) {
        const x = X[j];
        let acc = 0;
        for (let l = 0; l < n; l++) acc += A[r + l] * x[l];
        Y[j][i] = acc;
      }
    }
  };
  if (s === n) {
    const e = symmetricEigen(A, n);
    const values = Array.from(e.values.subarray(0, k));
    const vectors = values.map((_, j) => Float64Array.from({ length: n }, (_, i) => e.vectors[i * n + j]));
    const products = vectors.map(() => new Float64Array(n));
    mulBlock(vectors, products);
    const residual = residualOf(values, vectors, products);
    return { values, vectors, method: "jacobi", iterations: 0, residual, converged: residual <= tol };
  }
  const rng = new Rng(opts.seed ?? 0x5ed);
  const gauss = () => Float64Array.from({ length: n }, () => rng.normal());
  // Orthonormalise in place (modified Gram–Schmidt twice); a column that vanishes (A of rank < s) is replaced by
  // a fresh random vector, so the block stays an orthonormal basis.
  const orth = (Q: Float64Array[]) => {
    for (let j = 0; j < Q.length; j++) {
      for (let attempt = 0; ; attempt++) {
        const n0 = norm(Q[j]);
        for (let pass = 0; pass < 2; pass++) for (let l = 0; l < j; l++) axpy(-dot(Q[l], Q[j]), Q[l], Q[j]);
        const n1 = norm(Q[j]);
        if (n1 > 1e-10 * n0 && n1 > 0) {
          for (let i = 0; i < n; i++) Q[j][i] /= n1;
          break;
        }
        if (attempt > 3) throw new Error("topEigenpairs: cannot complete an orthonormal block");
        Q[j] = gauss();
      }
    }
  };
  const block = () => Array.from({ length: s }, () => new Float64Array(n));
  let Q = Array.from({ length: s }, gauss);
  orth(Q);
  let Z = block();
  const T = new Float64Array(s * s);
  let values: number[] = [];
  let residual = Number.POSITIVE_INFINITY;
  let it = 0;
  for (;;) {
    // Rayleigh–Ritz: T = Qᵀ A Q, then Q ← Q S, Z ← Z S (so Z = A Q still).
    it++;
    mulBlock(Q, Z);
    for (let a = 0; a < s; a++)
      for (let b = a; b < s; b++) {
        const v = 0.5 * (dot(Q[a], Z[b]) + dot(Q[b], Z[a]));
        T[a * s + b] = v;
        T[b * s + a] = v;
      }
    const e = symmetricEigen(T, s);
    const rot = (M: Float64Array[]) =>
      Array.from({ length: s }, (_, c) => {
        const out = new Float64Array(n);
        for (let l = 0; l < s; l++) axpy(e.vectors[l * s + c], M[l], out);
        return out;
      });
    Q = rot(Q);
    Z = rot(Z);
    values = Array.from(e.values.subarray(0, k));
    residual = residualOf(values, Q, Z);
    if (residual <= tol || it >= maxIter) break;
    // Filter on [0, hi]: Y_1 = (A − c)Q / h, Y_{j+1} = 2(A − c)Y_j / h − Y_{j−1} (c, h the centre and half-width),
    // each pair rescaled by a common factor (the span is what matters) so nothing overflows.
    const hi = e.values[s - 1];
    const top = Math.abs(e.values[0]);
    if (degree === 1 || !(hi > 1e-6 * top)) {
      // Plain step (the unwanted spectrum is numerically zero: nothing to filter against).
      Q = Z.map((z) => Float64Array.from(z));
    } else {
      const c = hi / 2;
      const h = hi / 2;
      let prev = Q;
      let cur = Z.map((z, j) => Float64Array.from(z, (x, i) => (x - c * Q[j][i]) / h));
      const AY = block();
      for (let d = 2; d <= degree; d++) {
        mulBlock(cur, AY);
        const next = AY.map((y, j) =>
          Float64Array.from(y, (x, i) => (2 * (x - c * cur[j][i])) / h - prev[j][i]),
        );
        let big = 0;
        for (const col of next) big = Math.max(big, norm(col));
        const f = big > 0 ? 1 / big : 1;
        for (let j = 0; j < s; j++)
          for (let i = 0; i < n; i++) {
            next[j][i] *= f;
            cur[j][i] *= f;
          }
        prev = cur;
        cur = next;
      }
      Q = cur;
    }
    orth(Q);
  }
  return {
    values,
    vectors: Q.slice(0, k),
    method: "subspace",
    iterations: it,
    residual,
    converged: residual <= tol,
  };
}
