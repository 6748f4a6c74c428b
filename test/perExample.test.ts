// Per-example gradient SVD (§C6): the batched per-example gradients, their Gram matrix by the matmul identity,
// and the directions against explicit references built from the materialised B × P matrix.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { makeConfig, type TrainConfig } from "../src/config/config";
import { makeTask, type Pairs, samplePairs } from "../src/data/tasks";
import { disposeEngineBatch, engineBatch, engineLossAndGrad } from "../src/model/engine";
import { batchTensors, disposeBatch, lossAndGrad } from "../src/model/model";
import { groupRange, initTheta, type Layout, makeLayout } from "../src/model/params";
import { initBackend } from "../src/runs/backend";
import { centreGram, perExampleGrads, perExampleGram, perExampleSvd } from "../src/sed/perExample";
import { dot, gram, norm, symmetricEigen } from "../src/util/linalg";
import { Rng } from "../src/util/rng";
import { maxRelErr } from "./helpers";

const CONFIGS: [string, TrainConfig][] = [
  ["1 layer", makeConfig({ preset: "test" })],
  ["2 layers", makeConfig({ preset: "test", layers: 2 })],
];

/** Init weights moved off init by a little noise (so the layers differ and nothing is special), and B pairs. */
function setup(config: TrainConfig, B: number, seed: number) {
  const layout = makeLayout(config);
  const theta = initTheta(layout, new Rng(1).fork("init"));
  const noise = new Rng(seed).fork("noise");
  for (let i = 0; i < theta.length; i++) theta[i] += 0.05 * noise.normal();
  const pairs = samplePairs(makeTask({ op: "add", p: config.p }), B, new Rng(seed).fork("pairs"));
  return { layout, theta, pairs };
}

function attnPart(layout: Layout, g: Float32Array): Float32Array {
  const { start, end } = groupRange(layout, "attn");
  return g.slice(start, end);
}

/** Attention part of the reference model's mean cross-entropy gradient (model.ts lossAndGrad). */
function referenceGrad(layout: Layout, theta: Float32Array, pairs: Pairs): Float32Array {
  const bt = batchTensors(pairs.a, pairs.b, pairs.y, layout.sizes.p);
  const g = new Float32Array(layout.size);
  lossAndGrad(layout, theta, bt, g);
  disposeBatch(bt);
  return attnPart(layout, g);
}

/** The same from the hand-written engine (engine.ts engineLossAndGrad). */
function engineGrad(layout: Layout, theta: Float32Array, pairs: Pairs): Float32Array {
  const batch = engineBatch(pairs.a, pairs.b, pairs.y, layout.sizes.p);
  const g = new Float32Array(layout.size);
  engineLossAndGrad(layout, theta, batch, g);
  disposeEngineBatch(batch);
  return attnPart(layout, g);
}

function meanRow(rows: readonly Float32Array[]): Float64Array {
  const m = new Float64Array(rows[0].length);
  for (const r of rows) for (let i = 0; i < m.length; i++) m[i] += r[i] / rows.length;
  return m;
}

function pick(pairs: Pairs, i: number): Pairs {
  return { a: pairs.a.slice(i, i + 1), b: pairs.b.slice(i, i + 1), y: pairs.y.slice(i, i + 1) };
}

describe("per-example gradient SVD", () => {
  before(async () => {
    await initBackend();
  });

  for (const [label, config] of CONFIGS) {
    // Float32 tolerances: the entries are sums of a few hundred float32 products accumulated in different orders
    // (engine: fused QKV, stacked positions); measured differences are ≤ 5e-7 of the largest entry. 1e-5 leaves
    // 20× headroom and is far below what a real bug gives (a missing position, layer or factor: O(1)).
    test(`${label}: the per-example gradients average to the batch gradient (reference and engine)`, () => {
      const { layout, theta, pairs } = setup(config, 24, 2);
      const rows = perExampleGrads(layout, theta, pairs);
      assert.equal(rows.length, 24);
      const { start, end } = groupRange(layout, "attn");
      assert.equal(rows[0].length, end - start);
      const mean = meanRow(rows);
      const ref = referenceGrad(layout, theta, pairs);
      const eng = engineGrad(layout, theta, pairs);
      assert.ok(norm(ref) > 1e-3, "degenerate test: zero batch gradient");
      const eRef = maxRelErr(mean, ref);
      const eEng = maxRelErr(mean, eng);
      assert.ok(eRef < 1e-5, `vs lossAndGrad: max rel err ${eRef}`);
      assert.ok(eEng < 1e-5, `vs engineLossAndGrad: max rel err ${eEng}`);
    });

    test(`${label}: one example's gradient equals the batch gradient of that example alone`, () => {
      const { layout, theta, pairs } = setup(config, 12, 3);
      const rows = perExampleGrads(layout, theta, pairs);
      for (const i of [0, 5, 11]) {
        const ref = referenceGrad(layout, theta, pick(pairs, i));
        const e = maxRelErr(rows[i], ref);
        assert.ok(e < 1e-5, `example ${i}: max rel err ${e}`);
      }
    });

    test(`${label}: the Gram matrix from the matmul identity equals the Gram of the materialised gradients`, () => {
      const B = 16;
      const { layout, theta, pairs } = setup(config, B, 4);
      const K = perExampleGram(layout, theta, pairs);
      const Kref = gram(perExampleGrads(layout, theta, pairs));
      assert.equal(K.length, B * B);
      const e = maxRelErr(K, Kref);
      assert.ok(e < 1e-5, `max rel err ${e}`);
      // Centring: H K H from the Gram equals the Gram of the explicitly centred rows.
      const rows = perExampleGrads(layout, theta, pairs);
      const mean = meanRow(rows);
      const centred = rows.map((r) => Float64Array.from(r, (x, i) => x - mean[i]));
      const ec = maxRelErr(centreGram(K, B), gram(centred));
      assert.ok(ec < 1e-5, `centred: max rel err ${ec}`);
    });

    test(`${label}: directions, σ and |cos| equal those of the explicit centred matrix`, () => {
      const B = 48; // > the subspace block (16): exercises the iteration, not the small-n Jacobi path
      const k = 3;
      const { layout, theta, pairs } = setup(config, B, 5);
      const res = perExampleSvd(layout, theta, pairs, k);
      assert.equal(res.eigen.method, "subspace");
      assert.ok(res.eigen.converged, `eigen residual ${res.eigen.residual}`);
      // Reference: materialise, centre in P-space, SVD through the Jacobi eigen of G_c G_cᵀ.
      const rows = perExampleGrads(layout, theta, pairs);
      const mean = meanRow(rows);
      const Gc = rows.map((r) => Float64Array.from(r, (x, i) => x - mean[i]));
      const e = symmetricEigen(gram(Gc), B);
      const Pn = rows[0].length;
      assert.equal(res.P, Pn);
      assert.equal(res.B, B);
      const s1 = Math.sqrt(e.values[0]);
      for (let c = 0; c < k; c++) {
        const sRef = Math.sqrt(e.values[c]);
        assert.ok(Math.abs(res.sigma[c] - sRef) < 1e-5 * s1, `σ_${c + 1}: ${res.sigma[c]} vs ${sRef}`);
        const vRef = new Float64Array(Pn);
        Gc.forEach((g, i) => {
          const u = e.vectors[i * B + c];
          for (let j = 0; j < Pn; j++) vRef[j] += u * g[j];
        });
        const v = res.directions[c];
        assert.equal(v.length, Pn);
        assert.ok(Math.abs(norm(v) - 1) < 1e-5, `‖v_${c + 1}‖ = ${norm(v)}`);
        const gap = (e.values[c] - e.values[c + 1]) / e.values[0];
        const align = Math.abs(dot(v, vRef)) / norm(vRef);
        assert.ok(align > 1 - 1e-5, `|⟨v_${c + 1}, v_ref⟩| = ${align} (relative gap ${gap})`);
        // And v is a right singular vector of the explicit matrix: G_cᵀ G_c v = σ² v.
        const Gv = Gc.map((g) => dot(g, v));
        const r = Float64Array.from(v, (x) => -(res.sigma[c] ** 2) * x);
        Gc.forEach((g, i) => {
          for (let j = 0; j < Pn; j++) r[j] += Gv[i] * g[j];
        });
        assert.ok(norm(r) < 1e-4 * s1 ** 2, `singular-vector residual ${norm(r) / s1 ** 2}`);
      }
      // |cos| with the mean gradient, ḡ itself, and the total variance.
      assert.ok(maxRelErr(res.meanGrad, mean) < 1e-5, "mean gradient");
      assert.ok(Math.abs(res.meanGradNorm - norm(mean)) < 1e-5 * norm(mean));
      const cosRef = Math.abs(dot(res.directions[0], mean)) / norm(mean);
      assert.ok(Math.abs(res.cosTopMean - cosRef) < 1e-5, `|cos| ${res.cosTopMean} vs ${cosRef}`);
      assert.equal(res.cosTopMean, res.cosMean[0]);
      let trace = 0;
      for (const g of Gc) trace += dot(g, g);
      assert.ok(Math.abs(res.totalVariance - trace) < 1e-4 * trace, `trace ${res.totalVariance} vs ${trace}`);
      // The loss is the batch-mean cross-entropy.
      const bt = batchTensors(pairs.a, pairs.b, pairs.y, layout.sizes.p);
      const loss = lossAndGrad(layout, theta, bt, new Float32Array(layout.size));
      disposeBatch(bt);
      assert.ok(Math.abs(res.loss - loss) < 1e-5 * loss, `loss ${res.loss} vs ${loss}`);
    });
  }

  test("perExampleSvd rejects k ≥ B", () => {
    const { layout, theta, pairs } = setup(CONFIGS[0][1], 3, 6);
    assert.throws(() => perExampleSvd(layout, theta, pairs, 3), /k = 3 needs/);
  });

  test("no tensors leak", () => {
    for (const [, config] of CONFIGS) {
      const { layout, theta, pairs } = setup(config, 20, 7);
      perExampleSvd(layout, theta, pairs, 3); // warm-up (backend-held tensors, if any)
      const before = tf.memory().numTensors;
      perExampleSvd(layout, theta, pairs, 3);
      perExampleGrads(layout, theta, pairs);
      perExampleGram(layout, theta, pairs);
      assert.throws(() => perExampleSvd(layout, theta, pairs, 25));
      assert.equal(tf.memory().numTensors, before);
    }
  });
});
