// Per-example gradient SVD (§C6): at one checkpoint, the per-example loss gradients g_i = ∇_{θ_attn} ℓ_i on a
// fixed batch, centred (g_i − ḡ), and the top right singular vectors of that B × P matrix: the directions of
// largest example-to-example gradient variance. Batched: one forward and one backward for the whole batch.
//
// Author's definitions (skydancerosel/grokking-integrability @70e1683, gradient_sed/diagnostics/
// per_example_grad_svd.py; the file is gone from the repository's current head):
// - parameters: attention *weights* only, biases excluded (`is_attn`, l.70-71: in_proj_weight and out_proj.weight
//   = our W_q, W_k, W_v, W_o of every layer, the `attn` group);
// - per-example loss: `F.cross_entropy(model(a[i:i+1], b[i:i+1]), y[i:i+1])` (l.112-117), i.e. ℓ_i =
//   −log softmax(z_i)[y_i] of the single head; so σ here are on the author's scale (per-example, not /B);
// - batch: 512 pairs, a and b uniform with replacement (l.194-201) — the caller's `pairs`;
// - centring: `Gc = G_pe - G_pe.mean(axis=0)` then `np.linalg.svd(Gc)`, top-K rows of Vt (l.234-236), K = 3;
// - |cos|: `abs(V_pe[0] @ v_w1)` (l.286) with v_w1 the unit gradient of the batch-mean loss (l.239-247), which
//   is the mean per-example gradient ḡ.
//
// How, without the B × P matrix: the reference forward's `tap` adds a zero tensor z to the output of every
// attention linear (W, pos); the gradient of Σ_i ℓ_i with respect to z is δ [B, d_out], row i example i's
// output gradient (rows do not interact: no batch statistics). Example i's gradient for W is
// G_i = Σ_pos x_{i,pos}ᵀ δ_{i,pos}, so
//   K_ij = ⟨g_i, g_j⟩ = Σ_W Σ_{pos,pos'} (x_{i,pos}·x_{j,pos'}) (δ_{i,pos}·δ_{j,pos'})  (matmuls, B × B),
//   K_c = H K H (H = I − 11ᵀ/B), top-k eigenpairs (λ_k, u_k) of K_c, σ_k = √λ_k,
//   v_k = Σ_i u_{ki} (g_i − ḡ) / σ_k = Σ_pos Xᵀ diag(u_k − mean u_k) Δ / σ_k per W,   ḡ = (1/B) Σ_pos Xᵀ Δ.
import * as tf from "@tensorflow/tfjs";
import type { Pairs } from "../data/tasks";
import {
  batchTensors,
  disposeBatch,
  embed,
  forwardFromEmbedHeads,
  type Params,
  paramTensors,
} from "../model/model";
import { groupRange, type Layout, type ParamSpec } from "../model/params";
import { dot, norm, type TopEigen, type TopEigenOptions, topEigenpairs } from "../util/linalg";

/** The attention weight matrices in the attn group's order, with their offset inside the group. */
function attnSpecs(layout: Layout): { spec: ParamSpec; at: number }[] {
  const { start, end } = groupRange(layout, "attn");
  return layout.specs
    .filter((s) => s.offset >= start && s.offset < end)
    .sort((a, b) => a.offset - b.offset)
    .map((spec) => ({ spec, at: spec.offset - start }));
}

/** One attention weight's taps: its input x_pos [B, d_in] and output gradient δ_pos [B, d_out] per position. */
interface WeightTaps {
  spec: ParamSpec;
  /** Offset of this weight inside the attn group. */
  at: number;
  xs: tf.Tensor2D[];
  deltas: tf.Tensor2D[];
}

/**
 * Forward + one backward of the summed per-example cross-entropy (first head) with zero taps on every
 * attention linear. Call inside tf.tidy; the returned tensors belong to the caller's scope.
 */
function tapGradients(layout: Layout, P: Params, pairs: Pairs): { taps: WeightTaps[]; loss: tf.Scalar } {
  const B = pairs.a.length;
  const { d, layers } = layout.sizes;
  const bt = batchTensors(pairs.a, pairs.b, pairs.y, layout.sizes.p, { withGradInputs: false });
  const kept = new Set<tf.Tensor>();
  try {
    const e = embed(P, bt);
    // Which (weight, position) the forward taps: every position, except the last layer's query and output,
    // which it computes at position 0 only (model.ts).
    const keys: string[] = [];
    for (let i = 0; i < layers; i++) {
      for (const m of ["wq", "wk", "wv", "wo"]) {
        const positions = i === layers - 1 && (m === "wq" || m === "wo") ? [0] : [0, 1];
        for (const pos of positions) keys.push(`layers.${i}.attn.${m}:${pos}`);
      }
    }
    const zs = keys.map(() => tf.zeros([B, d]) as tf.Tensor2D);
    const inputs = new Map<string, tf.Tensor2D>();
    let loss: tf.Scalar | undefined;
    const f = (...z: tf.Tensor[]): tf.Scalar => {
      const logits = forwardFromEmbedHeads(P, layout, e, {
        tap: (name, pos, x, y) => {
          const key = `${name}:${pos}`;
          const j = keys.indexOf(key);
          if (j < 0 || inputs.has(key)) throw new Error(`perExample: unexpected attention tap ${key}`);
          if (y.shape[1] !== d)
            throw new Error(`perExample: tap ${key} has width ${y.shape[1]}, expected ${d}`);
          // tf.grads runs the forward in its own tidy: keep the inputs past it (disposed in `finally`, after
          // being cloned into the caller's scope).
          const c = tf.keep(tf.clone(x)) as tf.Tensor2D;
          kept.add(c);
          inputs.set(key, c);
          return tf.add(y, z[j]);
        },
      })[0];
      // Σ_i ℓ_i, ℓ_i = −log softmax(z_i)[y_i].
      const l = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), bt.yOneHot))) as tf.Scalar;
      loss = tf.keep(tf.div(l, B)) as tf.Scalar;
      kept.add(loss);
      return l;
    };
    const deltas = tf.grads(f)(zs) as tf.Tensor2D[];
    if (inputs.size !== keys.length || !loss)
      throw new Error(`perExample: the forward tapped ${inputs.size} of ${keys.length} attention linears`);
    const taps = attnSpecs(layout).map(({ spec, at }) => {
      const t: WeightTaps = { spec, at, xs: [], deltas: [] };
      keys.forEach((key, j) => {
        if (!key.startsWith(`${spec.name}:`)) return;
        t.xs.push(tf.clone(inputs.get(key) as tf.Tensor2D));
        t.deltas.push(deltas[j]);
      });
      if (t.xs.length === 0) throw new Error(`perExample: attention weight ${spec.name} was never tapped`);
      return t;
    });
    return { taps, loss: tf.clone(loss) };
  } finally {
    tf.dispose([...kept]);
    disposeBatch(bt);
  }
}

/** fn's (non-tensor) result, every tensor it made disposed. tf.tidy itself would walk a returned typed array
 * element by element looking for tensors. */
function tidyValue<T>(fn: () => T): T {
  let out: T | undefined;
  tf.tidy(() => {
    out = fn();
  });
  return out as T;
}

function checkPairs(pairs: Pairs): number {
  const B = pairs.a.length;
  if (B < 1 || pairs.b.length !== B || pairs.y.length !== B)
    throw new Error(
      `perExample: need a non-empty batch with matching a, b, y (got ${B}, ${pairs.b.length}, ${pairs.y.length})`,
    );
  return B;
}

/** At most this many floats materialised by `perExampleGrads` (256 MiB). */
const MAX_MATERIALISED = 2 ** 26;

/**
 * Materialised per-example attention gradients: row i = ∇_{θ_attn} ℓ_i (attn group layout, length P), for
 * small batches (tests, references); `perExampleSvd` never forms this B × P matrix.
 */
export function perExampleGrads(layout: Layout, theta: Float32Array, pairs: Pairs): Float32Array[] {
  const B = checkPairs(pairs);
  const { start, end } = groupRange(layout, "attn");
  const Pn = end - start;
  if (B * Pn > MAX_MATERIALISED)
    throw new Error(`perExampleGrads: ${B} × ${Pn} is too large to materialise; use perExampleSvd`);
  const flat = tidyValue(() => {
    const { taps } = tapGradients(layout, paramTensors(layout, theta), pairs);
    const blocks = taps.map((t) => {
      const [dIn, dOut] = t.spec.shape;
      const outer = t.xs.map((x, j) =>
        tf.mul(tf.reshape(x, [B, dIn, 1]), tf.reshape(t.deltas[j], [B, 1, dOut])),
      );
      return tf.reshape(outer.length === 1 ? outer[0] : tf.addN(outer), [B, dIn * dOut]);
    });
    return tf.concat(blocks, 1).dataSync() as Float32Array;
  });
  return Array.from({ length: B }, (_, i) => flat.slice(i * Pn, (i + 1) * Pn));
}

/** Σ over a weight's position pairs of (X_a X_bᵀ) ∘ (Δ_a Δ_bᵀ): its B × B contribution to the Gram matrix. */
function weightGram(t: WeightTaps): tf.Tensor2D {
  const n = t.xs.length;
  const xT = t.xs.map((x) => tf.transpose(x));
  const dT = t.deltas.map((x) => tf.transpose(x));
  const terms: tf.Tensor[] = [];
  for (let a = 0; a < n; a++) {
    for (let b = a; b < n; b++) {
      const m = tf.mul(tf.matMul(t.xs[a], xT[b]), tf.matMul(t.deltas[a], dT[b]));
      terms.push(a === b ? m : tf.add(m, tf.transpose(m)));
    }
  }
  return (terms.length === 1 ? terms[0] : tf.addN(terms)) as tf.Tensor2D;
}

/** Σ_W of weightGram, each weight's temporaries (~4 B × B tensors per position pair) freed before the next. */
function gramOf(taps: WeightTaps[]): Float64Array {
  let acc: tf.Tensor2D | undefined;
  for (const t of taps) {
    const prev = acc;
    acc = tf.tidy(() => (prev ? tf.add(prev, weightGram(t)) : weightGram(t)) as tf.Tensor2D);
    prev?.dispose();
  }
  const K = Float64Array.from((acc as tf.Tensor2D).dataSync());
  acc?.dispose();
  return K;
}

/** The uncentred Gram matrix K_ij = ⟨g_i, g_j⟩ of the per-example attention gradients (B × B row-major). */
export function perExampleGram(layout: Layout, theta: Float32Array, pairs: Pairs): Float64Array {
  checkPairs(pairs);
  return tidyValue(() => gramOf(tapGradients(layout, paramTensors(layout, theta), pairs).taps));
}

/** K_c = H K H in place-free float64: K_ij − r_i − r_j + m (r row means, m the grand mean). */
export function centreGram(K: Float64Array, n: number): Float64Array {
  const r = new Float64Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += K[i * n + j];
    r[i] = s / n;
    m += s;
  }
  m /= n * n;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = K[i * n + j] - r[i] - r[j] + m;
  // Exactly symmetric (the two halves round differently).
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const s = 0.5 * (out[i * n + j] + out[j * n + i]);
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  return out;
}

export interface PerExampleSvd {
  /** Batch size B and attention dimension P. */
  B: number;
  P: number;
  /** σ_k = √λ_k of the centred B × P per-example gradient matrix, descending (per-example losses, not /B). */
  sigma: number[];
  /** Top right singular vectors v_k: unit Float32Array over the attn group (the format `coupling` takes).
   * Sign: each vector's largest-|component| entry is positive. */
  directions: Float32Array[];
  /** |cos(v_1, ḡ)|, the author's `cos_pe1_w1`. */
  cosTopMean: number;
  /** |cos(v_k, ḡ)| for every k. */
  cosMean: number[];
  /** The mean per-example gradient ḡ = ∇ of the batch-mean loss (attn group), and its norm. */
  meanGrad: Float32Array;
  meanGradNorm: number;
  /** trace K_c = Σ_i ‖g_i − ḡ‖² (so σ_k² / totalVariance is direction k's share). */
  totalVariance: number;
  /** Mean cross-entropy of the batch. */
  loss: number;
  /** How the eigenpairs of K_c were found (see topEigenpairs). */
  eigen: Omit<TopEigen, "values" | "vectors">;
}

/**
 * Per-example gradient SVD of the attention weights at theta on `pairs` (the paper: the fixed gradient batch
 * of 512): one batched forward/backward, the B × B Gram of the per-example gradients by matmuls, its centred
 * top-k eigenpairs, and the right singular vectors assembled per weight by matmuls. Needs B > k (the centred
 * matrix has rank ≤ B − 1).
 */
export function perExampleSvd(
  layout: Layout,
  theta: Float32Array,
  pairs: Pairs,
  k = 3,
  opts: TopEigenOptions = {},
): PerExampleSvd {
  const B = checkPairs(pairs);
  if (!Number.isInteger(k) || k < 1 || k >= B)
    throw new RangeError(
      `perExampleSvd: k = ${k} needs 1 ≤ k < B = ${B} (the centred matrix has rank ≤ B − 1)`,
    );
  const { start, end } = groupRange(layout, "attn");
  const Pn = end - start;
  return tidyValue(() => {
    const { taps, loss } = tapGradients(layout, paramTensors(layout, theta), pairs);
    const Kc = centreGram(gramOf(taps), B);
    let totalVariance = 0;
    for (let i = 0; i < B; i++) totalVariance += Kc[i * B + i];
    const eig = topEigenpairs(Kc, B, k, opts);
    if (!(eig.values[k - 1] > 0))
      throw new Error(`perExampleSvd: centred Gram has eigenvalue ${eig.values[k - 1]} ≤ 0 at k = ${k}`);
    const sigma = eig.values.map(Math.sqrt);
    // Coefficients [B, k + 1]: column 0 = 1/B (ḡ), column c = (u_c − mean u_c) / σ_c (v_c; H u = u in exact
    // arithmetic, the subtraction makes the combination exactly centred).
    const coef = new Float32Array(B * (k + 1));
    for (let i = 0; i < B; i++) coef[i * (k + 1)] = 1 / B;
    eig.vectors.forEach((u, c) => {
      let mu = 0;
      for (let i = 0; i < B; i++) mu += u[i];
      mu /= B;
      for (let i = 0; i < B; i++) coef[i * (k + 1) + c + 1] = (u[i] - mu) / sigma[c];
    });
    const C = tf.tensor2d(coef, [B, k + 1]);
    const cols = Array.from({ length: k + 1 }, (_, c) => tf.slice(C, [0, c], [B, 1]));
    const out = Array.from({ length: k + 1 }, () => new Float64Array(Pn));
    for (const t of taps) {
      const [dIn, dOut] = t.spec.shape;
      // Σ_pos X_posᵀ [Δ_pos ∘ c_0, …, Δ_pos ∘ c_k] → [d_in, (k + 1) d_out].
      const m = tidyValue(() => {
        const parts = t.xs.map((x, j) =>
          tf.matMul(
            tf.transpose(x),
            tf.concat(
              cols.map((c) => tf.mul(t.deltas[j], c)),
              1,
            ),
          ),
        );
        return (parts.length === 1 ? parts[0] : tf.addN(parts)).dataSync();
      });
      const w = (k + 1) * dOut;
      for (let c = 0; c <= k; c++) {
        const o = out[c];
        for (let r = 0; r < dIn; r++)
          for (let q = 0; q < dOut; q++) o[t.at + r * dOut + q] = m[r * w + c * dOut + q];
      }
    }
    const meanGrad = new Float32Array(out[0]);
    const meanGradNorm = norm(out[0]);
    const directions = out.slice(1).map((v) => {
      let big = 0;
      for (let i = 1; i < Pn; i++) if (Math.abs(v[i]) > Math.abs(v[big])) big = i;
      const s = (v[big] < 0 ? -1 : 1) / norm(v);
      const f = new Float32Array(Pn);
      for (let i = 0; i < Pn; i++) f[i] = s * v[i];
      return f;
    });
    const cosMean = out
      .slice(1)
      .map((v) => (meanGradNorm > 0 ? Math.abs(dot(v, out[0])) / (norm(v) * meanGradNorm) : 0));
    const { method, iterations, residual, converged } = eig;
    return {
      B,
      P: Pn,
      sigma,
      directions,
      cosTopMean: cosMean[0],
      cosMean,
      meanGrad,
      meanGradNorm,
      totalVariance,
      loss: loss.dataSync()[0],
      eigen: { method, iterations, residual, converged },
    };
  });
}
