// Fourier readout of functions on Z_p and Z_p × Z_p (Nanda et al. "progress measures"; the author's
// spectral/functional_modes/*.py and gradient_sed/diagnostics/fourier_readout.py in
// skydancerosel/grokking-integrability): DFTs, the power spectrum over ω = 1..⌊n/2⌋, Fourier concentration,
// answer-grouped profiles, least-squares R² on Fourier bases, and the discrete-log basis under which
// multiplication mod p becomes addition mod p − 1. Pure: plain arrays in, plain objects out.
//
// Layout of a field over pairs (everywhere below): row-major side × side, values[i·side + j] ↔
// (a, b) = (lo + i, lo + j). lo = 0 and side = p for the full grid; lo = 1 and side = p − 1 for the
// multiplicative grid a, b ∈ 1..p−1 (the author's `rg = np.arange(lo, P)`, `pa = repeat`, `pb = tile`).

import { cholesky, choleskySolve, orthonormalize64 } from "./linalg";

export interface Complex {
  re: Float64Array;
  im: Float64Array;
}

/** cos/sin of 2πj/n for j = 0..n−1; angles are indexed by (k·x) mod n so large k·x lose no precision. */
function twiddles(n: number): Complex {
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const t = (2 * Math.PI * j) / n;
    re[j] = Math.cos(t);
    im[j] = Math.sin(t);
  }
  return { re, im };
}

/** out[k] = Σ_x z[x] e^{−2πikx/n} for a complex input read at offset + x·stride. */
function dftStrided(
  w: Complex,
  zr: ArrayLike<number>,
  zi: ArrayLike<number> | null,
  offset: number,
  stride: number,
  outRe: Float64Array,
  outIm: Float64Array,
  outOffset: number,
  outStride: number,
): void {
  const n = w.re.length;
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    let j = 0; // j = k·x mod n, stepped by k
    for (let x = 0; x < n; x++) {
      const c = w.re[j];
      const s = w.im[j];
      const ar = zr[offset + x * stride];
      const ai = zi ? zi[offset + x * stride] : 0;
      // (ar + i·ai)(c − i·s)
      sr += ar * c + ai * s;
      si += ai * c - ar * s;
      j += k;
      if (j >= n) j -= n;
    }
    outRe[outOffset + k * outStride] = sr;
    outIm[outOffset + k * outStride] = si;
  }
}

/** DFT over Z_n (n = f.length), unnormalised: F(k) = Σ_x f(x) e^{−2πikx/n}, k = 0..n−1. Direct O(n²). */
export function dft(f: ArrayLike<number>): Complex {
  const n = f.length;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  if (n > 0) dftStrided(twiddles(n), f, null, 0, 1, re, im, 0, 1);
  return { re, im };
}

/**
 * 2-D DFT over Z_n × Z_n of a row-major n×n field: F(k1, k2) = Σ_{a,b} f(a,b) e^{−2πi(k1·a + k2·b)/n},
 * stored at [k1·n + k2]. Rows first, then columns (separable), O(n³).
 */
export function dft2(f: ArrayLike<number>, n: number): Complex {
  if (!Number.isInteger(n) || n < 1 || f.length !== n * n) {
    throw new RangeError(`dft2: expected an n×n field (n = ${n}), got length ${f.length}`);
  }
  const w = twiddles(n);
  const rr = new Float64Array(n * n);
  const ri = new Float64Array(n * n);
  for (let a = 0; a < n; a++) dftStrided(w, f, null, a * n, 1, rr, ri, a * n, 1);
  const re = new Float64Array(n * n);
  const im = new Float64Array(n * n);
  for (let k2 = 0; k2 < n; k2++) dftStrided(w, rr, ri, k2, n, re, im, k2, n);
  return { re, im };
}

/**
 * Power per frequency ω = 1..⌊n/2⌋ (index ω − 1), DC excluded: P(ω) = (|F(ω)|² + |F(−ω)|²) / n², i.e. the
 * cos and sin parts at ±ω together; at the Nyquist ω = n/2 (even n) F(−ω) = F(ω) is counted once. So
 * Σ_ω P(ω) is the (population) variance of f (Parseval). Power below the rounding floor (1e-12·max|f|)²
 * is returned as exactly 0. n defaults to f.length and must equal it.
 */
export function powerSpectrum(f: ArrayLike<number>, n: number = f.length): Float64Array {
  if (n !== f.length) throw new RangeError(`powerSpectrum: n = ${n} but f has length ${f.length}`);
  // The author sums cos² + sin² of the one-sided coefficient over ω = 1..⌊p/2⌋ and normalises by the sum of
  // those alone (DC out of the total): fourier_functional_view.py:232-237, fourier_dlog_mul.py:229-234.
  // Our ×2 off the Nyquist is Parseval's; it changes no share for odd n, and for even n (the dlog basis,
  // n = p − 1) only the weight of ω = n/2, where the author's share is doubled relative to ours.
  // Centre first so rounding scales with the fluctuation, not the DC; then power below (1e-12 · max|f|)² —
  // rounding, not signal — reads as 0, so a flat function has F = 0 rather than the top share of its noise.
  let mean = 0;
  let scale = 0;
  for (let x = 0; x < n; x++) {
    mean += f[x];
    scale = Math.max(scale, Math.abs(f[x]));
  }
  mean /= n;
  const { re, im } = dft(Float64Array.from({ length: n }, (_, x) => f[x] - mean));
  const floor = (1e-12 * scale) ** 2;
  const h = Math.floor(n / 2);
  const out = new Float64Array(h);
  const n2 = n * n;
  for (let w = 1; w <= h; w++) {
    const pos = re[w] * re[w] + im[w] * im[w];
    const neg = re[n - w] * re[n - w] + im[n - w] * im[n - w];
    const pw = (2 * w === n ? pos : pos + neg) / n2;
    out[w - 1] = pw > floor ? pw : 0;
  }
  return out;
}

export interface Concentration {
  /** top-1 power / total non-DC power; 0 for a flat function (no non-DC power). */
  F: number;
  /** The three strongest frequencies, strongest first (ties: lower ω first); share = power / total. */
  top: { omega: number; power: number; share: number }[];
  /** F of a perfectly uniform spectrum, 1 / ⌊n/2⌋. */
  baseline: number;
  total: number;
}

/** Fourier concentration of a spectrum from powerSpectrum (index i ↔ ω = i + 1). */
export function concentration(power: ArrayLike<number>): Concentration {
  const m = power.length;
  if (m === 0) throw new RangeError("concentration: empty spectrum (n < 2 has no non-DC frequency)");
  let total = 0;
  for (let i = 0; i < m; i++) total += power[i];
  // F = top-1 / total, total over ω ≥ 1 only; top-3 by descending power; baseline 1/(P//2):
  // fourier_functional_view.py:237-245 and its figA axhline. The author's +1e-30 makes a flat function's
  // F = 0; we return 0 explicitly.
  const order = Array.from({ length: m }, (_, i) => i).sort((i, j) => power[j] - power[i] || i - j);
  const top = order.slice(0, 3).map((i) => ({
    omega: i + 1,
    power: power[i],
    share: total > 0 ? power[i] / total : 0,
  }));
  return { F: top[0].share, top, baseline: 1 / m, total };
}

function gridSide(len: number, who: string): number {
  const side = Math.round(Math.sqrt(len));
  if (side * side !== len || side < 1) {
    throw new RangeError(`${who}: expected a square side×side field over pairs, got length ${len}`);
  }
  return side;
}

function mod(x: number, n: number): number {
  const r = x % n;
  return r < 0 ? r + n : r;
}

/**
 * Mean of a field over pairs per bucket key(a, b) mod n (a, b = lo + row, lo + column; see the layout at the
 * top): a function on Z_n whose spectrum is then read, e.g. key = (a + b) % p, or (a, b) => a for a alone.
 * key returns an integer, or null to skip the pair (e.g. a·b ≡ 0 has no discrete log). Empty buckets are 0.
 */
export function groupBy(
  values: ArrayLike<number>,
  key: (a: number, b: number) => number | null,
  n: number,
  lo = 0,
): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`groupBy: n must be a positive integer, got ${n}`);
  const side = gridSide(values.length, "groupBy");
  const sum = new Float64Array(n);
  const count = new Float64Array(n);
  for (let i = 0; i < side; i++) {
    for (let j = 0; j < side; j++) {
      const k = key(lo + i, lo + j);
      if (k === null) continue;
      if (!Number.isInteger(k))
        throw new RangeError(`groupBy: key(${lo + i}, ${lo + j}) = ${k} is not an integer`);
      const q = mod(k, n);
      sum[q] += values[i * side + j];
      count[q] += 1;
    }
  }
  // Empty buckets read as 0, as the author's `means /= np.maximum(counts, 1)`: fourier_functional_view.py:229.
  for (let q = 0; q < n; q++) if (count[q] > 0) sum[q] /= count[q];
  return sum;
}

/**
 * Cos/sin columns for the given frequencies at integer positions x (e.g. (a + b) mod p per pair): for each ω,
 * cos(2πωx/n) then sin(2πωx/n). A sin column that vanishes (ω = n/2) is dropped later by basisR2.
 */
export function fourierColumns(x: ArrayLike<number>, n: number, omegas: readonly number[]): Float64Array[] {
  const w = twiddles(n);
  const cols: Float64Array[] = [];
  for (const omega of omegas) {
    const c = new Float64Array(x.length);
    const s = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isInteger(x[i]))
        throw new RangeError(`fourierColumns: x[${i}] = ${x[i]} is not an integer`);
      const j = mod(omega * x[i], n);
      c[i] = w.re[j];
      s[i] = w.im[j];
    }
    cols.push(c, s);
  }
  return cols;
}

/** y minus its mean, that copy's sum of squares (SS_tot) and y's own sum of squares (the scale of "constant"). */
export function centred(y: ArrayLike<number>): { c: Float64Array; ss: number; sumSq: number } {
  const N = y.length;
  let m = 0;
  for (let i = 0; i < N; i++) m += y[i];
  m /= N;
  const c = new Float64Array(N);
  let ss = 0;
  let sumSq = 0;
  for (let i = 0; i < N; i++) {
    c[i] = y[i] - m;
    ss += c[i] * c[i];
    sumSq += y[i] * y[i];
  }
  return { c, ss, sumSq };
}

/**
 * R² of the least-squares fit y ≈ c0 + Σ c_j column_j (intercept always included). Dependent columns are
 * dropped (a projection, like lstsq's minimum-norm solution). NaN when y is constant (R² undefined).
 */
export function basisR2(y: ArrayLike<number>, columns: readonly ArrayLike<number>[]): number {
  const N = y.length;
  const { c: r, ss: ssTot, sumSq } = centred(y);
  if (!(ssTot > 1e-28 * sumSq)) return Number.NaN;
  // Centring y and every column is the intercept; then R² = 1 − SS_res / SS_tot as the author's fit_R2
  // (fourier_readout.py:90-104, lstsq on [1, columns]). Their max(SS_tot, 1e-30) guard is our NaN above.
  const cols = columns.map((col) => {
    if (col.length !== N) throw new RangeError(`basisR2: a column has length ${col.length}, y has ${N}`);
    return centred(col).c;
  });
  for (const q of orthonormalize64(cols, 1e-9)) {
    let d = 0;
    for (let i = 0; i < N; i++) d += q[i] * r[i];
    for (let i = 0; i < N; i++) r[i] -= d * q[i];
  }
  let ssRes = 0;
  for (let i = 0; i < N; i++) ssRes += r[i] * r[i];
  return 1 - ssRes / ssTot;
}

/**
 * R² of y ≈ c0 + c1 cos(2πωx/n) + c2 sin(2πωx/n), x an integer position per sample (e.g. a + b, a, b).
 * The author's single-ω fit: fourier_readout.py:107-123 (angle = 2π·ω·idx/p with idx = a+b, a or b).
 */
export function singleFrequencyR2(
  y: ArrayLike<number>,
  x: ArrayLike<number>,
  n: number,
  omega: number,
): number {
  if (x.length !== y.length)
    throw new RangeError(`singleFrequencyR2: x has ${x.length} samples, y has ${y.length}`);
  return basisR2(y, fourierColumns(x, n, [omega]));
}

/** The ω in 1..⌊n/2⌋ with the largest singleFrequencyR2 (lowest ω on ties), and R² at every ω (index ω − 1). */
export function bestFrequency(
  y: ArrayLike<number>,
  x: ArrayLike<number>,
  n: number,
): { omega: number; r2: number; r2ByOmega: Float64Array } {
  const h = Math.floor(n / 2);
  if (h < 1) throw new RangeError(`bestFrequency: n = ${n} has no frequency ω ≥ 1`);
  const r2ByOmega = new Float64Array(h);
  let best = 0;
  for (let w = 1; w <= h; w++) {
    r2ByOmega[w - 1] = singleFrequencyR2(y, x, n, w);
    if (r2ByOmega[w - 1] > r2ByOmega[best]) best = w - 1;
  }
  return { omega: best + 1, r2: r2ByOmega[best], r2ByOmega };
}

/** Whether n is a prime (trial division by 6k ± 1; exact for every safe integer). */
export function isPrime(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 2) return false;
  if (n < 4) return true;
  if (n % 2 === 0 || n % 3 === 0) return false;
  for (let d = 5; d * d <= n; d += 6) if (n % d === 0 || n % (d + 2) === 0) return false;
  return true;
}

/** a·b mod m without leaving the exact integer range (products past 2^53 go through BigInt). */
function mulMod(a: number, b: number, m: number): number {
  const p = a * b;
  return Number.isSafeInteger(p) ? p % m : Number((BigInt(a) * BigInt(b)) % BigInt(m));
}

function powMod(base: number, e: number, m: number): number {
  let r = 1 % m;
  let b = base % m;
  while (e > 0) {
    if (e % 2 === 1) r = mulMod(r, b, m);
    b = mulMod(b, b, m);
    e = Math.floor(e / 2);
  }
  return r;
}

function primeFactors(n: number): number[] {
  const out: number[] = [];
  for (let d = 2; d * d <= n; d++) {
    if (n % d !== 0) continue;
    out.push(d);
    while (n % d === 0) n /= d;
  }
  if (n > 1) out.push(n);
  return out;
}

/**
 * The smallest primitive root mod a prime p: the least g with g^((p−1)/q) ≢ 1 for every prime q | p − 1
 * (the same g as the author's brute-force orbit search, fourier_dlog_mul.py:69; 5 for p = 97).
 */
export function primitiveRoot(p: number): number {
  if (!isPrime(p))
    throw new Error(`primitiveRoot: p = ${p} is not prime; primitive roots are taken mod a prime`);
  if (p === 2) return 1;
  const qs = primeFactors(p - 1);
  for (let g = 2; g < p; g++) if (qs.every((q) => powMod(g, (p - 1) / q, p) !== 1)) return g;
  throw new Error(`primitiveRoot: none found mod ${p}`); // unreachable for a prime
}

export interface DiscreteLog {
  /** The primitive root (the smallest). */
  g: number;
  /** log[x] = k with g^k ≡ x (mod p) for x in 1..p−1; log[0] = −1 (0 has no log). Length p. */
  log: Int32Array;
  /** exp[k] = g^k mod p for k in 0..p−2. Length p − 1. */
  exp: Int32Array;
}

/** Discrete-log tables of Z_p^* for the smallest primitive root; p must be an odd prime. */
export function discreteLog(p: number): DiscreteLog {
  if (!isPrime(p) || p < 3) {
    const why = isPrime(p) ? "is too small (need an odd prime p ≥ 3)" : "is not prime";
    throw new Error(
      `discreteLog: p = ${p} ${why}; the discrete-log (multiplicative) basis exists only for a prime modulus`,
    );
  }
  if (p > 0x7fffffff) throw new RangeError(`discreteLog: p = ${p} is too large for Int32 tables`);
  const g = primitiveRoot(p);
  // log[0] = −1 and log[g^k] = k walking the orbit of g: the author's compute_dlog_table,
  // fourier_readout.py:126-134 (generator 5 for p = 97, which is our smallest primitive root).
  const log = new Int32Array(p).fill(-1);
  const exp = new Int32Array(p - 1);
  let x = 1;
  for (let k = 0; k < p - 1; k++) {
    exp[k] = x;
    log[x] = k;
    x = mulMod(x, g, p);
  }
  return { g, log, exp };
}

/**
 * Reorder a field over (a, b) ∈ (1..p−1)² (row-major (p−1)×(p−1), row a − 1, column b − 1; a full p×p grid
 * is also accepted and its a = 0 row and b = 0 column dropped) by discrete logs: out[k·(p−1) + l] =
 * field(g^k, g^l). A function of a·b mod p becomes a function of (k + l) mod (p − 1) — read it with
 * groupBy(out, (k, l) => k + l, p − 1) (lo = 0: rows and columns are now logs).
 */
export function logReindex(field: ArrayLike<number>, p: number): Float64Array {
  const { exp } = discreteLog(p);
  const m = p - 1;
  let side: number;
  let lo: number;
  if (field.length === m * m) [side, lo] = [m, 1];
  else if (field.length === p * p) [side, lo] = [p, 0];
  else
    throw new RangeError(
      `logReindex: expected a (p−1)×(p−1) or p×p field for p = ${p}, got length ${field.length}`,
    );
  const out = new Float64Array(m * m);
  for (let k = 0; k < m; k++) {
    const row = (exp[k] - lo) * side;
    for (let l = 0; l < m; l++) out[k * m + l] = field[row + exp[l] - lo];
  }
  return out;
}

/**
 * The author's fourier_profile: group a field over pairs by key, then read the spectrum of the bucket means
 * (fourier_functional_view.py:205-247; fourier_dlog_mul.py fourier_1d with period n).
 */
export function fourierProfile(
  values: ArrayLike<number>,
  key: (a: number, b: number) => number | null,
  n: number,
  lo = 0,
): Concentration & { power: Float64Array } {
  const power = powerSpectrum(groupBy(values, key, n, lo));
  return { ...concentration(power), power };
}

// --- The composition probe for x² + y² = (a + b)² − 2ab (the author's x2y2_composition_test.py) ---

/**
 * The probe's feature sets (the author's `build_composition_features`, functional_modes/x2y2_composition_test.py):
 * additive Fourier cos/sin(2πω(a + b)/p), ω = 1..⌊p/2⌋; multiplicative (discrete-log) cos/sin(2πω·ℓ/(p − 1)),
 * ℓ = (log a + log b) mod (p − 1), ω = 1..⌊(p−1)/2⌋; both together; the cross terms, every product of an additive
 * cos or sin at ω_a = 1..c with a multiplicative cos or sin at ω_m = 1..c (c = 10: the *first* ten frequencies of
 * each, although the script's comment says "top-10"); and all of them ("full").
 */
export const COMPOSITION_SETS = ["add", "mul", "addMul", "cross", "full"] as const;
export type CompositionSet = (typeof COMPOSITION_SETS)[number];

export interface CompositionOptions {
  /** c, the cross terms' frequencies per basis (the author's n_cross = 10), capped at ⌊p/2⌋ and ⌊(p−1)/2⌋. */
  crossOmegas?: number;
  /** Ridge penalty on the coefficients (the author's `Ridge(alpha=1.0)`); the intercept is not penalised. */
  alpha?: number;
}

/** The fixed part of the probe over one set of pairs: features, and each set's factored ridge system. */
export interface CompositionBasis {
  p: number;
  alpha: number;
  crossOmegas: number;
  /** Indices of the caller's pairs that are used: those with a·b ≢ 0 (mod p), where the discrete log exists. */
  kept: Int32Array;
  /** Columns per set. */
  columns: Record<CompositionSet, number>;
  /** (a + b) mod p and (log a + log b) mod (p − 1) per kept pair. */
  readonly s: Int32Array;
  readonly l: Int32Array;
  /** Column means over the kept pairs; per set, its column range and the Cholesky factor of XcᵀXc + αI. */
  readonly mean: Float64Array;
  readonly range: Record<CompositionSet, [number, number]>;
  readonly chol: Record<CompositionSet, Float64Array>;
}

/** One kept pair's feature row (all sets' columns: add, then mul, then cross) into `out`. */
function compositionRow(
  basis: Pick<CompositionBasis, "p" | "crossOmegas">,
  wp: Complex,
  wm: Complex,
  s: number,
  l: number,
  out: Float64Array,
): void {
  const { p, crossOmegas: c } = basis;
  const hA = Math.floor(p / 2);
  const hM = Math.floor((p - 1) / 2);
  let o = 0;
  for (let w = 1; w <= hA; w++) {
    const j = (w * s) % p;
    out[o++] = wp.re[j];
    out[o++] = wp.im[j];
  }
  for (let w = 1; w <= hM; w++) {
    const j = (w * l) % (p - 1);
    out[o++] = wm.re[j];
    out[o++] = wm.im[j];
  }
  for (let wa = 0; wa < c; wa++) {
    const ca = out[2 * wa];
    const sa = out[2 * wa + 1];
    for (let wq = 0; wq < c; wq++) {
      const cm = out[2 * hA + 2 * wq];
      const sm = out[2 * hA + 2 * wq + 1];
      out[o++] = ca * cm;
      out[o++] = ca * sm;
      out[o++] = sa * cm;
      out[o++] = sa * sm;
    }
  }
}

/** A character c·e^{2πi(α·s/p + β·l/(p−1))} of a composition column. */
interface Character {
  re: number;
  im: number;
  a: number;
  b: number;
}

/** Each column of compositionRow as its characters: cos x = (e^{ix} + e^{−ix})/2, sin x = (e^{ix} − e^{−ix})/2i. */
function compositionTerms(hA: number, hM: number, c: number): Character[][] {
  const cos = (a: number, b: number): Character[] => [
    { re: 0.5, im: 0, a, b },
    { re: 0.5, im: 0, a: -a, b: -b },
  ];
  const sin = (a: number, b: number): Character[] => [
    { re: 0, im: -0.5, a, b },
    { re: 0, im: 0.5, a: -a, b: -b },
  ];
  const times = (x: Character[], y: Character[]) =>
    x.flatMap((t) =>
      y.map((u) => ({
        re: t.re * u.re - t.im * u.im,
        im: t.re * u.im + t.im * u.re,
        a: t.a + u.a,
        b: t.b + u.b,
      })),
    );
  const add: Character[][] = [];
  const mul: Character[][] = [];
  for (let w = 1; w <= hA; w++) add.push(cos(w, 0), sin(w, 0));
  for (let w = 1; w <= hM; w++) mul.push(cos(0, w), sin(0, w));
  const cross: Character[][] = [];
  for (let wa = 0; wa < c; wa++)
    for (let wq = 0; wq < c; wq++) {
      const [ca, sa, cm, sm] = [add[2 * wa], add[2 * wa + 1], mul[2 * wq], mul[2 * wq + 1]];
      cross.push(times(ca, cm), times(ca, sm), times(sa, cm), times(sa, sm));
    }
  return [...add, ...mul, ...cross];
}

/** H(α, β) = Σ_i e^{2πi(α·s_i/p + β·l_i/(p−1))} at [α·(p−1) + β]: the conjugate 2-D DFT of the histogram of (s, l). */
function pairCharacters(s: Int32Array, l: Int32Array, p: number): Complex {
  const m = p - 1;
  const count = new Float64Array(p * m);
  for (let i = 0; i < s.length; i++) count[s[i] * m + l[i]] += 1;
  // Ĉ(k1, k2) = Σ C e^{−2πi(k1 s/p + k2 l/m)}, along l then s; H(α, β) = Ĉ(−α, −β) (C is real).
  const rr = new Float64Array(p * m);
  const ri = new Float64Array(p * m);
  const wm = twiddles(m);
  for (let x = 0; x < p; x++) dftStrided(wm, count, null, x * m, 1, rr, ri, x * m, 1);
  const cr = new Float64Array(p * m);
  const ci = new Float64Array(p * m);
  const wp = twiddles(p);
  for (let k2 = 0; k2 < m; k2++) dftStrided(wp, rr, ri, k2, m, cr, ci, k2, m);
  const re = new Float64Array(p * m);
  const im = new Float64Array(p * m);
  for (let a = 0; a < p; a++)
    for (let b = 0; b < m; b++) {
      const src = ((p - a) % p) * m + ((m - b) % m);
      re[a * m + b] = cr[src];
      im[a * m + b] = ci[src];
    }
  return { re, im };
}

/**
 * The probe's design over the pairs (a[i], b[i]) mod a prime p: the pairs with a·b ≡ 0 are left out (no
 * discrete log; the author's `valid` mask) for every set, so all five R² are over the same pairs (the author fits
 * the additive set alone on all of them), the feature columns are centred, and XcᵀXc + αI is factored once per
 * set, so that each field costs one Xᵀy and five triangular solves (compositionR2). T = 2⌊p/2⌋ + 2⌊(p−1)/2⌋ +
 * 4c² columns (592 at p = 97).
 */
export function compositionBasis(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  p: number,
  opts: CompositionOptions = {},
): CompositionBasis {
  if (a.length !== b.length) throw new RangeError(`compositionBasis: ${a.length} a's but ${b.length} b's`);
  const { log } = discreteLog(p); // throws, naming p, when there is no discrete-log basis
  const hA = Math.floor(p / 2);
  const hM = Math.floor((p - 1) / 2);
  const c = Math.max(0, Math.min(Math.floor(opts.crossOmegas ?? 10), hA, hM));
  const alpha = opts.alpha ?? 1;
  // α > 0 keeps every set solvable, also the one vanishing column (sin at ω = (p − 1)/2), as the author's ridge.
  if (!(alpha > 0)) throw new RangeError(`compositionBasis: alpha must be > 0, got ${alpha}`);
  const keptList: number[] = [];
  for (let i = 0; i < a.length; i++) {
    if (!Number.isInteger(a[i]) || !Number.isInteger(b[i]))
      throw new RangeError(`compositionBasis: pair ${i} = (${a[i]}, ${b[i]}) is not a pair of integers`);
    if (mod(a[i], p) !== 0 && mod(b[i], p) !== 0) keptList.push(i);
  }
  const kept = Int32Array.from(keptList);
  const N = kept.length;
  if (N < 2) throw new RangeError(`compositionBasis: ${N} pairs with a·b ≢ 0 mod ${p}; need at least 2`);
  const s = Int32Array.from(kept, (i) => mod(a[i] + b[i], p));
  const l = Int32Array.from(kept, (i) => (log[mod(a[i], p)] + log[mod(b[i], p)]) % (p - 1));
  const A = 2 * hA;
  const M = 2 * hM;
  const T = A + M + 4 * c * c;
  const range: Record<CompositionSet, [number, number]> = {
    add: [0, A],
    mul: [A, A + M],
    addMul: [0, A + M],
    cross: [A + M, T],
    full: [0, T],
  };
  // Every column is a sum of ≤ 4 characters e^{2πi(α·s/p + β·l/(p−1))}, so every Gram entry Σ_i x_j x_k and
  // column mean is a few values of H(α, β) = Σ_i e^{2πi(α s_i/p + β l_i/(p−1))}, the 2-D DFT of the pairs'
  // histogram over Z_p × Z_{p−1}: O(p³ + 16·T²) instead of the direct N·T²/2.
  const H = pairCharacters(s, l, p);
  const terms = compositionTerms(hA, hM, c);
  const at = (x: number, y: number) => mod(x, p) * (p - 1) + mod(y, p - 1);
  const mean = new Float64Array(T);
  for (let j = 0; j < T; j++) {
    let re = 0;
    for (const t of terms[j]) re += t.re * H.re[at(t.a, t.b)] - t.im * H.im[at(t.a, t.b)];
    mean[j] = re / N;
  }
  // The centred Gram's lower triangle, Σ_i x_j x_k − N m_j m_k. Centring is the unpenalised intercept
  // (sklearn's fit_intercept=True).
  const G = new Float64Array(T * T);
  for (let j = 0; j < T; j++) {
    for (let k = 0; k <= j; k++) {
      let re = 0;
      for (const t of terms[j])
        for (const u of terms[k]) {
          const h = at(t.a + u.a, t.b + u.b);
          const cr = t.re * u.re - t.im * u.im;
          const ci = t.re * u.im + t.im * u.re;
          re += cr * H.re[h] - ci * H.im[h];
        }
      G[j * T + k] = re - N * mean[j] * mean[k];
    }
  }
  const chol = {} as Record<CompositionSet, Float64Array>;
  const columns = {} as Record<CompositionSet, number>;
  for (const set of COMPOSITION_SETS) {
    const [lo, hi] = range[set];
    const m = hi - lo;
    columns[set] = m;
    const sub = new Float64Array(m * m);
    for (let j = 0; j < m; j++) {
      for (let k = 0; k <= j; k++) sub[j * m + k] = G[(lo + j) * T + lo + k];
      sub[j * m + j] += alpha;
    }
    chol[set] = cholesky(sub, m);
  }
  return { p, alpha, crossOmegas: c, kept, columns, s, l, mean, range, chol };
}

/**
 * The author's scalar probe (`probe_r2` in x2y2_composition_test.py): R² = max(0, 1 − SS_res/SS_tot) of the
 * ridge fit y ≈ c0 + Xw for each feature set, in-sample, y read at basis.kept (y is indexed like the pairs the
 * basis was built from). All NaN when y is constant over the kept pairs (R² undefined).
 */
export function compositionR2(basis: CompositionBasis, y: ArrayLike<number>): Record<CompositionSet, number> {
  return compositionR2s(basis, [y])[0];
}

/** compositionR2 of several fields at once (e.g. a field and its shuffles): one pass over the feature rows. */
export function compositionR2s(
  basis: CompositionBasis,
  ys: readonly ArrayLike<number>[],
): Record<CompositionSet, number>[] {
  const { kept, s, l, mean, range, chol, alpha } = basis;
  const N = kept.length;
  const T = range.full[1];
  const m = ys.length;
  // Centred y per field (row-major [i·m + f]), SS_tot, and whether R² is defined at all.
  const yc = new Float64Array(N * m);
  const ssTot = new Float64Array(m);
  const defined = ys.map((y, f) => {
    let ym = 0;
    let sumSq = 0;
    for (let i = 0; i < N; i++) {
      const v = y[kept[i]];
      if (!Number.isFinite(v)) throw new RangeError(`compositionR2: field ${f}: y[${kept[i]}] = ${v}`);
      ym += v;
      sumSq += v * v;
    }
    ym /= N;
    for (let i = 0; i < N; i++) {
      const r = y[kept[i]] - ym;
      yc[i * m + f] = r;
      ssTot[f] += r * r;
    }
    return ssTot[f] > 1e-28 * sumSq;
  });
  // Xcᵀ yc = Xᵀ yc (the centred y sums to 0), accumulated row by row, each row built once for all fields.
  const wp = twiddles(basis.p);
  const wm = twiddles(basis.p - 1);
  const row = new Float64Array(T);
  const xty = new Float64Array(T * m); // [j·m + f]
  for (let i = 0; i < N; i++) {
    compositionRow(basis, wp, wm, s[i], l[i], row);
    const o = i * m;
    for (let j = 0; j < T; j++) {
      const x = row[j] - mean[j];
      const r = j * m;
      for (let f = 0; f < m; f++) xty[r + f] += x * yc[o + f];
    }
  }
  return ys.map((_, f) => {
    const out = {} as Record<CompositionSet, number>;
    for (const set of COMPOSITION_SETS) {
      if (!defined[f]) {
        out[set] = Number.NaN;
        continue;
      }
      const [lo, hi] = range[set];
      const bSet = Float64Array.from({ length: hi - lo }, (_, j) => xty[(lo + j) * m + f]);
      const w = choleskySolve(chol[set], hi - lo, bSet);
      // (XᵀX + αI)w = Xᵀy, so ‖y − Xw‖² = yᵀy − wᵀXᵀy − α‖w‖², with no residual vector formed.
      let wb = 0;
      let ww = 0;
      for (let j = 0; j < w.length; j++) {
        wb += w[j] * bSet[j];
        ww += w[j] * w[j];
      }
      const ssRes = Math.max(0, ssTot[f] - wb - alpha * ww);
      out[set] = Math.max(0, 1 - ssRes / ssTot[f]);
    }
    return out;
  });
}
