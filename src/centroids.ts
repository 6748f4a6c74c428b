// Linear centroids (LCH): the gradient of the network's output with respect to its input embedding e(x)
// (token + position embedding, 2 × d numbers per input). Two variants:
// - "logit": μ_x = ∂z_{y(x)}/∂e(x), the correct-class logit (what the paper's scripts use);
// - "full":  c(x) = J_f(x)ᵀ·1 = ∂(Σ_j z_j)/∂e(x), the LCH definition.
import * as tf from "@tensorflow/tfjs";
import {
  disposeEngineBatch,
  disposeWeights,
  type EngineBatch,
  engineBackward,
  engineBatch,
  engineEmbed,
  engineForward,
  engineWeights,
  newCache,
} from "./engine";
import type { Layout } from "./params";
import type { Pairs } from "./tasks";

export type CentroidKind = "logit" | "full";
export const CENTROID_KINDS: readonly CentroidKind[] = ["logit", "full"];

/** A fixed probe set in the engine's layout (dispose with `disposeProbes`). */
export interface Probes {
  pairs: Pairs;
  batch: EngineBatch;
  /** dz seeds: one-hot of the label ("logit") or all ones ("full"), [n, p]. */
  seed: Record<CentroidKind, tf.Tensor2D>;
}

export function makeProbes(pairs: Pairs, p: number): Probes {
  const batch = engineBatch(pairs.a, pairs.b, pairs.y, p, { withGradInputs: false });
  return { pairs, batch, seed: { logit: batch.yOneHot, full: tf.ones([pairs.a.length, p]) } };
}

export function disposeProbes(pr: Probes): void {
  pr.seed.full.dispose();
  disposeEngineBatch(pr.batch);
}

/**
 * Centroids of every probe at theta, as one flat array in the engine's row layout: rows 0..n-1 are ∂/∂e at
 * position 0 of probe i, rows n..2n-1 at position 1 (each row d numbers). Every probe in one batched pass.
 * `E` (the input embeddings, which do not depend on the attention weights) can be passed in to reuse it.
 */
export function centroids(
  layout: Layout,
  theta: Float32Array,
  probes: Probes,
  kind: CentroidKind,
): Float32Array {
  const w = engineWeights(layout, theta);
  try {
    return tf.tidy(() => {
      const E = engineEmbed(w, probes.batch);
      const cache = newCache();
      engineForward(w, layout, E, cache);
      return engineBackward(w, layout, cache, probes.seed[kind], false).dE.dataSync() as Float32Array;
    });
  } finally {
    disposeWeights(w);
  }
}

/** Per-probe centroid vectors [e-grad at position 0, e-grad at position 1] (2d numbers each), from `centroids`. */
export function perProbe(flat: Float32Array, n: number, d: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = new Float32Array(2 * d);
    v.set(flat.subarray(i * d, (i + 1) * d), 0);
    v.set(flat.subarray((n + i) * d, (n + i + 1) * d), d);
    out.push(v);
  }
  return out;
}
