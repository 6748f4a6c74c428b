// Where attention ends up (issue #15): at every eval, how far the attention weights have moved from their
// initial values, ‖θ_attn − θ_attn(0)‖ / ‖θ_attn(0)‖, and how far the attention pattern the head reads (the
// query at position 0) is from uniform, mean |softmax − ½| over a fixed sample of held-out pairs, per layer and
// overall. It only watches: `record.attention`.
import * as tf from "@tensorflow/tfjs";
import { embed, forwardFromEmbedHeads, paramTensors } from "../model/model";
import { groupRange, initTheta, type Layout, type Range } from "../model/params";
import type { AttentionPoint, AttentionResult } from "../records/results";
import type { TrainObserver } from "../train/observer";
import { Rng } from "../util/rng";

/** Held-out pairs the pattern is averaged over (all of them when the test split is smaller). */
export const ATTENTION_PROBE_PAIRS = 512;

/** The displacement of `attn` from `attn0`, relative to ‖attn0‖. */
export function attentionDisplacement(theta: Float32Array, attn0: Float32Array, r: Range): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < attn0.length; i++) {
    const x = theta[r.start + i] - attn0[i];
    num += x * x;
    den += attn0[i] * attn0[i];
  }
  return den > 0 ? Math.sqrt(num / den) : 0;
}

/** Mean |w₀ − ½| per layer over the pairs and heads, for the query at position 0 (w₀: weight on key 0). */
export function patternDeviation(
  layout: Layout,
  theta: Float32Array,
  a: Int32Array,
  b: Int32Array,
): number[] {
  const rows = tf.tidy(() => {
    const P = paramTensors(layout, theta);
    const ta = tf.tensor1d(a, "int32");
    const tb = tf.tensor1d(b, "int32");
    const dev: tf.Tensor[] = [];
    forwardFromEmbedHeads(P, layout, embed(P, { a: ta, b: tb } as Parameters<typeof embed>[1]), {
      onAttention: (_i, w0) => void dev.push(tf.mean(tf.abs(tf.sub(w0, 0.5)))),
    });
    return tf.stack(dev);
  });
  const out = Array.from(rows.dataSync());
  rows.dispose();
  return out;
}

interface SavedState {
  points: AttentionPoint[];
}

export function attentionObserver(probePairs = ATTENTION_PROBE_PAIRS): TrainObserver {
  let layout: Layout;
  let attn: Range;
  let attn0: Float32Array;
  let pa: Int32Array;
  let pb: Int32Array;
  let result: AttentionResult;
  return {
    name: "attention",
    setup({ config, layout: l, dataset }) {
      layout = l;
      attn = groupRange(layout, "attn");
      // The initial weights, drawn again from the same stream as train.ts's (so a resumed run has them too).
      const theta0 = initTheta(layout, new Rng(config.seed).fork("init"), config.copyLayerInit);
      attn0 = theta0.slice(attn.start, attn.end);
      // A fixed sample of held-out pairs (partial Fisher–Yates on an own stream).
      const n = dataset.testA.length;
      const k = Math.min(probePairs, n);
      const idx = Int32Array.from({ length: n }, (_, i) => i);
      const rng = new Rng(config.seed).fork("attention-probe");
      for (let i = 0; i < k; i++) {
        const j = i + rng.int(n - i);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      pa = Int32Array.from(idx.subarray(0, k), (i) => dataset.testA[i]);
      pb = Int32Array.from(idx.subarray(0, k), (i) => dataset.testB[i]);
      result = { pairs: k, split: "test", points: [] };
    },
    onEval({ step, theta }) {
      const byLayer = patternDeviation(layout, theta, pa, pb);
      result.points.push({
        step,
        displacement: attentionDisplacement(theta, attn0, attn),
        patternDeviation: byLayer.reduce((s, x) => s + x, 0) / byLayer.length,
        byLayer,
      });
    },
    state: () => ({ json: { points: result.points } satisfies SavedState }),
    restore({ json }) {
      const s = json as SavedState | undefined;
      if (s) result.points = s.points;
    },
    result: () => result,
  };
}
