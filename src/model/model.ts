// The paper's model: token + learned position embedding over [a, b]; L pre-norm encoder layers
// (x += MHA(LN1(x)); x += W2·GELU(W1·LN2(x)+b1)+b2, exact erf GELU, bidirectional); final LayerNorm; linear
// head read at position 0. With a sequence of two tokens, we keep the two positions as separate [B, d] tensors:
// no 3-D/5-D reshapes or slices (pathologically slow on wasm), and attention is a 2-way softmax = a sigmoid.
import * as tf from "@tensorflow/tfjs";
import type { Layout } from "./params";

export type Params = Record<string, tf.Tensor>;

const LN_EPS = 1e-5;

/**
 * x @ w with a gradient that never asks for a transposed operand: wasm's BatchMatMul with a transpose flag runs
 * ~25x slower than plain matmul, so we transpose explicitly and multiply plainly.
 */
export const matMul = tf.customGrad((...args) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor2D;
      const [sa, sb] = saved as tf.Tensor2D[];
      return [tf.matMul(g, tf.transpose(sb)), tf.matMul(tf.transpose(sa), g)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/** Rows of `table` selected by `idx`; the gradient is the one-hot scatter `ohT @ dy` (wasm has no
 * UnsortedSegmentSum, which tf.gather's own gradient needs). `ohT` is the [rows, B] one-hot of idx, transposed. */
export function gatherRows(table: tf.Tensor, idx: tf.Tensor1D, ohT?: tf.Tensor2D): tf.Tensor2D {
  if (!ohT) return tf.gather(table, idx) as tf.Tensor2D;
  const f = tf.customGrad((...args) => {
    const [t] = args as [tf.Tensor2D];
    return {
      value: tf.gather(t, idx),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [tf.matMul(ohT, dy as tf.Tensor2D)],
    };
  }) as (t: tf.Tensor) => tf.Tensor2D;
  return f(table);
}

export function linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return tf.add(matMul(x, w), b);
}

export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LN_EPS))), g), b);
}

/** Exact (erf) GELU, as PyTorch's activation="gelu". */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** Per-head dot products of two [B, d] tensors → [B, nHeads]. */
function headDot(x: tf.Tensor, y: tf.Tensor, nHeads: number): tf.Tensor {
  const [B, d] = x.shape;
  return tf.sum(tf.reshape(tf.mul(x, y), [B, nHeads, d / nHeads]), -1);
}

/** Multi-head self-attention over the two positions; returns outputs at the requested positions. */
function attention(
  P: Params,
  i: number,
  h: tf.Tensor[],
  nHeads: number,
  positions: number[],
  watch: ForwardWatchers = {},
): tf.Tensor[] {
  const pre = `layers.${i}.attn`;
  const [B, d] = h[0].shape;
  const dh = d / nHeads;
  // An attention linear, shown to `watch.tap` (which may add to its output) when there is one.
  const lin = (m: "q" | "k" | "v" | "o", pos: number, x: tf.Tensor) => {
    const y = linear(x, P[`${pre}.w${m}`], P[`${pre}.b${m}`]);
    return watch.tap ? watch.tap(`${pre}.w${m}`, pos, x, y) : y;
  };
  const k = h.map((x, pos) => lin("k", pos, x));
  const v = h.map((x, pos) => lin("v", pos, x));
  const vDiff = tf.reshape(tf.sub(v[0], v[1]), [B, nHeads, dh]);
  return positions.map((pos) => {
    const q = lin("q", pos, h[pos]);
    // softmax over two keys: weight on key 0 = sigmoid((s0 - s1) / sqrt(dh)).
    const s = tf.sub(headDot(q, k[0], nHeads), headDot(q, k[1], nHeads));
    const w0 = tf.sigmoid(tf.mul(s, 1 / Math.sqrt(dh)));
    if (pos === 0) watch.onAttention?.(i, w0);
    const o = tf.add(v[1], tf.reshape(tf.mul(tf.expandDims(w0, -1), vDiff), [B, d]));
    return lin("o", pos, o);
  });
}

function mlp(P: Params, i: number, x: tf.Tensor): tf.Tensor {
  const pre = `layers.${i}.mlp`;
  return linear(gelu(linear(x, P[`${pre}.w1`], P[`${pre}.b1`])), P[`${pre}.w2`], P[`${pre}.b2`]);
}

/**
 * Logits [B, p] from the input embeddings e = [e0, e1] (token + position embedding at each position, [B, d]).
 * The head reads position 0 only, so the last layer computes its query, attention output, MLP and LayerNorms
 * for position 0 only (keys and values still need both positions): exact, and ~30% fewer FLOPs.
 * A multitask model's first head; `forwardFromEmbedHeads` gives them all.
 */
export function forwardFromEmbed(P: Params, layout: Layout, e: [tf.Tensor, tf.Tensor]): tf.Tensor2D {
  return forwardFromEmbedHeads(P, layout, e)[0];
}

/**
 * What a caller may watch in the reference forward pass (all inside the caller's tidy):
 * - onAttention: layer i's attention weight on key 0 for the query at position 0, [B, nHeads];
 * - onResidual: the final residual stream at position 0, before the final LayerNorm, [B, d];
 * - tap: each attention linear (`layers.i.attn.wq|wk|wv|wo` at position pos) with its input x [B, d] and output
 *   y [B, d]; it returns the output to use (y, or y plus something whose gradient the caller wants: per-example
 *   gradients are x_posᵀ·∂L/∂y_pos summed over positions).
 */
export interface ForwardWatchers {
  onAttention?: (layer: number, w0: tf.Tensor) => void;
  onResidual?: (h0: tf.Tensor2D) => void;
  tap?: (name: string, pos: number, x: tf.Tensor, y: tf.Tensor2D) => tf.Tensor;
}

/** Logits [B, p] of every head (layout.heads order): the same linear readout of the shared trunk. */
export function forwardFromEmbedHeads(
  P: Params,
  layout: Layout,
  e: [tf.Tensor, tf.Tensor],
  watch: ForwardWatchers = {},
): tf.Tensor2D[] {
  const { layers, nHeads } = layout.sizes;
  let x: tf.Tensor[] = e;
  for (let i = 0; i < layers; i++) {
    const last = i === layers - 1;
    const positions = last ? [0] : [0, 1];
    const h = x.map((xi) => layerNorm(xi, P[`layers.${i}.ln1.g`], P[`layers.${i}.ln1.b`]));
    const att = attention(P, i, h, nHeads, positions, watch);
    x = positions.map((pos, j) => tf.add(x[pos], att[j]));
    x = x.map((xi) => tf.add(xi, mlp(P, i, layerNorm(xi, P[`layers.${i}.ln2.g`], P[`layers.${i}.ln2.b`]))));
  }
  watch.onResidual?.(x[0] as tf.Tensor2D);
  const hf = layerNorm(x[0], P["ln_f.g"], P["ln_f.b"]);
  return layout.heads.map((h) => linear(hf, P[h.w], P[h.b]));
}

/** Integer inputs of a batch, with the one-hot matrices the embedding gradient needs. */
export interface BatchTensors {
  a: tf.Tensor1D;
  b: tf.Tensor1D;
  /** One-hot of a and b, transposed: [p, B] (only for gradients with respect to the embedding table). */
  ohTa?: tf.Tensor2D;
  ohTb?: tf.Tensor2D;
  /** One-hot labels [B, p] (float), for the loss. */
  yOneHot: tf.Tensor2D;
  y: tf.Tensor1D;
}

/** `withGradInputs: false` skips the one-hot matrices that only the embedding gradient needs (eval). */
export function batchTensors(
  a: Int32Array,
  b: Int32Array,
  y: Int32Array,
  p: number,
  { withGradInputs = true } = {},
): BatchTensors {
  return tf.tidy(() => {
    const ta = tf.tensor1d(a, "int32");
    const tb = tf.tensor1d(b, "int32");
    const ty = tf.tensor1d(y, "int32");
    const ohT = (t: tf.Tensor1D) => tf.transpose(tf.oneHot(t, p).toFloat()) as tf.Tensor2D;
    return {
      a: ta,
      b: tb,
      ohTa: withGradInputs ? ohT(ta) : undefined,
      ohTb: withGradInputs ? ohT(tb) : undefined,
      yOneHot: tf.oneHot(ty, p).toFloat() as tf.Tensor2D,
      y: ty,
    };
  });
}

export function disposeBatch(bt: BatchTensors): void {
  tf.dispose([bt.a, bt.b, bt.yOneHot, bt.y]);
  if (bt.ohTa) tf.dispose([bt.ohTa]);
  if (bt.ohTb) tf.dispose([bt.ohTb]);
}

/** The input embeddings e(x) = [tok[a] + pos[0], tok[b] + pos[1]]. */
export function embed(P: Params, bt: BatchTensors): [tf.Tensor2D, tf.Tensor2D] {
  const pos = P["embed.pos"];
  const [p0, p1] = tf.split(pos, 2, 0);
  return [
    tf.add(gatherRows(P["embed.tok"], bt.a, bt.ohTa), p0),
    tf.add(gatherRows(P["embed.tok"], bt.b, bt.ohTb), p1),
  ];
}

export function forward(P: Params, layout: Layout, bt: BatchTensors): tf.Tensor2D {
  return forwardFromEmbed(P, layout, embed(P, bt));
}

export function forwardHeads(P: Params, layout: Layout, bt: BatchTensors): tf.Tensor2D[] {
  return forwardFromEmbedHeads(P, layout, embed(P, bt));
}

/** Mean cross-entropy of logits [B, p] against one-hot labels. */
export function crossEntropy(logits: tf.Tensor2D, yOneHot: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), yOneHot), -1))) as tf.Scalar;
}

/** Parameter tensors built from the flat vector theta (copies; dispose them or build inside tf.tidy). */
export function paramTensors(layout: Layout, theta: Float32Array): Params {
  const P: Params = {};
  for (const s of layout.specs) P[s.name] = tf.tensor(theta.subarray(s.offset, s.offset + s.size), s.shape);
  return P;
}

/**
 * Mean cross-entropy on a batch and its gradient with respect to every parameter, written into `gradOut`
 * (flat, same layout as theta). Returns the loss. Multitask: `yOneHots` gives each head's one-hot labels
 * (layout.heads order, undefined: the head is not in the loss) and the loss is the sum of their cross-entropies.
 */
export function lossAndGrad(
  layout: Layout,
  theta: Float32Array,
  bt: BatchTensors,
  gradOut: Float32Array,
  yOneHots?: readonly (tf.Tensor2D | undefined)[],
): number {
  const names = layout.specs.map((s) => s.name);
  return tf.tidy(() => {
    const P = paramTensors(layout, theta);
    const f = (...ts: tf.Tensor[]) => {
      const Q: Params = {};
      names.forEach((n, i) => {
        Q[n] = ts[i];
      });
      if (!yOneHots) return crossEntropy(forward(Q, layout, bt), bt.yOneHot);
      const zs = forwardHeads(Q, layout, bt);
      // A head outside the loss still enters it times 0 (autodiff needs every parameter connected): gradient 0.
      const terms = zs.map((z, h) => {
        const y = yOneHots[h];
        return y ? crossEntropy(z, y) : tf.mul(tf.sum(z), 0);
      });
      return tf.addN(terms) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(f)(names.map((n) => P[n]));
    layout.specs.forEach((s, i) => {
      gradOut.set(grads[i].dataSync(), s.offset);
    });
    return value.dataSync()[0];
  });
}
