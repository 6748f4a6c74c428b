// Linear centroids (LCH): the gradient of the network's output with respect to its input embedding e(x)
// (token + position embedding, 2 × d numbers per input). Two variants:
// - "logit": μ_x = ∂z_{y(x)}/∂e(x), the correct-class logit (what the paper's scripts use);
// - "full":  c(x) = J_f(x)ᵀ·1 = ∂(Σ_j z_j)/∂e(x), the LCH definition.
// A multitask model has one centroid per task: the same derivative of that task's head's logits.
import * as tf from "@tensorflow/tfjs";
import type { Pairs } from "../data/tasks";
import {
  disposeEngineBatch,
  disposeWeights,
  type EngineBatch,
  engineBatch,
  engineInputGrads,
  engineWeights,
} from "../model/engine";
import type { Layout } from "../model/params";

export type CentroidKind = "logit" | "full";
export const CENTROID_KINDS: readonly CentroidKind[] = ["logit", "full"];

/** A fixed probe set in the engine's layout (dispose with `disposeProbes`). */
export interface Probes {
  pairs: Pairs;
  batch: EngineBatch;
  /** dz seeds: one-hot of the label ("logit") or all ones ("full"), [n, p]; of the first head's task. */
  seed: Record<CentroidKind, tf.Tensor2D>;
  /** The seeds of each head (layout.heads order; seeds[0] is seed): its task's labels. */
  seeds: Record<CentroidKind, tf.Tensor2D>[];
}

/** Probes from pairs; `labels`: one label set per head of a multitask model (default: the pairs' labels). */
export function makeProbes(pairs: Pairs, p: number, labels: readonly Int32Array[] = [pairs.y]): Probes {
  const batch = engineBatch(pairs.a, pairs.b, labels, p, { withGradInputs: false });
  const full = tf.ones([pairs.a.length, p]) as tf.Tensor2D;
  const seeds = batch.yOneHots.map((logit) => ({ logit, full }));
  return { pairs, batch, seed: seeds[0], seeds };
}

export function disposeProbes(pr: Probes): void {
  pr.seed.full.dispose();
  disposeEngineBatch(pr.batch);
}

/**
 * Centroids of every probe at theta, as one flat array in the engine's row layout: rows 0..n-1 are ∂/∂e at
 * position 0 of probe i, rows n..2n-1 at position 1 (each row d numbers). Every probe in one batched pass.
 * Multitask: `head` picks the head (its task's logits; default the first).
 */
export function centroids(
  layout: Layout,
  theta: Float32Array,
  probes: Probes,
  kind: CentroidKind,
  head = 0,
): Float32Array {
  return centroidsHeads(layout, theta, probes, kind, [head])[0];
}

/**
 * The centroids of each head in `heads` (as `centroids`), from one forward pass: each head's centroid is the
 * backward of its own logits alone (heads[i]'s seed), so one task's centroid never sees another task's head.
 */
export function centroidsHeads(
  layout: Layout,
  theta: Float32Array,
  probes: Probes,
  kind: CentroidKind,
  heads: readonly number[],
): Float32Array[] {
  const w = engineWeights(layout, theta);
  // The tidy returns tensors, read after it: returning the read arrays would make tf.tidy walk every element
  // of them looking for tensors (~0.1 s per head at 1024 probes).
  let dE: tf.Tensor[] = [];
  try {
    const seeds = heads.map((h) => {
      const seed = probes.seeds[h];
      if (!seed) throw new Error(`centroids: the probes have no labels for head ${h}`);
      const dZs: (tf.Tensor2D | undefined)[] = [];
      dZs[h] = seed[kind];
      return dZs;
    });
    dE = tf.tidy(() => engineInputGrads(w, layout, probes.batch, seeds));
    return dE.map((t) => t.dataSync() as Float32Array);
  } finally {
    tf.dispose(dE);
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
