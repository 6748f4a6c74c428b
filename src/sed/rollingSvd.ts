// Spectral edge dynamics: SVD of a rolling window of W flattened per-step update rows (each of length P),
// computed through the W×W Gram matrix because P (≈ 131k) ≫ W (≤ 40).
import { axpy, dot, gram, norm, scale, symmetricEigen, type Vec } from "../util/linalg";
import { RowStore } from "../util/rowStore";

export interface RollingSvd {
  /** All W singular values, descending; those not resolvable through the Gram matrix are exactly 0. */
  sigma: number[];
  /** Top min(k, rank) right singular vectors (length P, unit norm, mutually orthonormal). */
  basis: Float32Array[];
}

export interface RollingSvdOptions {
  /** Subtract the mean row first (SVD of the centred window). */
  center?: boolean;
}

/**
 * Eigenvalues of G below RANK_RTOL · trace(G) count as zero. trace(G) = ‖R‖²_F bounds the rounding error of
 * both forming G and centring it, so σ below ~1e-6 · ‖R‖_F is noise: reporting it as 0 avoids NaN and
 * spurious huge gap ratios from ±1e-16 eigenvalues of rank-deficient windows.
 */
export const RANK_RTOL = 1e-12;

/**
 * SVD of the window `rows` (W rows of length P) given its Gram matrix G = R Rᵀ (W×W, chronological order).
 * With σ_j² = λ_j(G) and u_j the eigenvectors, v_j = Rᵀ u_j / σ_j, accumulated in float64, re-orthogonalised
 * against v_1..v_{j-1} (Gram-derived vectors lose orthogonality as ε·σ_1²/σ_j²) and normalised.
 * Sign convention: each v_j's largest-|component| entry (first such index on ties) is positive — a property
 * of the direction itself, independent of row order and window length.
 */
export function svdFromGram(
  G: Float64Array,
  rows: readonly Vec[],
  k: number,
  opts: RollingSvdOptions = {},
): RollingSvd {
  const w = rows.length;
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`rollingSvd: k must be an integer ≥ 0, got ${k}`);
  if (G.length !== w * w) throw new RangeError(`svdFromGram: Gram has length ${G.length}, expected ${w * w}`);
  if (w === 0) return { sigma: [], basis: [] };
  const P = rows[0].length;
  for (const r of rows) {
    if (r.length !== P) throw new RangeError(`rollingSvd: rows differ in length (${r.length} vs ${P})`);
  }
  let trace = 0;
  for (let i = 0; i < w; i++) trace += G[i * w + i];

  let A = G;
  if (opts.center) {
    // (I − 11ᵀ/W) G (I − 11ᵀ/W): the Gram matrix of the centred rows, without touching P-length data.
    const rsum = new Float64Array(w);
    let total = 0;
    for (let i = 0; i < w; i++) {
      for (let j = 0; j < w; j++) rsum[i] += G[i * w + j];
      total += rsum[i];
    }
    A = new Float64Array(w * w);
    for (let i = 0; i < w; i++) {
      for (let j = 0; j < w; j++) A[i * w + j] = G[i * w + j] - (rsum[i] + rsum[j]) / w + total / (w * w);
    }
  }
  const { values, vectors } = symmetricEigen(A, w);
  const tol = RANK_RTOL * trace;
  const sigma = Array.from(values, (lam) => (lam > tol && lam > 0 ? Math.sqrt(lam) : 0));

  const basis: Float32Array[] = [];
  const done: Float64Array[] = [];
  const kk = Math.min(k, sigma.filter((s) => s > 0).length);
  for (let j = 0; j < kk; j++) {
    const u = new Float64Array(w);
    for (let t = 0; t < w; t++) u[t] = vectors[t * w + j];
    if (opts.center) {
      // Σ_t (u_t − ū) r_t = Σ_t u_t (r_t − r̄): applies the centring to the long rows implicitly.
      let mean = 0;
      for (let t = 0; t < w; t++) mean += u[t];
      mean /= w;
      for (let t = 0; t < w; t++) u[t] -= mean;
    }
    const v = new Float64Array(P);
    for (let t = 0; t < w; t++) if (u[t] !== 0) axpy(u[t], rows[t], v);
    for (const b of done) axpy(-dot(b, v), b, v);
    const nv = norm(v);
    if (!(nv > 0)) break; // cannot happen above the rank tolerance, but never emit NaN
    let big = 0;
    for (let i = 1; i < P; i++) if (Math.abs(v[i]) > Math.abs(v[big])) big = i;
    scale(v, (v[big] < 0 ? -1 : 1) / nv);
    done.push(v);
    basis.push(new Float32Array(v));
  }
  return { sigma, basis };
}

/** SVD of the window `rows` (oldest first) through its Gram matrix; see svdFromGram. */
export function rollingSvd(rows: readonly Vec[], k: number, opts: RollingSvdOptions = {}): RollingSvd {
  return svdFromGram(gram(rows), rows, k, opts);
}

export interface SpectralGap {
  /** max_j σ_j / σ_{j+1}; 1 when no pair is comparable. */
  ratio: number;
  /** 1-based index k* of the σ_j just before the largest gap; 0 when no pair is comparable. */
  index: number;
}

/**
 * Largest ratio of consecutive singular values (input descending). Pairs whose σ_{j+1} ≤ floor · max σ
 * (floor 1e-12 by default) are skipped: such a σ is numerically zero, and an exact rank drop would otherwise
 * give an infinite (or rounding-noise) ratio that swamps the real spectral structure. Ties go to the
 * smallest index. `maxIndex` restricts k* ≤ maxIndex.
 */
export function spectralGap(
  sigma: readonly number[],
  opts: { floor?: number; maxIndex?: number } = {},
): SpectralGap {
  const floor = opts.floor ?? 1e-12;
  const maxIndex = opts.maxIndex ?? Number.POSITIVE_INFINITY;
  const top = sigma.reduce((m, s) => Math.max(m, s), 0);
  let best: SpectralGap = { ratio: 1, index: 0 };
  for (let j = 0; j + 1 < sigma.length && j + 1 <= maxIndex; j++) {
    if (!(sigma[j + 1] > floor * top)) continue;
    const r = sigma[j] / sigma[j + 1];
    if (best.index === 0 || r > best.ratio) best = { ratio: r, index: j + 1 };
  }
  return best;
}

export interface RowWindowState {
  json: { kind: "RowWindow"; version: 1; capacity: number; length: number; size: number; pushes: number };
  /**
   * rows: the window's rows, oldest first, concatenated (size × length); gram (optional): the size × size Gram
   * matrix in that order, its float64 bits carried in a Float32Array of twice the length. Saved because pushes
   * with `known` dots make it differ (in the last bits) from a recomputation.
   */
  arrays: { rows: Float32Array; gram?: Float32Array };
}

/**
 * Ring buffer of the last `capacity` rows of length P with their Gram matrix kept up to date: a push costs
 * one dot product per stored row (W·P), not a fresh W²·P Gram. Several window lengths W ≤ capacity are
 * served from one buffer via `last`. Rows are copied in (as float32); NaN in a row poisons the Gram
 * entries of that row only until it leaves the window. The rows live in a RowStore, whose SIMD kernels
 * compute the dot products (bitwise linalg's).
 */
export class RowWindow {
  readonly capacity: number;
  /** Row length P. */
  readonly length: number;
  private readonly store: RowStore;
  private readonly views: Float32Array[];
  private readonly slots: (Float32Array | undefined)[];
  /** Gram matrix in slot (not chronological) order, capacity × capacity. */
  private readonly G: Float64Array;
  private head = 0;
  private count = 0;
  private total = 0;

  /** `kernel: false` runs linalg's JavaScript instead of the RowStore's kernels (for tests). */
  constructor(capacity: number, length: number, opts: { kernel?: boolean } = {}) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`RowWindow: bad capacity ${capacity}`);
    if (!Number.isInteger(length) || length < 1) throw new RangeError(`RowWindow: bad row length ${length}`);
    this.capacity = capacity;
    this.length = length;
    this.store = new RowStore(capacity, length, opts);
    this.views = this.store.rows;
    this.slots = new Array(capacity).fill(undefined);
    this.G = new Float64Array(capacity * capacity);
  }

  /** Rows currently held (≤ capacity). */
  get size(): number {
    return this.count;
  }

  /** Rows pushed since creation (including those that have left the window). */
  get pushes(): number {
    return this.total;
  }

  /**
   * Append a row, evicting the oldest when full. `known` supplies the new row's dot products with the current
   * rows (chronological order, as rows()) and its squared norm when the caller already has them (e.g. from a
   * projection): the push then costs one copy instead of W dot products. Without it the Gram entries equal
   * a fresh gram() bitwise.
   */
  push(row: Vec, known?: { dots: ArrayLike<number>; self: number }): void {
    if (row.length !== this.length) {
      throw new RangeError(`RowWindow.push: row has length ${row.length}, expected ${this.length}`);
    }
    const s = this.head;
    if (known) {
      if (known.dots.length !== this.count) {
        throw new RangeError(`RowWindow.push: ${known.dots.length} known dots for ${this.count} rows`);
      }
      const c = this.capacity;
      const idx = this.order();
      idx.forEach((slot, t) => {
        if (slot === s) return; // the row being evicted
        this.G[s * c + slot] = known.dots[t];
        this.G[slot * c + s] = known.dots[t];
      });
      this.G[s * c + s] = known.self;
      this.views[s].set(row);
      this.slots[s] = this.views[s];
    } else {
      this.views[s].set(row);
      this.slots[s] = this.views[s];
      this.refreshGram(s);
    }
    this.head = (s + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    this.total++;
  }

  /**
   * Row and column `slot` of the Gram matrix after that slot changed: dot(row, other) for every filled slot
   * (linalg.dot bitwise, which is symmetric), 0 for empty ones — so the entries equal a fresh gram().
   */
  private refreshGram(slot: number): void {
    const c = this.capacity;
    const filled = this.slots.flatMap((v, t) => (v ? [t] : []));
    const d = this.store.dot(filled, this.views[slot]);
    for (let t = 0; t < c; t++) {
      this.G[slot * c + t] = 0;
      this.G[t * c + slot] = 0;
    }
    filled.forEach((t, i) => {
      this.G[slot * c + t] = d[i];
      this.G[t * c + slot] = d[i];
    });
  }

  /** rows(last)[t] · x for each row, each summed in index order (linalg.dots bitwise). */
  dots(x: Vec, last?: number): Float64Array {
    return this.store.dots(this.order(last), x);
  }

  /**
   * out ← float32(keep ? Σ_t c_t r_t : g − Σ_t c_t r_t) over rows(last), the sum as linalg.combine forms it in
   * float64; returns Σ_i out_i². `out` may alias g.
   */
  combineInto(
    coefs: ArrayLike<number>,
    g: Float32Array,
    mode: "keep" | "remove",
    out: Float32Array,
    last?: number,
  ): number {
    const idx = this.order(last);
    if (coefs.length !== idx.length)
      throw new RangeError(`RowWindow.combineInto: ${coefs.length} coefficients for ${idx.length} rows`);
    return this.store.combineInto(idx, coefs, g, mode, out);
  }

  /** Slot indices of the last n rows, oldest first; n > size means all rows. */
  private order(last?: number): number[] {
    if (last !== undefined && (!Number.isInteger(last) || last < 0)) {
      throw new RangeError(`RowWindow: last must be an integer ≥ 0, got ${last}`);
    }
    const n = Math.min(last ?? this.count, this.count);
    const c = this.capacity;
    return Array.from({ length: n }, (_, i) => (this.head - n + i + 2 * c) % c);
  }

  /** The last n rows (all by default), oldest first. Views into the buffer: later pushes overwrite them. */
  rows(last?: number): Float32Array[] {
    return this.order(last).map((s) => this.views[s]);
  }

  /** Gram matrix of rows(last), chronological order (a copy). */
  gram(last?: number): Float64Array {
    const idx = this.order(last);
    const n = idx.length;
    const c = this.capacity;
    const out = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = this.G[idx[i] * c + idx[j]];
    return out;
  }

  /** rollingSvd of rows(last) from the maintained Gram matrix; bitwise equal to rollingSvd(rows(last), …). */
  svd(k: number, opts: RollingSvdOptions & { last?: number } = {}): RollingSvd {
    return svdFromGram(this.gram(opts.last), this.rows(opts.last), k, opts);
  }

  /** Checkpointable snapshot (rows and Gram matrix copied); restore gives back the identical window. */
  state(): RowWindowState {
    const rows = new Float32Array(this.count * this.length);
    this.rows().forEach((r, i) => {
      rows.set(r, i * this.length);
    });
    const json = {
      kind: "RowWindow" as const,
      version: 1 as const,
      capacity: this.capacity,
      length: this.length,
      size: this.count,
      pushes: this.total,
    };
    return { json, arrays: { rows, gram: new Float32Array(this.gram().buffer) } };
  }

  /** Replace this window's contents with a snapshot taken from a window of the same capacity and length. */
  restore(st: RowWindowState): void {
    const j = st?.json;
    const bad = (why: string): never => {
      throw new TypeError(`RowWindow.restore: ${why}`);
    };
    if (!j || j.kind !== "RowWindow" || j.version !== 1) bad("not a RowWindow v1 state");
    if (j.capacity !== this.capacity || j.length !== this.length) {
      bad(`state is ${j.capacity}×${j.length}, window is ${this.capacity}×${this.length}`);
    }
    if (!Number.isInteger(j.size) || j.size < 0 || j.size > this.capacity) bad(`bad size ${j.size}`);
    if (!Number.isInteger(j.pushes) || j.pushes < j.size) bad(`bad pushes ${j.pushes}`);
    const rows = st.arrays?.rows;
    if (!(rows instanceof Float32Array) || rows.length !== j.size * this.length) {
      bad(`rows must be a Float32Array of length ${j.size * this.length}`);
    }
    const saved = st.arrays.gram;
    if (saved !== undefined && (!(saved instanceof Float32Array) || saved.length !== 2 * j.size * j.size)) {
      bad(`gram must be a Float32Array of length ${2 * j.size * j.size} (float64 bits)`);
    }
    this.slots.fill(undefined);
    this.G.fill(0);
    for (let s = 0; s < j.size; s++) {
      this.views[s].set(rows.subarray(s * this.length, (s + 1) * this.length));
      this.slots[s] = this.views[s];
      if (!saved) this.refreshGram(s);
    }
    if (saved) {
      const g = new Float64Array(saved.slice().buffer); // copy: the view may not be 8-byte aligned
      const c = this.capacity;
      for (let a = 0; a < j.size; a++) for (let b = 0; b < j.size; b++) this.G[a * c + b] = g[a * j.size + b];
    }
    this.count = j.size;
    this.head = j.size % this.capacity;
    this.total = j.pushes;
  }

  static fromState(st: RowWindowState): RowWindow {
    const w = new RowWindow(st.json.capacity, st.json.length);
    w.restore(st);
    return w;
  }
}
