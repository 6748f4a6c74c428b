// Evals: accuracy and mean cross-entropy of every head on the train and test splits (forward only, no tape).
import * as tf from "@tensorflow/tfjs";
import type { Dataset } from "../data/tasks";
import {
  disposeEngineBatch,
  disposeEvalTable,
  disposeWeights,
  type EngineBatch,
  type EngineWeights,
  type EvalTable,
  engineBatch,
  engineEvalTable,
  engineLogitsHeads,
  engineWeights,
} from "../model/engine";
import type { Layout } from "../model/params";
import type { MetricPoint } from "../records/schema";

/** Eval inputs for one split, in chunks, built once per run; `ys`: each head's labels. */
interface EvalSet {
  chunks: { bt: EngineBatch; ys: Int32Array[] }[];
  n: number;
}

const EVAL_CHUNK = 2048;

function makeEvalSet(a: Int32Array, b: Int32Array, ys: Int32Array[], p: number): EvalSet {
  const chunks: EvalSet["chunks"] = [];
  for (let s = 0; s < a.length; s += EVAL_CHUNK) {
    const e = Math.min(s + EVAL_CHUNK, a.length);
    const yc = ys.map((y) => y.slice(s, e));
    chunks.push({
      bt: engineBatch(a.slice(s, e), b.slice(s, e), yc, p, { withGradInputs: false }),
      ys: yc,
    });
  }
  return { chunks, n: a.length };
}

/**
 * Accuracy of each head on a split and, with `withLoss`, its mean cross-entropy (the metrics use the train
 * split's loss only, so the test split skips it). `table`: the weights' first-layer table, shared by all chunks.
 */
function evaluate(
  w: EngineWeights,
  layout: Layout,
  set: EvalSet,
  withLoss: boolean,
  table: EvalTable | undefined,
): { acc: number; loss: number }[] {
  const nH = layout.heads.length;
  const correct = new Array<number>(nH).fill(0);
  const lossSum = new Array<number>(nH).fill(withLoss ? 0 : Number.NaN);
  for (const { bt, ys } of set.chunks) {
    // Tensors out of the tidy, read after it (tidy would walk a returned typed array element by element).
    const out = tf.tidy(() =>
      engineLogitsHeads(w, layout, bt, table).map((logits, h) => ({
        pred: tf.argMax(logits, 1),
        nll: withLoss ? tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), bt.yOneHots[h]))) : undefined,
      })),
    );
    out.forEach(({ pred, nll }, h) => {
      const p = pred.dataSync();
      const y = ys[h];
      for (let i = 0; i < y.length; i++) if (p[i] === y[i]) correct[h]++;
      if (nll) lossSum[h] += nll.dataSync()[0];
    });
    tf.dispose(out.flatMap((o) => (o.nll ? [o.pred, o.nll] : [o.pred])));
  }
  return correct.map((c, h) => ({ acc: c / set.n, loss: lossSum[h] / set.n }));
}

/** Both splits' eval inputs, built once per run; `metricsAt` gives one MetricPoint, `dispose` frees them. */
export interface Evaluator {
  metricsAt(step: number, theta: Float32Array): MetricPoint;
  dispose(): void;
}

/**
 * Single-task: the head's loss and accuracies. Multitask (`taskNames` has several): the objective (sum of the
 * tasks' losses), the worst task's accuracies, then each task's own numbers.
 */
export function makeEvaluator(
  dataset: Dataset,
  layout: Layout,
  p: number,
  taskNames: readonly string[],
  multi: boolean,
): Evaluator {
  const trainSet = makeEvalSet(dataset.trainA, dataset.trainB, dataset.trainYs, p);
  const testSet = makeEvalSet(dataset.testA, dataset.testB, dataset.testYs, p);
  return {
    metricsAt(step, theta) {
      const w = engineWeights(layout, theta);
      const table = engineEvalTable(w);
      try {
        const tr = evaluate(w, layout, trainSet, true, table);
        const te = evaluate(w, layout, testSet, false, table); // its loss is not a metric
        if (!multi) return { step, loss: tr[0].loss, trainAcc: tr[0].acc, testAcc: te[0].acc };
        return {
          step,
          loss: tr.reduce((s, x) => s + x.loss, 0),
          trainAcc: Math.min(...tr.map((x) => x.acc)),
          testAcc: Math.min(...te.map((x) => x.acc)),
          tasks: Object.fromEntries(
            taskNames.map((t, i) => [t, { loss: tr[i].loss, trainAcc: tr[i].acc, testAcc: te[i].acc }]),
          ),
        };
      } finally {
        disposeEvalTable(table);
        disposeWeights(w);
      }
    },
    dispose() {
      for (const s of [trainSet, testSet]) for (const c of s.chunks) disposeEngineBatch(c.bt);
    },
  };
}
