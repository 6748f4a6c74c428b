// Centroids, the response A(v), coupling ratios and the SED observer.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { makeConfig } from "../src/config/config";
import { makeTask, samplePairs } from "../src/data/tasks";
import { batchTensors, disposeBatch, embed, forwardFromEmbed, paramTensors } from "../src/model/model";
import { groupRange, initTheta, makeLayout } from "../src/model/params";
import { initBackend } from "../src/runs/backend";
import { trainRun } from "../src/runs/trainRun";
import { centroids, disposeProbes, makeProbes, perProbe } from "../src/sed/centroids";
import { attnNorm, coupling, median, response } from "../src/sed/coupling";
import { TrainingInterrupted } from "../src/train/train";
import { Rng } from "../src/util/rng";

const SIZES = { p: 11, d: 16, nHeads: 4, dff: 24, layers: 2 };

function setup(seed: number, n: number) {
  const layout = makeLayout(SIZES);
  const rng = new Rng(seed);
  const theta = initTheta(layout, rng, false);
  for (let i = 0; i < theta.length; i++) theta[i] += 0.05 * rng.normal();
  const pairs = samplePairs(makeTask({ op: "add", p: SIZES.p }), n, rng);
  return { layout, theta, pairs, rng };
}

/** Centroids with the reference model and tfjs autodiff: [n][2d] (an independent implementation). */
function referenceCentroids(
  layout: ReturnType<typeof makeLayout>,
  theta: Float32Array,
  pairs: ReturnType<typeof samplePairs>,
  kind: "logit" | "full",
): Float32Array[] {
  const bt = batchTensors(pairs.a, pairs.b, pairs.y, layout.sizes.p);
  const flat = tf.tidy(() => {
    const P = paramTensors(layout, theta);
    const [e0, e1] = embed(P, bt);
    const g = tf.grads((x0: tf.Tensor, x1: tf.Tensor) => {
      const z = forwardFromEmbed(P, layout, [x0, x1]);
      return kind === "logit" ? tf.sum(tf.mul(z, bt.yOneHot)) : tf.sum(z);
    })([e0, e1]);
    return tf.concat(g, 1).dataSync();
  });
  disposeBatch(bt);
  const d = layout.sizes.d;
  return Array.from({ length: pairs.a.length }, (_, i) =>
    Float32Array.from(flat.subarray(i * 2 * d, (i + 1) * 2 * d)),
  );
}

describe("centroids and coupling", () => {
  before(async () => {
    await initBackend();
  });

  test("centroids equal finite differences of the correct-class logit with respect to the input embedding", () => {
    const { layout, theta, pairs, rng } = setup(1, 6);
    const probes = makeProbes(pairs, SIZES.p);
    const mu = perProbe(centroids(layout, theta, probes, "logit"), 6, SIZES.d);
    disposeProbes(probes);
    const bt = batchTensors(pairs.a, pairs.b, pairs.y, SIZES.p);
    const P = paramTensors(layout, theta);
    const [e0, e1] = embed(P, bt);
    const logitAt = (de0: Float32Array, de1: Float32Array) =>
      tf.tidy(() => {
        const z = forwardFromEmbed(P, layout, [
          tf.add(e0, tf.tensor2d(de0, e0.shape as [number, number])),
          tf.add(e1, tf.tensor2d(de1, e1.shape as [number, number])),
        ]);
        return tf.sum(tf.mul(z, bt.yOneHot), 1).dataSync();
      });
    const n = 6;
    const d = SIZES.d;
    for (let trial = 0; trial < 4; trial++) {
      const dir0 = rng.fillNormal(new Float32Array(n * d));
      const dir1 = rng.fillNormal(new Float32Array(n * d));
      const h = 1e-2;
      const up = logitAt(
        dir0.map((x) => h * x),
        dir1.map((x) => h * x),
      );
      const down = logitAt(
        dir0.map((x) => -h * x),
        dir1.map((x) => -h * x),
      );
      for (let i = 0; i < n; i++) {
        const fd = (up[i] - down[i]) / (2 * h);
        let an = 0;
        for (let j = 0; j < d; j++) an += mu[i][j] * dir0[i * d + j] + mu[i][d + j] * dir1[i * d + j];
        assert.ok(
          Math.abs(fd - an) < 2e-3 * Math.max(1, Math.abs(an)),
          `probe ${i}: fd ${fd} vs centroid·dir ${an}`,
        );
      }
    }
    tf.dispose([...Object.values(P), e0, e1]);
    disposeBatch(bt);
  });

  for (const kind of ["logit", "full"] as const) {
    test(`engine centroids equal autodiff of the reference model (${kind})`, () => {
      const { layout, theta, pairs } = setup(2, 10);
      const probes = makeProbes(pairs, SIZES.p);
      const ours = perProbe(centroids(layout, theta, probes, kind), 10, SIZES.d);
      disposeProbes(probes);
      const ref = referenceCentroids(layout, theta, pairs, kind);
      for (let i = 0; i < 10; i++) {
        const scale = Math.max(...ref[i].map(Math.abs));
        const err = Math.max(...ours[i].map((v, j) => Math.abs(v - ref[i][j])));
        assert.ok(err < 1e-4 * scale, `probe ${i}: err ${err} (scale ${scale})`);
      }
    });
  }

  test("A(v) equals the centroid finite difference computed independently, and converges as ε → 0", () => {
    const { layout, theta, pairs, rng } = setup(3, 12);
    const probes = makeProbes(pairs, SIZES.p);
    const { start, end } = groupRange(layout, "attn");
    const v = rng.fillNormal(new Float32Array(end - start));
    const nv = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    for (let i = 0; i < v.length; i++) v[i] /= nv;
    const eps = 0.005 * attnNorm(layout, theta);
    const ours = response(layout, theta, probes, v, { kind: "logit", eps });
    const at = (sign: number) => {
      const t = theta.slice();
      for (let i = 0; i < v.length; i++) t[start + i] += sign * eps * v[i];
      return referenceCentroids(layout, t, pairs, "logit");
    };
    const plus = at(1);
    const minus = at(-1);
    let s = 0;
    for (let i = 0; i < plus.length; i++)
      for (let j = 0; j < plus[i].length; j++) s += (plus[i][j] - minus[i][j]) ** 2;
    const independent = s / plus.length / (2 * eps) ** 2;
    assert.ok(Math.abs(ours - independent) < 0.02 * independent, `A ${ours} vs independent ${independent}`);
    // Second-order accurate in ε: halving ε changes A by much less than A itself.
    const half = response(layout, theta, probes, v, { kind: "logit", eps: eps / 2 });
    assert.ok(Math.abs(half - ours) < 0.05 * ours, `A(ε) ${ours} vs A(ε/2) ${half}`);
    // A perturbation that moves nothing: a zero-length direction gives A = 0.
    assert.equal(response(layout, theta, probes, new Float32Array(v.length), { kind: "logit", eps }), 0);
    disposeProbes(probes);
  });

  test("R_k of a random direction is ≈ 1 in distribution", () => {
    const { layout, theta, pairs, rng } = setup(4, 32);
    const probes = makeProbes(pairs, SIZES.p);
    const { start, end } = groupRange(layout, "attn");
    const unit = () => {
      const v = rng.fillNormal(new Float32Array(end - start));
      const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      return v.map((x) => x / n);
    };
    const ratios: number[] = [];
    for (let trial = 0; trial < 8; trial++) {
      const c = coupling(
        layout,
        theta,
        probes,
        { candidate: [unit(), unit()] },
        Array.from({ length: 9 }, unit),
        {
          kind: "logit",
          epsRel: 0.005,
        },
      );
      ratios.push(...c.bases.candidate.R);
    }
    disposeProbes(probes);
    const m = median(ratios);
    assert.ok(
      m > 0.6 && m < 1.6,
      `median R of random directions ${m} (all: ${ratios.map((r) => r.toFixed(2))})`,
    );
  });

  test("the SED observer: records coupling, leaks no tensors, and resumes to the same record", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sedlab-sed-"));
    const config = makeConfig({
      preset: "test",
      op: "add",
      seed: 5,
      sed: true,
      maxSteps: 150,
      stopAfterEvals: 1000,
    });
    const before = tf.memory().numTensors;
    const a = await trainRun(config, { recordDir: null, checkpointDir: null });
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    const c = a.coupling as {
      update: { curve: { step: number; R: number[] }[]; peakRbar: number };
      gradient: { curve: unknown[] };
    };
    assert.deepEqual(
      c.update.curve.map((p) => p.step),
      [100, 150],
      "measurements every measureEvery once the window is full, then at the end",
    );
    assert.equal(c.update.curve[0].R.length, 3);
    assert.equal(c.gradient.curve.length, 2);
    assert.ok(Number.isFinite(c.update.peakRbar));
    // Interrupt at a step where the windows hold rows and the next measurement is pending, then resume.
    await assert.rejects(
      trainRun({ ...config, saveEvery: 25 }, { recordDir: null, checkpointDir: dir, stopAtStep: 110 }),
      TrainingInterrupted,
    );
    const b = await trainRun({ ...config, saveEvery: 25 }, { recordDir: null, checkpointDir: dir });
    assert.deepEqual(b.coupling, a.coupling);
    assert.deepEqual(b.metrics, a.metrics);
  });
});
