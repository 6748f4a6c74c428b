// A multitask model is the single-task trunk with one head per task. Its engine computes what the reference
// model computes; each task's gradient and centroids see that task's head only; the per-task gradients sum to
// the gradient of the summed loss; a one-head model is exactly the single-task model.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { labelsOf, makeTask } from "../src/data/tasks";
import {
  disposeEngineBatch,
  disposeWeights,
  engineBatch,
  engineLogits,
  engineLogitsHeads,
  engineLossAndGrad,
  engineWeights,
} from "../src/model/engine";
import { batchTensors, disposeBatch, forwardHeads, lossAndGrad, paramTensors } from "../src/model/model";
import { groupRange, initTheta, type Layout, makeLayout, paramView } from "../src/model/params";
import { initBackend } from "../src/runs/backend";
import { centroids, centroidsHeads, disposeProbes, makeProbes } from "../src/sed/centroids";
import { coupling, couplingHeads } from "../src/sed/coupling";
import { Rng } from "../src/util/rng";
import { assertAllClose, maxAbs, maxRelErr } from "./helpers";

/**
 * Elementwise |ours − ref| ≤ atol·max|ref| + rtol·|ref| per tensor (float32 both), so that no entry hides behind the
 * tensor's largest one as under maxRelErr. Measured worst |a − b| / max|b|: 2.7e-7 (logits), 1.0e-6 (gradients);
 * the worst entry uses 8% and 20% of its tolerance.
 */
const LOGITS = { rtol: 1e-5, atol: 2e-6 };
const GRAD = { rtol: 1e-5, atol: 2e-6 };
const close = (ours: ArrayLike<number>, ref: ArrayLike<number>, tol: typeof GRAD, label: string) =>
  assertAllClose(ours, ref, { rtol: tol.rtol, atol: tol.atol * maxAbs(ref) }, label);

const TASKS = ["add", "sub", "mul", "sq_sum"];
const SIZES = { p: 13, d: 16, nHeads: 4, dff: 24, layers: 2 };

function setup(seed: number, B: number, sizes = SIZES) {
  const single = makeLayout(sizes);
  const multi = makeLayout(sizes, TASKS);
  const rng = new Rng(seed);
  const theta = initTheta(multi, rng, false);
  for (let i = 0; i < theta.length; i++) theta[i] += 0.05 * rng.normal();
  const tasks = TASKS.map((op) => makeTask({ op, p: sizes.p, lo: 1 }));
  const a = new Int32Array(B);
  const b = new Int32Array(B);
  for (let i = 0; i < B; i++) {
    a[i] = 1 + rng.int(sizes.p - 1);
    b[i] = 1 + rng.int(sizes.p - 1);
  }
  return { single, multi, theta, a, b, ys: labelsOf(tasks, a, b) };
}

/** The single-task model whose head is head `t` of the multitask model (same trunk). */
function singleFromHead(single: Layout, multi: Layout, theta: Float32Array, t: number): Float32Array {
  const out = new Float32Array(single.size);
  for (const s of single.specs) {
    const from = s.name.startsWith("head.") ? s.name.replace("head.", `head.${TASKS[t]}.`) : s.name;
    paramView(single, out, s.name).set(paramView(multi, theta, from));
  }
  return out;
}

/** Gradient entries of the multitask layout that belong to the single-task model with head `t`, in its order. */
function restrictToHead(single: Layout, multi: Layout, g: Float32Array, t: number): Float32Array {
  return singleFromHead(single, multi, g, t);
}

describe("multitask engine", () => {
  before(async () => {
    await initBackend();
  });

  test("layout: the trunk keeps its names and offsets, one head group per task replaces `head`", () => {
    const { single, multi } = setup(1, 4);
    const one = makeLayout(SIZES, ["add"]);
    assert.deepEqual(one.specs, single.specs, "one task is the single-task layout");
    assert.deepEqual(
      multi.heads.map((h) => h.group),
      TASKS.map((t) => `head.${t}`),
    );
    assert.equal(multi.byName.has("head.w"), false);
    for (const s of single.specs) {
      if (s.group === "head") continue;
      assert.deepEqual(multi.byName.get(s.name), s, s.name);
    }
    const { p, d } = SIZES;
    assert.equal(multi.size, single.size + 3 * (d * p + p));
    assert.deepEqual(groupRange(multi, "attn"), groupRange(single, "attn"));
    assert.throws(() => makeLayout(SIZES, ["add", "add"]), /distinct/);
  });

  test("the multitask code path with one head equals the single-task path bit for bit", () => {
    const { single, a, b, ys } = setup(2, 40);
    const theta = initTheta(single, new Rng(5), false);
    const g1 = new Float32Array(single.size);
    const g2 = new Float32Array(single.size);
    const e1 = engineBatch(a, b, ys[0], SIZES.p);
    const e2 = engineBatch(a, b, [ys[0]], SIZES.p);
    const l1 = engineLossAndGrad(single, theta, e1, g1);
    const l2 = engineLossAndGrad(single, theta, e2, g2, [0]);
    assert.equal(l1, l2);
    assert.deepEqual(g1, g2);
    const w = engineWeights(single, theta);
    const [z1, z2] = tf.tidy(() => [
      engineLogits(w, single, e1).dataSync(),
      engineLogitsHeads(w, single, e2)[0].dataSync(),
    ]);
    disposeWeights(w);
    assert.deepEqual(z1, z2);
    disposeEngineBatch(e1);
    disposeEngineBatch(e2);
  });

  test("each task's loss and gradient equal the single-task model's with that task's head; other heads get zero", () => {
    const { single, multi, theta, a, b, ys } = setup(3, 48);
    for (let t = 0; t < TASKS.length; t++) {
      const eb = engineBatch(a, b, [ys[t]], SIZES.p);
      const gm = new Float32Array(multi.size).fill(Number.NaN);
      const lm = engineLossAndGrad(multi, theta, eb, gm, [t]);
      const ts = singleFromHead(single, multi, theta, t);
      const gs = new Float32Array(single.size);
      const ls = engineLossAndGrad(single, ts, eb, gs);
      disposeEngineBatch(eb);
      assert.equal(lm, ls, `${TASKS[t]}: loss`);
      assert.deepEqual(restrictToHead(single, multi, gm, t), gs, `${TASKS[t]}: trunk and own head`);
      multi.heads.forEach((h, o) => {
        if (o === t) return;
        assert.ok(
          paramView(multi, gm, h.w).every((x) => x === 0) && paramView(multi, gm, h.b).every((x) => x === 0),
        );
      });
    }
  });

  test("the per-task gradients sum to the gradient of the summed loss", () => {
    const { multi, theta, a, b, ys } = setup(4, 64);
    const joint = engineBatch(a, b, ys, SIZES.p);
    const gAll = new Float32Array(multi.size);
    const lAll = engineLossAndGrad(multi, theta, joint, gAll);
    disposeEngineBatch(joint);
    const sum = new Float64Array(multi.size);
    let lSum = 0;
    for (let t = 0; t < TASKS.length; t++) {
      const eb = engineBatch(a, b, [ys[t]], SIZES.p);
      const g = new Float32Array(multi.size);
      lSum += engineLossAndGrad(multi, theta, eb, g, [t]);
      disposeEngineBatch(eb);
      for (let i = 0; i < g.length; i++) sum[i] += g[i];
    }
    assert.ok(Math.abs(lAll - lSum) < 1e-5 * lAll, `loss ${lAll} vs Σ ${lSum}`);
    const e = maxRelErr(gAll, sum);
    assert.ok(e < 1e-5, `rel err ${e}`);
    for (const sp of multi.specs) {
      const [i, j] = [sp.offset, sp.offset + sp.size];
      close(gAll.subarray(i, j), sum.subarray(i, j), GRAD, `${sp.name}: Σ per-task gradients`);
    }
    // Heads in a different order than the label sets: label set i goes to head heads[i].
    const perm = [2, 0, 3, 1];
    const eb = engineBatch(
      a,
      b,
      perm.map((h) => ys[h]),
      SIZES.p,
    );
    const gPerm = new Float32Array(multi.size);
    engineLossAndGrad(multi, theta, eb, gPerm, perm);
    disposeEngineBatch(eb);
    assert.ok(maxRelErr(gPerm, gAll) < 1e-5);
    for (const sp of multi.specs) {
      const [i, j] = [sp.offset, sp.offset + sp.size];
      close(gPerm.subarray(i, j), gAll.subarray(i, j), GRAD, `${sp.name}: permuted heads`);
    }
  });

  test("a 4-head model: logits, summed loss and every gradient equal the reference model (autodiff)", () => {
    for (const sizes of [SIZES, { p: 11, d: 12, nHeads: 3, dff: 20, layers: 1 }]) {
      const { multi, theta, a, b, ys } = setup(5, 40, sizes);
      const bt = batchTensors(a, b, ys[0], sizes.p);
      const eb = engineBatch(a, b, ys, sizes.p);
      const gRef = new Float32Array(multi.size);
      const gEng = new Float32Array(multi.size);
      const lRef = lossAndGrad(multi, theta, bt, gRef, eb.yOneHots);
      const lEng = engineLossAndGrad(multi, theta, eb, gEng);
      assert.ok(Math.abs(lRef - lEng) < 1e-5 * lRef, `loss ${lEng} vs ${lRef}`);
      const w = engineWeights(multi, theta);
      const [zRef, zEng] = tf.tidy(() => [
        forwardHeads(paramTensors(multi, theta), multi, bt).map((z) => z.dataSync()),
        engineLogitsHeads(w, multi, eb).map((z) => z.dataSync()),
      ]);
      disposeWeights(w);
      zRef.forEach((z, h) => {
        assert.ok(maxRelErr(zEng[h], z) < 1e-5, `head ${h} logits`);
        close(zEng[h], z, LOGITS, `d${sizes.d} head ${h} logits`);
      });
      for (const sp of multi.specs) {
        if (sp.name.endsWith("attn.bk")) continue;
        const ours = gEng.subarray(sp.offset, sp.offset + sp.size);
        const ref = gRef.subarray(sp.offset, sp.offset + sp.size);
        const err = maxRelErr(ours, ref);
        assert.ok(err < 1e-4, `${sp.name}: rel err ${err}`);
        close(ours, ref, GRAD, `d${sizes.d} ${sp.name}`);
      }
      // One task's loss alone: the other heads get exactly zero in both.
      const one = engineBatch(a, b, [ys[2]], sizes.p);
      const gRef1 = new Float32Array(multi.size);
      const gEng1 = new Float32Array(multi.size);
      lossAndGrad(multi, theta, bt, gRef1, [undefined, undefined, one.yOneHot]);
      engineLossAndGrad(multi, theta, one, gEng1, [2]);
      for (const sp of multi.specs) {
        if (sp.name.endsWith("attn.bk")) continue;
        const ref = gRef1.subarray(sp.offset, sp.offset + sp.size);
        const ours = gEng1.subarray(sp.offset, sp.offset + sp.size);
        if (sp.group.startsWith("head.") && sp.group !== "head.mul") {
          assert.ok(ref.every((x) => x === 0) && ours.every((x) => x === 0), `${sp.name}: zero`);
        } else {
          assert.ok(maxRelErr(ours, ref) < 1e-4, `${sp.name} (mul's loss alone)`);
          close(ours, ref, GRAD, `d${sizes.d} ${sp.name} (mul's loss alone)`);
        }
      }
      disposeEngineBatch(one);
      disposeBatch(bt);
      disposeEngineBatch(eb);
    }
  });

  test("each task's centroids come from its own head: perturbing head.mul moves mul's only", () => {
    const { single, multi, theta, a, b, ys } = setup(6, 24);
    const probes = makeProbes({ a, b, y: ys[0] }, SIZES.p, ys);
    const before = centroidsHeads(multi, theta, probes, "logit", [0, 1, 2, 3]);
    // The same as the single-task model with that head, and as `centroids(…, head)`.
    for (let t = 0; t < TASKS.length; t++) {
      const sp = makeProbes({ a, b, y: ys[t] }, SIZES.p);
      assert.deepEqual(centroids(single, singleFromHead(single, multi, theta, t), sp, "logit"), before[t]);
      assert.deepEqual(centroids(multi, theta, probes, "logit", t), before[t]);
      disposeProbes(sp);
    }
    const bumped = theta.slice();
    const rng = new Rng(9);
    for (const name of ["head.mul.w", "head.mul.b"]) {
      const v = paramView(multi, bumped, name);
      for (let i = 0; i < v.length; i++) v[i] += 0.3 * rng.normal();
    }
    const after = centroidsHeads(multi, bumped, probes, "logit", [0, 1, 2, 3]);
    TASKS.forEach((task, t) => {
      if (task === "mul") assert.ok(maxRelErr(after[t], before[t]) > 1e-2, "mul's centroids move");
      else assert.deepEqual(after[t], before[t], `${task}'s centroids do not move`);
    });
    disposeProbes(probes);
  });

  test("couplingHeads: each task against its own centroids and baseline, as `coupling` with that head", () => {
    const { multi, theta, a, b, ys } = setup(7, 20);
    const probes = makeProbes({ a, b, y: ys[0] }, SIZES.p, ys);
    const { start, end } = groupRange(multi, "attn");
    const rng = new Rng(11);
    const unit = () => {
      const v = rng.fillNormal(new Float32Array(end - start));
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    };
    const shared = [unit(), unit()];
    const own = [unit(), unit(), unit(), unit()];
    const random = [unit(), unit(), unit()];
    const bases = Object.fromEntries(TASKS.map((_, h) => [h, { shared, own: [own[h]] }]));
    const all = couplingHeads(multi, theta, probes, bases, random, { kind: "logit", epsRel: 0.005 });
    for (let h = 0; h < TASKS.length; h++) {
      const one = coupling(multi, theta, probes, { shared, own: [own[h]] }, random, {
        kind: "logit",
        epsRel: 0.005,
        head: h,
      });
      assert.deepEqual(all[h], one, `head ${h}`);
    }
    assert.notDeepEqual(all[0].Arandom, all[2].Arandom, "baselines are per task");
    disposeProbes(probes);
  });

  test("no tensors leak across multitask steps, evals and centroids", () => {
    const { multi, theta, a, b, ys } = setup(8, 32);
    const g = new Float32Array(multi.size);
    const probes = makeProbes({ a, b, y: ys[0] }, SIZES.p, ys);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) {
      const eb = engineBatch(a, b, ys, SIZES.p);
      engineLossAndGrad(multi, theta, eb, g);
      engineLossAndGrad(multi, theta, eb, g, [0, 1, 2, 3]);
      const w = engineWeights(multi, theta);
      tf.dispose(engineLogitsHeads(w, multi, eb));
      disposeWeights(w);
      disposeEngineBatch(eb);
      centroidsHeads(multi, theta, probes, "logit", [1, 3]);
    }
    assert.equal(tf.memory().numTensors, before);
    disposeProbes(probes);
  });
});
