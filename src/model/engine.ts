// The fast path: the model's forward and backward passes written out by hand with plain tfjs ops, no gradient
// tape. It computes exactly what src/model/model.ts computes (tests compare them), with fewer and cheaper ops:
// - the two positions are stacked as rows [e0; e1] of one [2B, d] tensor; attention over two keys is a sigmoid
//   of (own-key score − other-key score), and "the other position" is a row permutation (swap halves);
// - a multitask model has several heads on the shared trunk (layout.heads): the forward reads the heads asked
//   for, the backward sums the seeded heads' gradients into the trunk (one head: the single-task arithmetic);
// - Q, K, V share one matmul (weights concatenated, 1/√dh folded into the query weights);
// - the last layer computes its query, attention output, MLP and LayerNorms for position 0 only;
// - no matmul has a transposed operand (25× slower on wasm): transposes are explicit;
// - on wasm, GELU, LayerNorm, transposes, row swaps, row gathers, their scatter-add and column concats are our own kernels on the
//   backend's heap (src/model/fusedKernels.ts) instead of several tfjs ops or a round trip through JavaScript;
// - backward to the input embedding only (centroids) skips every weight-gradient matmul.
import * as tf from "@tensorflow/tfjs";
import {
  fusedConcatColumns,
  fusedFirstHalf,
  fusedGatherRows,
  fusedGelu,
  fusedKernelsFor,
  fusedKernelsOn,
  fusedLayerNorm,
  fusedLayerNormGrad,
  fusedScatterAddRows,
  fusedSplitHalves,
  fusedSwapHalves,
  fusedTranspose,
  readNow,
} from "./fusedKernels";
import { type Layout, paramView } from "./params";

const LN_EPS = 1e-5;

/**
 * The FLOP-saving levers, on by default. Switching one off gives the straightforward computation (same
 * results within float32 rounding: test/engine.test.ts); the benchmark switches them to measure each alone.
 */
export const levers = {
  /** The last layer computes query, attention output, MLP and LayerNorms for position 0 only. */
  lastLayerPos0: true,
  /** Layer 0's LN1 and Q/K/V projection come from a table over the 2p (token, position) rows. */
  firstLayerTable: true,
  /**
   * On wasm: GELU, LayerNorm (forward and backward), transposes, row swaps, row gathers and column concats as
   * one pass each in place on the backend's heap (src/model/fusedKernels.ts), instead of 5–10 tfjs ops or a round
   * trip through JavaScript.
   */
  fusedKernels: true,
};
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const fused = (width: number): boolean => levers.fusedKernels && fusedKernelsFor(width);

/** Per-step weight tensors in the engine's layout, built once from theta. */
export interface EngineWeights {
  layers: {
    ln1g: tf.Tensor1D;
    ln1b: tf.Tensor1D;
    /** [d, 3d] = [Wq/√dh | Wk | Wv] (backward: one matmul for all three), and the parts (forward: no split). */
    wqkv: tf.Tensor2D;
    bqkv: tf.Tensor1D;
    wq: tf.Tensor2D;
    wk: tf.Tensor2D;
    wv: tf.Tensor2D;
    bq: tf.Tensor1D;
    bk: tf.Tensor1D;
    bv: tf.Tensor1D;
    wo: tf.Tensor2D;
    bo: tf.Tensor1D;
    /** Transposes for the backward pass: the fused kernel on wasm, else built in JavaScript (`tT` in engineWeights). */
    wqkvT: tf.Tensor2D;
    woT: tf.Tensor2D;
    w1T: tf.Tensor2D;
    w2T: tf.Tensor2D;
    ln2g: tf.Tensor1D;
    ln2b: tf.Tensor1D;
    w1: tf.Tensor2D;
    b1: tf.Tensor1D;
    w2: tf.Tensor2D;
    b2: tf.Tensor1D;
  }[];
  lnfg: tf.Tensor1D;
  lnfb: tf.Tensor1D;
  /** The output heads in layout.heads order: weight [d, p], bias [p]. */
  heads: HeadWeights[];
  tok: tf.Tensor2D;
  pos: tf.Tensor2D;
}

export interface HeadWeights {
  wh: tf.Tensor2D;
  bh: tf.Tensor1D;
  /** wh transposed, [p, d] (backward). */
  whT: tf.Tensor2D;
}

/**
 * The transpose of a row-major [rows, cols] array as a [cols, rows] tensor, in JavaScript: exact, and ~3.5×
 * faster than wasm's Transpose kernel. With `onesRow`, a row of ones is appended ([cols + 1, rows]).
 */
function transposed(src: Float32Array, rows: number, cols: number, onesRow = false): tf.Tensor2D {
  const out = new Float32Array((onesRow ? cols + 1 : cols) * rows);
  // Row blocks of 16 keep the strided reads in cache; the writes are sequential.
  for (let i0 = 0; i0 < rows; i0 += 16) {
    const i1 = Math.min(rows, i0 + 16);
    for (let j = 0; j < cols; j++) {
      const o = j * rows;
      for (let i = i0; i < i1; i++) out[o + i] = src[i * cols + j];
    }
  }
  if (onesRow) out.fill(1, cols * rows);
  return tf.tensor2d(out, [onesRow ? cols + 1 : cols, rows]);
}

/**
 * [xᵀ; 1]: x [rows, cols] transposed, with a row of ones appended ([cols + 1, rows]). [xᵀ; 1]·dY is the weight
 * gradient xᵀ·dY with the bias gradient (dY's column sums) as its last row, from one matmul: wasm's
 * one-row matmul that a separate column sum needs runs at ~2 GFLOP/s.
 */
function augT(x: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = x.shape;
  if (fused(cols)) return fusedTranspose(x, true);
  return transposed(x.dataSync() as Float32Array, rows, cols, true);
}

/** Builds the engine's weight tensors from theta (dispose with `disposeWeights`). */
export function engineWeights(layout: Layout, theta: Float32Array): EngineWeights {
  const { d, nHeads, layers } = layout.sizes;
  const qs = 1 / Math.sqrt(d / nHeads);
  const v = (n: string) => paramView(layout, theta, n);
  const t1 = (n: string) => tf.tensor1d(v(n));
  const t2 = (n: string, shape: [number, number]) => tf.tensor2d(v(n), shape);
  /** The transpose of weight tensor t, whose values are src: in place on wasm, else in JavaScript. */
  const tT = (t: tf.Tensor2D, src: Float32Array) =>
    fused(t.shape[1]) ? fusedTranspose(t, false) : transposed(src, t.shape[0], t.shape[1]);
  const out: EngineWeights = {
    layers: [],
    lnfg: t1("ln_f.g"),
    lnfb: t1("ln_f.b"),
    heads: layout.heads.map((h) => {
      const wh = t2(h.w, [d, layout.sizes.p]);
      return { wh, bh: t1(h.b), whT: tT(wh, v(h.w)) };
    }),
    tok: t2("embed.tok", [layout.sizes.p, d]),
    pos: t2("embed.pos", [2, d]),
  };
  const { dff } = layout.sizes;
  for (let i = 0; i < layers; i++) {
    const pre = `layers.${i}.`;
    const wq = v(`${pre}attn.wq`);
    const wk = v(`${pre}attn.wk`);
    const wv = v(`${pre}attn.wv`);
    const wqkv = new Float32Array(3 * d * d);
    for (let r = 0; r < d; r++) {
      for (let c = 0; c < d; c++) {
        wqkv[r * 3 * d + c] = wq[r * d + c] * qs;
        wqkv[r * 3 * d + d + c] = wk[r * d + c];
        wqkv[r * 3 * d + 2 * d + c] = wv[r * d + c];
      }
    }
    const bqkv = new Float32Array(3 * d);
    const bq = v(`${pre}attn.bq`);
    for (let c = 0; c < d; c++) bqkv[c] = bq[c] * qs;
    bqkv.set(v(`${pre}attn.bk`), d);
    bqkv.set(v(`${pre}attn.bv`), 2 * d);
    const wqkvTensor = tf.tensor2d(wqkv, [d, 3 * d]);
    const wo = t2(`${pre}attn.wo`, [d, d]);
    const w1 = t2(`${pre}mlp.w1`, [d, dff]);
    const w2 = t2(`${pre}mlp.w2`, [dff, d]);
    out.layers.push({
      ln1g: t1(`${pre}ln1.g`),
      ln1b: t1(`${pre}ln1.b`),
      wqkv: wqkvTensor,
      bqkv: tf.tensor1d(bqkv),
      wq: tf.tensor2d(
        wq.map((x) => x * qs),
        [d, d],
      ),
      wk: tf.tensor2d(wk, [d, d]),
      wv: tf.tensor2d(wv, [d, d]),
      bq: tf.tensor1d(bqkv.subarray(0, d)),
      bk: tf.tensor1d(bqkv.subarray(d, 2 * d)),
      bv: tf.tensor1d(bqkv.subarray(2 * d)),
      wo,
      bo: t1(`${pre}attn.bo`),
      wqkvT: tT(wqkvTensor, wqkv),
      woT: tT(wo, v(`${pre}attn.wo`)),
      w1T: tT(w1, v(`${pre}mlp.w1`)),
      w2T: tT(w2, v(`${pre}mlp.w2`)),
      ln2g: t1(`${pre}ln2.g`),
      ln2b: t1(`${pre}ln2.b`),
      w1,
      b1: t1(`${pre}mlp.b1`),
      w2,
      b2: t1(`${pre}mlp.b2`),
    });
  }
  return out;
}

export function disposeWeights(w: EngineWeights): void {
  for (const l of w.layers) tf.dispose(Object.values(l));
  for (const h of w.heads) tf.dispose([h.wh, h.bh, h.whT]);
  tf.dispose([w.lnfg, w.lnfb, w.tok, w.pos]);
}

/**
 * Inputs of a batch in the engine's stacked layout. The embedding is a matmul with an augmented one-hot matrix
 * (token one-hot plus a position indicator): E = oh · [tok; pos] = tok[x] + pos, and its gradient is ohᵀ · dE.
 * (wasm's Gather and Tile are pathologically slow, and Gather has no gradient there.)
 */
export interface EngineBatch {
  B: number;
  /** [2B, p + 2]: rows [a; b] one-hot over p tokens, then 1 in column p (position 0) or p + 1 (position 1). */
  oh: tf.Tensor2D;
  /** [p + 2, 2B], the transpose of `oh`; absent for forward-only batches. */
  ohT?: tf.Tensor2D;
  /** [B, p] one-hot labels (of the first label set). */
  yOneHot: tf.Tensor2D;
  /** [B, p] one-hot labels of each label set given (one per task; yOneHots[0] is yOneHot). */
  yOneHots: tf.Tensor2D[];
  /** Row of the first-layer table for each stacked row: a[i], then p + b[i]. */
  tableRows: Int32Array;
  /** The same as an int32 tensor (the wasm row gather reads it). */
  tableRowsT: tf.Tensor1D;
}

/** `y`: the labels, or one label set per task (a multitask batch: the same pairs carry every task's label). */
export function engineBatch(
  a: Int32Array,
  b: Int32Array,
  y: Int32Array | readonly Int32Array[],
  p: number,
  { withGradInputs = true } = {},
): EngineBatch {
  const B = a.length;
  const cols = p + 2;
  const oh = new Float32Array(2 * B * cols);
  const ohT = withGradInputs ? new Float32Array(2 * B * cols) : undefined;
  for (let i = 0; i < 2 * B; i++) {
    const tok = i < B ? a[i] : b[i - B];
    const pos = p + (i < B ? 0 : 1);
    oh[i * cols + tok] = 1;
    oh[i * cols + pos] = 1;
    if (ohT) {
      ohT[tok * 2 * B + i] = 1;
      ohT[pos * 2 * B + i] = 1;
    }
  }
  const ys = y instanceof Int32Array ? [y] : y;
  if (ys.length === 0) throw new Error("engineBatch: no labels");
  const yOneHots = ys.map((yt) => {
    if (yt.length !== B) throw new Error(`engineBatch: ${yt.length} labels for ${B} pairs`);
    const yoh = new Float32Array(B * p);
    for (let i = 0; i < B; i++) yoh[i * p + yt[i]] = 1;
    return tf.tensor2d(yoh, [B, p]);
  });
  const tableRows = new Int32Array(2 * B);
  for (let i = 0; i < B; i++) {
    tableRows[i] = a[i];
    tableRows[B + i] = p + b[i];
  }
  return {
    B,
    tableRows,
    tableRowsT: tf.tensor1d(tableRows, "int32"),
    oh: tf.tensor2d(oh, [2 * B, cols]),
    ohT: ohT ? tf.tensor2d(ohT, [cols, 2 * B]) : undefined,
    yOneHot: yOneHots[0],
    yOneHots,
  };
}

export function disposeEngineBatch(b: EngineBatch): void {
  tf.dispose([b.oh, b.tableRowsT, ...b.yOneHots]);
  if (b.ohT) b.ohT.dispose();
}

/** The embedding table [tok; pos] ([p + 2, d]) that the augmented one-hot multiplies. */
function embedTable(w: EngineWeights): tf.Tensor2D {
  return tf.concat([w.tok, w.pos], 0);
}

/** Input embeddings E = [tok[a] + pos0; tok[b] + pos1] as [2B, d]. */
export function engineEmbed(w: EngineWeights, batch: EngineBatch): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(batch.oh, embedTable(w)));
}

/** Column sums of [N, k] → [k], as a matmul with a row of ones (wasm's Sum over axis 0 is slow). */
function colSum(x: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(tf.matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]);
}

/** [x0, x1, …] side by side ([N, Σ c_i]). */
function concatColumns(xs: tf.Tensor[]): tf.Tensor2D {
  return levers.fusedKernels && fusedKernelsOn()
    ? fusedConcatColumns(xs as tf.Tensor2D[])
    : (tf.concat(xs, 1) as tf.Tensor2D);
}

/** [x0; x1] → [x0, x1]: each position's rows. */
function splitHalves(x: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
  if (fused(x.shape[1])) return fusedSplitHalves(x);
  return tf.split(x, 2, 0) as [tf.Tensor2D, tf.Tensor2D];
}

/** Position 0's rows of [x0; x1]. */
function firstHalf(x: tf.Tensor2D): tf.Tensor2D {
  if (fused(x.shape[1])) return fusedFirstHalf(x);
  return tf.slice(x, [0, 0], [x.shape[0] / 2, x.shape[1]]);
}

/** [x0; x1] → [x1; x0]: the other position's rows. */
function swapHalves(x: tf.Tensor2D): tf.Tensor2D {
  if (fused(x.shape[1])) return fusedSwapHalves(x);
  const [x0, x1] = tf.split(x, 2, 0);
  return tf.concat([x1, x0], 0) as tf.Tensor2D;
}

interface LnCache {
  xhat: tf.Tensor2D;
  rstd: tf.Tensor2D;
}

function lnForward(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, cache?: LnCache[]): tf.Tensor2D {
  if (fused(x.shape[1])) {
    const r = fusedLayerNorm(x, g, b, LN_EPS, cache !== undefined);
    if (cache && r.xhat && r.rstd) cache.push({ xhat: r.xhat, rstd: r.rstd });
    return r.y;
  }
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), LN_EPS)) as tf.Tensor2D;
  const xhat = tf.mul(xc, rstd) as tf.Tensor2D;
  cache?.push({ xhat, rstd });
  return tf.add(tf.mul(xhat, g), b) as tf.Tensor2D;
}

/** LayerNorm backward: dx = rstd · (dŷ − mean(dŷ) − x̂ · mean(dŷ ⊙ x̂)), dŷ = dy ⊙ g. */
function lnBackward(dy: tf.Tensor2D, g: tf.Tensor1D, c: LnCache, grads?: tf.Tensor[]): tf.Tensor2D {
  if (fused(dy.shape[1])) {
    const r = fusedLayerNormGrad(dy, g, c.xhat, c.rstd, grads !== undefined);
    if (grads && r.dg && r.db) grads.push(r.dg, r.db);
    return r.dx;
  }
  if (grads) grads.push(colSum(tf.mul(dy, c.xhat) as tf.Tensor2D), colSum(dy));
  const dxh = tf.mul(dy, g);
  const inner = tf.sub(
    tf.sub(dxh, tf.mean(dxh, -1, true)),
    tf.mul(c.xhat, tf.mean(tf.mul(dxh, c.xhat), -1, true)),
  );
  return tf.mul(inner, c.rstd) as tf.Tensor2D;
}

/** gelu(u) = u·Φ(u); with `withGrad` also gelu'(u) = Φ(u) + u·φ(u). */
function gelu(u: tf.Tensor2D, withGrad: boolean): { y: tf.Tensor2D; dydx?: tf.Tensor2D } {
  if (fused(u.shape[1])) return fusedGelu(u, withGrad);
  const phi = tf.mul(tf.add(tf.erf(tf.mul(u, Math.SQRT1_2)), 1), 0.5) as tf.Tensor2D;
  const y = tf.mul(u, phi) as tf.Tensor2D;
  if (!withGrad) return { y };
  return {
    y,
    dydx: tf.add(phi, tf.mul(u, tf.mul(tf.exp(tf.mul(tf.square(u), -0.5)), INV_SQRT_2PI))) as tf.Tensor2D,
  };
}

/** Per-head sums of a [N, d] tensor → [N, H]. */
function headSum(x: tf.Tensor, nHeads: number): tf.Tensor2D {
  const [N, d] = x.shape;
  return tf.sum(tf.reshape(x, [N, nHeads, d / nHeads]), -1) as tf.Tensor2D;
}

/** [N, H] per-head weights times a [N, d] tensor. */
function headScale(w: tf.Tensor, x: tf.Tensor, nHeads: number): tf.Tensor2D {
  const [N, d] = x.shape;
  return tf.reshape(tf.mul(tf.reshape(x, [N, nHeads, d / nHeads]), tf.expandDims(w, -1)), [
    N,
    d,
  ]) as tf.Tensor2D;
}

interface LayerCache {
  /** Absent for layer 0 when its Q/K/V rows come from the first-layer table. */
  ln1?: LnCache;
  h?: tf.Tensor2D;
  /** Queries, key difference (own − other), value difference, own-key weight, for the query rows. */
  q: tf.Tensor2D;
  dk: tf.Tensor2D;
  dv: tf.Tensor2D;
  pw: tf.Tensor2D;
  o: tf.Tensor2D;
  ln2: LnCache;
  h2: tf.Tensor2D;
  /** gelu'(u) at the MLP's pre-activation u, for the backward pass. */
  dGelu: tf.Tensor2D;
  g: tf.Tensor2D;
}

export interface ForwardCache {
  /** Whether the last layer was computed for position 0 only (levers.lastLayerPos0 at forward time). */
  pos0Only: boolean;
  layers: LayerCache[];
  lnf: LnCache;
  hf: tf.Tensor2D;
}

/** An empty cache for `engineForward` to fill. */
export function newCache(): ForwardCache {
  return { pos0Only: levers.lastLayerPos0, layers: [] } as unknown as ForwardCache;
}

/** A head's logits [B, p] from the final-LayerNorm output at position 0. */
function headLogits(hf: tf.Tensor2D, h: HeadWeights): tf.Tensor2D {
  return tf.add(tf.matMul(hf, h.wh), h.bh) as tf.Tensor2D;
}

/**
 * Logits [B, p] of the first (a single-task model's only) head from stacked input embeddings E [2B, d]. With
 * `cache`, keeps what the backward pass needs (call inside tf.tidy, or dispose the cache's tensors).
 */
export function engineForward(
  w: EngineWeights,
  layout: Layout,
  E: tf.Tensor2D,
  cache?: ForwardCache,
  qkv0?: [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D],
): tf.Tensor2D {
  return headLogits(engineTrunk(w, layout, E, cache, qkv0), w.heads[0]);
}

/** Logits [B, p] of each head in `heads` (indices into layout.heads; default all), from one trunk pass. */
export function engineForwardHeads(
  w: EngineWeights,
  layout: Layout,
  E: tf.Tensor2D,
  cache?: ForwardCache,
  qkv0?: [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D],
  heads: readonly number[] = w.heads.map((_, i) => i),
): tf.Tensor2D[] {
  const hf = engineTrunk(w, layout, E, cache, qkv0);
  return heads.map((h) => headLogits(hf, w.heads[h]));
}

/** The shared trunk: the final-LayerNorm output at position 0, [B, d], that every head reads. */
function engineTrunk(
  w: EngineWeights,
  layout: Layout,
  E: tf.Tensor2D,
  cache?: ForwardCache,
  qkv0?: [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D],
): tf.Tensor2D {
  const { nHeads, layers } = layout.sizes;
  const pos0Only = levers.lastLayerPos0;
  if (cache) cache.pos0Only = pos0Only;
  let x = E;
  for (let i = 0; i < layers; i++) {
    const L = w.layers[i];
    const last = pos0Only && i === layers - 1;
    const ln1c: LnCache[] = [];
    const lnc: LnCache[] = [];
    // Layer 0's Q/K/V rows may come precomputed from the first-layer table (see firstLayerTable).
    const h = i === 0 && qkv0 ? undefined : lnForward(x, L.ln1g, L.ln1b, ln1c);
    // Separate Q, K, V matmuls: splitting a fused [N, 3d] output is a slow strided copy on wasm.
    const lin = (x: tf.Tensor2D, wt: tf.Tensor2D, b: tf.Tensor1D) =>
      tf.add(tf.matMul(x, wt), b) as tf.Tensor2D;
    let qr: tf.Tensor2D;
    let dk: tf.Tensor2D;
    let dv: tf.Tensor2D;
    let vOther: tf.Tensor2D;
    let xr: tf.Tensor2D;
    if (last && h) {
      // Only position 0's query matters to the head; of the keys and values only own − other and the other
      // value do, and the key/value biases cancel in the differences: 4 matmuls over B rows, not 3 over 2B.
      const [h0, h1] = splitHalves(h);
      const dh = tf.sub(h0, h1) as tf.Tensor2D;
      qr = lin(h0, L.wq, L.bq);
      dk = tf.matMul(dh, L.wk);
      dv = tf.matMul(dh, L.wv);
      vOther = lin(h1, L.wv, L.bv);
      xr = firstHalf(x);
    } else if (last) {
      const [q, k, v] = qkv0 as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      qr = firstHalf(q);
      const [k0, k1] = splitHalves(k);
      const [v0, v1] = splitHalves(v);
      dk = tf.sub(k0, k1);
      dv = tf.sub(v0, v1);
      vOther = v1;
      xr = firstHalf(x);
    } else {
      const [q, k, v] = h
        ? [lin(h, L.wq, L.bq), lin(h, L.wk, L.bk), lin(h, L.wv, L.bv)]
        : (qkv0 as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]);
      qr = q;
      dk = tf.sub(k, swapHalves(k));
      const vs = swapHalves(v);
      dv = tf.sub(v, vs);
      vOther = vs;
      xr = x;
    }
    const pw = tf.sigmoid(headSum(tf.mul(qr, dk), nHeads)) as tf.Tensor2D;
    const o = tf.add(vOther, headScale(pw, dv, nHeads)) as tf.Tensor2D;
    const x1 = tf.add(xr, tf.add(tf.matMul(o, L.wo), L.bo)) as tf.Tensor2D;
    const h2 = lnForward(x1, L.ln2g, L.ln2b, lnc);
    const u = tf.add(tf.matMul(h2, L.w1), L.b1) as tf.Tensor2D;
    const { y: g, dydx: dGelu } = gelu(u, cache !== undefined);
    x = tf.add(x1, tf.add(tf.matMul(g, L.w2), L.b2)) as tf.Tensor2D;
    cache?.layers.push({
      ln1: ln1c[0],
      h,
      q: qr,
      dk,
      dv,
      pw,
      o,
      ln2: lnc[0],
      h2,
      dGelu: dGelu as tf.Tensor2D,
      g,
    });
  }
  // The head reads position 0.
  if (!pos0Only) x = firstHalf(x);
  const lnc: LnCache[] = [];
  const hf = lnForward(x, w.lnfg, w.lnfb, lnc);
  if (cache) {
    cache.lnf = lnc[0];
    cache.hf = hf;
  }
  return hf;
}

/** A weight's gradient [in + 1, out] with its bias's gradient as the last row (see `augT`). */
type WithBias = tf.Tensor2D;
/** Weight gradients in the engine's layout (the embedding's come from dE). With the first-layer table, layer
 * 0's ln1/QKV gradients are filled in by the caller from the table's backward pass. */
export interface EngineGrads {
  layers: {
    ln1g?: tf.Tensor1D;
    ln1b?: tf.Tensor1D;
    /** [d + 1, 3d]: fused Q/K/V weights (query scaled) and biases. */
    wqkv?: WithBias;
    wo: WithBias;
    ln2g: tf.Tensor1D;
    ln2b: tf.Tensor1D;
    w1: WithBias;
    w2: WithBias;
  }[];
  lnfg: tf.Tensor1D;
  lnfb: tf.Tensor1D;
  /** Per head ([d + 1, p]); undefined for a head that was not seeded (its gradient is zero). */
  heads: (WithBias | undefined)[];
}

/**
 * Gradients reaching the logits: one tensor [B, p] for the first (single-task: only) head, or one per head in
 * layout.heads order, undefined for heads outside the loss (they then cost nothing).
 */
export type LogitGrads = tf.Tensor2D | readonly (tf.Tensor2D | undefined)[];

/**
 * Backward from the logits' gradients (one head's, or several heads' on the shared trunk: their contributions
 * to the trunk are summed). Returns dE [2B, d] and, when `paramGrads`, the gradient of every weight in the
 * engine's layout. Call inside tf.tidy.
 */
export function engineBackward(
  w: EngineWeights,
  layout: Layout,
  c: ForwardCache,
  dZs: LogitGrads,
  paramGrads: boolean,
): { dE: tf.Tensor2D; grads?: EngineGrads; dQKV0?: tf.Tensor2D } {
  const { d, nHeads, layers } = layout.sizes;
  let dQKV0: tf.Tensor2D | undefined;
  const seeds = dZs instanceof tf.Tensor ? [dZs] : dZs;
  if (seeds.length > w.heads.length)
    throw new Error(`engineBackward: ${seeds.length} logit gradients for ${w.heads.length} heads`);
  let dHf: tf.Tensor2D | undefined;
  for (let h = 0; h < seeds.length; h++) {
    const dZ = seeds[h];
    if (!dZ) continue;
    const part = tf.matMul(dZ, w.heads[h].whT) as tf.Tensor2D;
    dHf = dHf ? (tf.add(dHf, part) as tf.Tensor2D) : part;
  }
  if (!dHf) throw new Error("engineBackward: no head has a logit gradient");
  const B = dHf.shape[0];
  const lg: EngineGrads["layers"] = [];
  const headG = paramGrads
    ? w.heads.map((_, h) => {
        const dZ = seeds[h];
        return dZ ? (tf.matMul(augT(c.hf), dZ) as tf.Tensor2D) : undefined;
      })
    : undefined;
  const lnfG: tf.Tensor[] | undefined = paramGrads ? [] : undefined;
  let dx = lnBackward(dHf, w.lnfg, c.lnf, lnfG);
  if (!c.pos0Only) dx = tf.concat([dx, tf.zeros([B, d])], 0) as tf.Tensor2D;
  for (let i = layers - 1; i >= 0; i--) {
    const L = w.layers[i];
    const C = c.layers[i];
    const last = c.pos0Only && i === layers - 1;
    const ln2G: tf.Tensor[] | undefined = paramGrads ? [] : undefined;
    const ln1G: tf.Tensor[] | undefined = paramGrads ? [] : undefined;
    // MLP: x2 = x1 + W2·gelu(W1·LN2(x1) + b1) + b2.
    const dG = tf.matMul(dx, L.w2T);
    const du = tf.mul(dG, C.dGelu);
    const dx1 = tf.add(
      dx,
      lnBackward(tf.matMul(du, L.w1T) as tf.Tensor2D, L.ln2g, C.ln2, ln2G),
    ) as tf.Tensor2D;
    // Attention output: x1 = x + Wo·o + bo, o = v_other + p ⊙ (v_own − v_other).
    const dO = tf.matMul(dx1, L.woT);
    const dPw = headSum(tf.mul(dO, C.dv), nHeads);
    const dDv = headScale(C.pw, dO, nHeads);
    const dS = tf.mul(dPw, tf.mul(C.pw, tf.sub(1, C.pw)));
    const dQ = headScale(dS, C.dk, nHeads);
    const dDk = headScale(dS, C.q, nHeads);
    // dQKV: the Q/K/V gradient over the layer's input rows; dh: its product with W_qkvᵀ (into LN1).
    let dQKV: tf.Tensor2D | undefined;
    let dh: tf.Tensor2D | undefined;
    if (last) {
      // Rows of q exist for position 0 only; k, v for both: own = position 0, other = position 1. Position 1's
      // rows have no query gradient, so its part of dh needs only [W_k; W_v]ᵀ (2/3 of the matmul).
      const dOwn = concatColumns([dQ, dDk, dDv]);
      const dOtherKV = concatColumns([tf.neg(dDk), tf.sub(dO, dDv)]);
      if (C.h) {
        const wkvT = tf.slice(L.wqkvT, [d, 0], [2 * d, d]);
        dh = tf.concat([tf.matMul(dOwn, L.wqkvT), tf.matMul(dOtherKV, wkvT)], 0) as tf.Tensor2D;
      }
      if (paramGrads || !C.h)
        dQKV = tf.concat([dOwn, concatColumns([tf.zeros([B, d]), dOtherKV])], 0) as tf.Tensor2D;
    } else {
      const dk = tf.sub(dDk, swapHalves(dDk));
      const dVo = tf.sub(dO, dDv) as tf.Tensor2D; // gradient reaching v_other = swapHalves(v)
      const dv = tf.add(dDv, swapHalves(dVo));
      dQKV = concatColumns([dQ, dk, dv]);
      if (C.h) dh = tf.matMul(dQKV, L.wqkvT) as tf.Tensor2D;
    }
    // Residual into x: in the last layer only position 0's rows carry it.
    const resid = last ? (tf.concat([dx1, tf.zeros([B, d])], 0) as tf.Tensor2D) : dx1;
    let dxIn: tf.Tensor2D;
    if (C.h && C.ln1 && dh) {
      dxIn = tf.add(lnBackward(dh, L.ln1g, C.ln1, ln1G), resid) as tf.Tensor2D;
    } else {
      // Layer 0 fed by the first-layer table: the caller backpropagates dQKV through the table.
      dQKV0 = dQKV;
      dxIn = resid;
    }
    if (paramGrads && ln1G && ln2G) {
      lg[i] = {
        ln1g: ln1G[0] as tf.Tensor1D | undefined,
        ln1b: ln1G[1] as tf.Tensor1D | undefined,
        wqkv: C.h && dQKV ? (tf.matMul(augT(C.h), dQKV) as tf.Tensor2D) : undefined,
        wo: tf.matMul(augT(C.o), dx1),
        ln2g: ln2G[0] as tf.Tensor1D,
        ln2b: ln2G[1] as tf.Tensor1D,
        w1: tf.matMul(augT(C.h2), du),
        w2: tf.matMul(augT(C.g), dx),
      };
    }
    dx = dxIn;
  }
  if (!paramGrads || !headG || !lnfG) return { dE: dx, dQKV0 };
  return {
    dE: dx,
    dQKV0,
    grads: {
      layers: lg,
      lnfg: lnfG[0] as tf.Tensor1D,
      lnfb: lnfG[1] as tf.Tensor1D,
      heads: headG,
    },
  };
}

/** Writes engine-layout gradients into the flat gradient vector (undoing the QKV fusion and query scale). */
function scatterGrads(layout: Layout, g: EngineGrads, dTable: tf.Tensor, out: Float32Array): void {
  const { d, nHeads } = layout.sizes;
  const qs = 1 / Math.sqrt(d / nHeads);
  const at = (name: string) => paramView(layout, out, name);
  // readNow: heap views, each copied out before the next tfjs allocation.
  const put = (name: string, t: tf.Tensor) => at(name).set(readNow(t));
  /** A [in + 1, out] gradient: the weight's rows, then the bias's. */
  const putWithBias = (wName: string, bName: string, t: WithBias) => {
    const src = readNow(t);
    const n = (t.shape[0] - 1) * t.shape[1];
    at(wName).set(src.subarray(0, n));
    at(bName).set(src.subarray(n));
  };
  g.layers.forEach((L, i) => {
    const pre = `layers.${i}.`;
    if (!L.ln1g || !L.ln1b || !L.wqkv) throw new Error(`layer ${i}: Q/K/V or LN1 gradient missing`);
    put(`${pre}ln1.g`, L.ln1g);
    put(`${pre}ln1.b`, L.ln1b);
    put(`${pre}ln2.g`, L.ln2g);
    put(`${pre}ln2.b`, L.ln2b);
    putWithBias(`${pre}attn.wo`, `${pre}attn.bo`, L.wo);
    putWithBias(`${pre}mlp.w1`, `${pre}mlp.b1`, L.w1);
    putWithBias(`${pre}mlp.w2`, `${pre}mlp.b2`, L.w2);
    const w = readNow(L.wqkv);
    const wq = at(`${pre}attn.wq`);
    const wk = at(`${pre}attn.wk`);
    const wv = at(`${pre}attn.wv`);
    for (let r = 0; r < d; r++) {
      for (let c = 0; c < d; c++) {
        wq[r * d + c] = w[r * 3 * d + c] * qs;
        wk[r * d + c] = w[r * 3 * d + d + c];
        wv[r * d + c] = w[r * 3 * d + 2 * d + c];
      }
    }
    const b = w.subarray(d * 3 * d);
    const bq = at(`${pre}attn.bq`);
    for (let c = 0; c < d; c++) bq[c] = b[c] * qs;
    // The key bias shifts both keys equally and cancels in (own − other): its gradient is exactly zero, and
    // the computed column sum would only add rounding noise, which Adam's normalisation then amplifies.
    at(`${pre}attn.bk`).fill(0);
    at(`${pre}attn.bv`).set(b.subarray(2 * d, 3 * d));
  });
  put("ln_f.g", g.lnfg);
  put("ln_f.b", g.lnfb);
  layout.heads.forEach((h, i) => {
    const hg = g.heads[i];
    if (hg) {
      putWithBias(h.w, h.b, hg);
    } else {
      at(h.w).fill(0);
      at(h.b).fill(0);
    }
  });
  const dt = readNow(dTable);
  const tok = at("embed.tok");
  tok.set(dt.subarray(0, tok.length));
  at("embed.pos").set(dt.subarray(tok.length, tok.length + 2 * d));
}

/**
 * The first-layer table: layer 0's LN1 and Q/K/V projection depend only on (token, position), so compute them
 * for the 2p possible rows [tok + pos0; tok + pos1] and pick rows per example, instead of for 2B rows.
 * The row picking (and, backwards, the scatter-add) runs in JavaScript: wasm's Gather is slow and has no
 * gradient, and a one-hot matmul over 2p > d rows would cost more than the projection it replaces.
 */
function pickRows(table: tf.Tensor2D, rows: Int32Array, parts = 1, rowsT?: tf.Tensor1D): tf.Tensor2D[] {
  if (rowsT && levers.fusedKernels && fusedKernelsOn()) return fusedGatherRows(table, rows, rowsT, parts);
  const cols = table.shape[1] / parts;
  const t = readNow(table); // read before the tensors below allocate
  const outs = Array.from({ length: parts }, () => new Float32Array(rows.length * cols));
  for (let i = 0; i < rows.length; i++) {
    const base = rows[i] * cols * parts;
    for (let j = 0; j < parts; j++) outs[j].set(t.subarray(base + j * cols, base + (j + 1) * cols), i * cols);
  }
  return outs.map((o) => tf.tensor2d(o, [rows.length, cols]));
}

/** Layer 0's inputs for 2p rows: the embeddings [tok + pos0; tok + pos1], their LN1 and Q/K/V. */
interface FirstLayerTable {
  rows: tf.Tensor2D;
  h: tf.Tensor2D;
  ln: LnCache;
  qkv: tf.Tensor2D;
}

function firstLayerTable(w: EngineWeights): FirstLayerTable {
  const L0 = w.layers[0];
  const [pos0, pos1] = tf.split(w.pos, 2, 0);
  const rows = tf.concat([tf.add(w.tok, pos0), tf.add(w.tok, pos1)], 0) as tf.Tensor2D;
  const lnc: LnCache[] = [];
  const h = lnForward(rows, L0.ln1g, L0.ln1b, lnc);
  return { rows, h, ln: lnc[0], qkv: tf.add(tf.matMul(h, L0.wqkv), L0.bqkv) as tf.Tensor2D };
}

/** The table's rows and Q/K/V: what a forward-only pass picks from (see engineEvalTable). */
export type EvalTable = Pick<FirstLayerTable, "rows" | "qkv">;

/**
 * The first-layer table of these weights for forward-only passes, to share across all the batches of an eval
 * (it depends on the weights only); undefined when that lever is off. Dispose with disposeEvalTable.
 */
export function engineEvalTable(w: EngineWeights): EvalTable | undefined {
  if (!levers.firstLayerTable) return undefined;
  return tf.tidy(() => {
    const { rows, qkv } = firstLayerTable(w);
    return { rows, qkv };
  });
}

export function disposeEvalTable(t: EvalTable | undefined): void {
  if (t) tf.dispose([t.rows, t.qkv]);
}

/** Input embeddings and layer-0 Q/K/V for a batch, picked from the table (one JS row copy each). */
function fromTable(
  t: EvalTable,
  batch: EngineBatch,
): { E: tf.Tensor2D; qkv0: [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] } {
  const [E] = pickRows(t.rows, batch.tableRows, 1, batch.tableRowsT);
  const [q, k, v] = pickRows(t.qkv, batch.tableRows, 3, batch.tableRowsT);
  return { E, qkv0: [q, k, v] };
}

/** Logits [B, p] of a batch, forward only (eval): uses the first-layer table when that lever is on. */
export function engineLogits(w: EngineWeights, layout: Layout, batch: EngineBatch): tf.Tensor2D {
  return tf.tidy(() => {
    if (!levers.firstLayerTable) return engineForward(w, layout, engineEmbed(w, batch));
    const { E, qkv0 } = fromTable(firstLayerTable(w), batch);
    return engineForward(w, layout, E, undefined, qkv0);
  });
}

/**
 * Every head's logits [B, p] of a batch (layout.heads order), forward only, one trunk pass. `table`: the
 * weights' engineEvalTable, when the caller shares one across batches (else it is built here).
 */
export function engineLogitsHeads(
  w: EngineWeights,
  layout: Layout,
  batch: EngineBatch,
  table?: EvalTable,
): tf.Tensor2D[] {
  return tf.tidy(() => {
    if (!levers.firstLayerTable) return engineForwardHeads(w, layout, engineEmbed(w, batch));
    const { E, qkv0 } = fromTable(table ?? firstLayerTable(w), batch);
    return engineForwardHeads(w, layout, E, undefined, qkv0);
  });
}

/**
 * Gradients of the logits with respect to the input embeddings, forward once and backward once per entry of
 * `seeds` (each the logit gradients of one backward pass): dE [2B, d] each. Call inside tf.tidy. With the
 * first-layer table, layer 0's Q/K/V come from the 2p table rows and LN1's backward reads the table's
 * normalised rows picked per example (the centroid passes' layer-0 projection then costs 2p rows, not 2B).
 */
export function engineInputGrads(
  w: EngineWeights,
  layout: Layout,
  batch: EngineBatch,
  seeds: readonly LogitGrads[],
): tf.Tensor2D[] {
  const cache = newCache();
  if (!levers.firstLayerTable) {
    engineForwardHeads(w, layout, engineEmbed(w, batch), cache, undefined, []);
    return seeds.map((s) => engineBackward(w, layout, cache, s, false).dE);
  }
  const L0 = w.layers[0];
  const table = firstLayerTable(w);
  const { E, qkv0 } = fromTable(table, batch);
  engineForwardHeads(w, layout, E, cache, qkv0, []);
  const [xhat] = pickRows(table.ln.xhat, batch.tableRows, 1, batch.tableRowsT);
  const [rstd] = pickRows(table.ln.rstd, batch.tableRows, 1, batch.tableRowsT);
  return seeds.map((s) => {
    const { dE, dQKV0 } = engineBackward(w, layout, cache, s, false);
    if (!dQKV0) throw new Error("unreachable: layer 0 was fed by the table but returned no Q/K/V gradient");
    return tf.add(
      dE,
      lnBackward(tf.matMul(dQKV0, L0.wqkvT) as tf.Tensor2D, L0.ln1g, { xhat, rstd }),
    ) as tf.Tensor2D;
  });
}

function scatterAddRows(x: tf.Tensor2D, rows: Int32Array, nRows: number, rowsT?: tf.Tensor1D): tf.Tensor2D {
  const [, cols] = x.shape;
  if (rowsT && fused(cols)) return fusedScatterAddRows(x, rows, rowsT, nRows);
  const g = readNow(x); // read before the tensor below allocates
  const acc = new Float32Array(nRows * cols);
  for (let i = 0; i < rows.length; i++) {
    const src = i * cols;
    const dst = rows[i] * cols;
    for (let j = 0; j < cols; j++) acc[dst + j] += g[src + j];
  }
  return tf.tensor2d(acc, [nRows, cols]);
}

/** Mean cross-entropy of logits against one-hot labels, and its gradient with respect to the logits. */
function crossEntropyAndGrad(
  z: tf.Tensor2D,
  yOneHot: tf.Tensor2D,
  B: number,
): { loss: number; dZ: tf.Tensor2D } {
  const logp = tf.logSoftmax(z);
  const loss = tf.neg(tf.div(tf.sum(tf.mul(logp, yOneHot)), B)).dataSync()[0];
  return { loss, dZ: tf.div(tf.sub(tf.exp(logp), yOneHot), B) as tf.Tensor2D };
}

/**
 * The loss Σ_i CE(head heads[i], labels i) and its logit gradients, one per head of the layout (undefined
 * outside the loss). One head: exactly the single-task loss.
 */
function headsLoss(
  zs: tf.Tensor2D[],
  batch: EngineBatch,
  heads: readonly number[],
  nHeads: number,
): { loss: number; dZs: (tf.Tensor2D | undefined)[] } {
  const dZs: (tf.Tensor2D | undefined)[] = new Array(nHeads).fill(undefined);
  let loss = 0;
  heads.forEach((h, i) => {
    const r = crossEntropyAndGrad(zs[i], batch.yOneHots[i], batch.B);
    loss += r.loss;
    dZs[h] = r.dZ;
  });
  return { loss, dZs };
}

/**
 * Mean cross-entropy of a batch and its gradient (written into `gradOut`, theta's layout). Returns the loss.
 * Multitask: the batch's label sets i go to heads `heads[i]` (default: label set i to head i), the loss is the
 * sum of their mean cross-entropies, and heads outside the loss get a zero gradient. `heads: [t]` with the
 * labels of task t gives that task's own loss and gradient.
 */
export function engineLossAndGrad(
  layout: Layout,
  theta: Float32Array,
  batch: EngineBatch,
  gradOut: Float32Array,
  heads: readonly number[] = batch.yOneHots.map((_, i) => i),
): number {
  if (!batch.ohT) throw new Error("engineLossAndGrad needs a batch built with withGradInputs");
  if (heads.length !== batch.yOneHots.length)
    throw new Error(`engineLossAndGrad: ${batch.yOneHots.length} label sets for heads [${heads.join(", ")}]`);
  if (new Set(heads).size !== heads.length || heads.some((h) => !(h >= 0 && h < layout.heads.length)))
    throw new Error(`engineLossAndGrad: heads [${heads.join(", ")}] are not distinct heads of the layout`);
  const ohT = batch.ohT;
  const { p } = layout.sizes;
  const nH = layout.heads.length;
  const w = engineWeights(layout, theta);
  try {
    if (!levers.firstLayerTable) {
      return tf.tidy(() => {
        const cache = newCache();
        const zs = engineForwardHeads(w, layout, engineEmbed(w, batch), cache, undefined, heads);
        const { loss, dZs } = headsLoss(zs, batch, heads, nH);
        const { dE, grads } = engineBackward(w, layout, cache, dZs, true);
        if (!grads) throw new Error("unreachable: engineBackward returned no parameter gradients");
        scatterGrads(layout, grads, tf.matMul(ohT, dE), gradOut);
        return loss;
      });
    }
    return tf.tidy(() => {
      const L0 = w.layers[0];
      const table = firstLayerTable(w);
      const { E, qkv0 } = fromTable(table, batch);
      const cache = newCache();
      const zs = engineForwardHeads(w, layout, E, cache, qkv0, heads);
      const { loss, dZs } = headsLoss(zs, batch, heads, nH);
      const { dE, grads, dQKV0 } = engineBackward(w, layout, cache, dZs, true);
      if (!grads || !dQKV0) throw new Error("unreachable: engineBackward returned no parameter gradients");
      // Back through the table: scatter-add the per-example rows, then LN1 and the projection on 2p rows.
      const dQkvT = scatterAddRows(dQKV0, batch.tableRows, 2 * p, batch.tableRowsT);
      const ln1G: tf.Tensor[] = [];
      const dRows = lnBackward(tf.matMul(dQkvT, L0.wqkvT) as tf.Tensor2D, L0.ln1g, table.ln, ln1G);
      const g0 = grads.layers[0];
      g0.wqkv = tf.matMul(augT(table.h), dQkvT) as tf.Tensor2D;
      g0.ln1g = ln1G[0] as tf.Tensor1D;
      g0.ln1b = ln1G[1] as tf.Tensor1D;
      // Embedding: the residual path through the one-hot matmul, plus the table rows' gradient.
      const [dR0, dR1] = tf.split(dRows, 2, 0) as tf.Tensor2D[];
      const [dTok, dPos] = tf.split(tf.matMul(ohT, dE), [p, 2], 0);
      const dTable = tf.concat(
        [
          tf.add(dTok, tf.add(dR0, dR1)),
          tf.add(dPos, tf.concat([colSum(dR0), colSum(dR1)]).reshape([2, -1])),
        ],
        0,
      );
      scatterGrads(layout, grads, dTable, gradOut);
      return loss;
    });
  } finally {
    disposeWeights(w);
  }
}
