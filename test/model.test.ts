// Our fast formulation (two [B, d] position streams, sigmoid attention, position-0-only last layer, matmul and
// gather with hand-written gradients) against a naive transformer written with tfjs' default ops and default
// gradients, and against finite differences.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import {
  batchTensors,
  crossEntropy,
  disposeBatch,
  gatherRows,
  lossAndGrad,
  matMul,
  type Params,
  paramTensors,
} from "../src/model/model";
import { initTheta, type Layout, makeLayout } from "../src/model/params";
import { initBackend } from "../src/runs/backend";
import { Rng } from "../src/util/rng";
import { assertAllClose, maxAbs, maxRelErr } from "./helpers";

/**
 * Elementwise |ours − ref| ≤ atol·max|ref| + rtol·|ref| per tensor (float32 both), so that no entry hides behind the
 * tensor's largest one as under maxRelErr. Measured worst |a − b| / max|b|: 1.0e-6 (gradients against the naive
 * model; 0 for matMul and gatherRows); the worst entry uses 27% of its tolerance.
 */
const GRAD = { rtol: 1e-5, atol: 2e-6 };
const close = (ours: ArrayLike<number>, ref: ArrayLike<number>, tol: typeof GRAD, label: string) =>
  assertAllClose(ours, ref, { rtol: tol.rtol, atol: tol.atol * maxAbs(ref) }, label);

/** The textbook layout: x is [B, 2, d], fused heads via reshape/transpose, softmax attention, all positions. */
function naiveLogits(P: Params, layout: Layout, a: tf.Tensor1D, b: tf.Tensor1D): tf.Tensor2D {
  const { p, d, nHeads, layers } = layout.sizes;
  const B = a.shape[0];
  const dh = d / nHeads;
  const ln = (x: tf.Tensor, g: tf.Tensor, bb: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), bb);
  };
  const lin = (x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor) =>
    tf.add(
      tf.reshape(tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]]), w), [
        ...x.shape.slice(0, -1),
        w.shape[1] as number,
      ]),
      bias,
    );
  const tokens = tf.stack([a, b], 1); // [B, 2]
  const oneHot = tf.reshape(tf.oneHot(tf.reshape(tokens, [-1]), p).toFloat(), [B * 2, p]);
  let x = tf.add(tf.reshape(tf.matMul(oneHot, P["embed.tok"]), [B, 2, d]), P["embed.pos"]);
  const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, 2, nHeads, dh]), [0, 2, 1, 3]); // [B, H, 2, dh]
  for (let i = 0; i < layers; i++) {
    const L = (n: string) => P[`layers.${i}.${n}`];
    const h = ln(x, L("ln1.g"), L("ln1.b"));
    const q = heads(lin(h, L("attn.wq"), L("attn.bq")));
    const k = heads(lin(h, L("attn.wk"), L("attn.bk")));
    const v = heads(lin(h, L("attn.wv"), L("attn.bv")));
    const att = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(dh)));
    const o = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B, 2, d]);
    x = tf.add(x, lin(o, L("attn.wo"), L("attn.bo")));
    const m = lin(ln(x, L("ln2.g"), L("ln2.b")), L("mlp.w1"), L("mlp.b1"));
    const gelu = tf.mul(tf.mul(m, 0.5), tf.add(tf.erf(tf.div(m, Math.SQRT2)), 1));
    x = tf.add(x, lin(gelu, L("mlp.w2"), L("mlp.b2")));
  }
  const x0 = tf.reshape(tf.slice(x, [0, 0, 0], [B, 1, d]), [B, d]);
  return tf.add(tf.matMul(ln(x0, P["ln_f.g"], P["ln_f.b"]), P["head.w"]), P["head.b"]) as tf.Tensor2D;
}

function randomBatch(rng: Rng, B: number, p: number) {
  const a = new Int32Array(B);
  const b = new Int32Array(B);
  const y = new Int32Array(B);
  for (let i = 0; i < B; i++) {
    a[i] = rng.int(p);
    b[i] = rng.int(p);
    y[i] = (a[i] * 3 + b[i]) % p;
  }
  return { a, b, y };
}

describe("model", () => {
  before(async () => {
    await initBackend();
  });
  const sizes = [
    { p: 13, d: 16, nHeads: 4, dff: 24, layers: 1 },
    { p: 17, d: 24, nHeads: 2, dff: 32, layers: 3 },
  ];
  for (const s of sizes) {
    test(`loss gradient equals tfjs' default autodiff of a naive model (${JSON.stringify(s)})`, () => {
      const layout = makeLayout(s);
      const rng = new Rng(3);
      // Independent layers (not the PyTorch copy) so a mix-up between layers would show.
      const theta = initTheta(layout, rng, false);
      for (let i = 0; i < theta.length; i++) theta[i] += 0.05 * rng.normal(); // non-zero biases, non-unit LN
      const { a, b, y } = randomBatch(rng, 40, s.p);
      const bt = batchTensors(a, b, y, s.p);
      const ours = new Float32Array(layout.size);
      const lossOurs = lossAndGrad(layout, theta, bt, ours);
      const names = layout.specs.map((x) => x.name);
      const [lossRef, ref] = tf.tidy(() => {
        const P = paramTensors(layout, theta);
        const f = (...ts: tf.Tensor[]) => {
          const Q: Params = Object.fromEntries(names.map((n, i) => [n, ts[i]]));
          return crossEntropy(naiveLogits(Q, layout, bt.a, bt.b), bt.yOneHot);
        };
        const { value, grads } = tf.valueAndGrads(f)(names.map((n) => P[n]));
        const flat = new Float32Array(layout.size);
        layout.specs.forEach((sp, i) => {
          flat.set(grads[i].dataSync(), sp.offset);
        });
        return [value.dataSync()[0], flat];
      });
      disposeBatch(bt);
      assert.ok(Math.abs(lossOurs - lossRef) < 1e-5 * Math.abs(lossRef), `loss ${lossOurs} vs ${lossRef}`);
      for (const sp of layout.specs) {
        if (sp.name.endsWith("attn.bk")) continue; // exactly zero gradient: softmax is shift-invariant
        const mine = ours.subarray(sp.offset, sp.offset + sp.size);
        const theirs = ref.subarray(sp.offset, sp.offset + sp.size);
        const e = maxRelErr(mine, theirs);
        assert.ok(e < 1e-4, `${sp.name}: rel err ${e}`);
        close(mine, theirs, GRAD, `d${s.d} ${sp.name}`);
      }
    });
  }

  test("directional derivatives equal central finite differences", () => {
    const s = sizes[0];
    const layout = makeLayout(s);
    const rng = new Rng(11);
    const theta = initTheta(layout, rng, false);
    const { a, b, y } = randomBatch(rng, 32, s.p);
    const bt = batchTensors(a, b, y, s.p);
    const g = new Float32Array(layout.size);
    lossAndGrad(layout, theta, bt, g);
    const scratch = new Float32Array(layout.size);
    const lossAt = (t: Float32Array) => lossAndGrad(layout, t, bt, scratch);
    // Per parameter tensor: a random unit direction inside it, step h; float32 limits the agreement to ~1e-3.
    for (const sp of layout.specs) {
      if (sp.name.endsWith("attn.bk")) continue;
      const dir = new Float32Array(layout.size);
      let n = 0;
      for (let i = sp.offset; i < sp.offset + sp.size; i++) {
        dir[i] = rng.normal();
        n += dir[i] * dir[i];
      }
      const h = 1e-2;
      const plus = theta.map((t, i) => t + (h * dir[i]) / Math.sqrt(n));
      const minus = theta.map((t, i) => t - (h * dir[i]) / Math.sqrt(n));
      const fd = (lossAt(plus) - lossAt(minus)) / (2 * h);
      let an = 0;
      for (let i = 0; i < g.length; i++) an += (g[i] * dir[i]) / Math.sqrt(n);
      assert.ok(
        Math.abs(fd - an) < 2e-3 * Math.max(1, Math.abs(an)) + 2e-4,
        `${sp.name}: fd ${fd} vs analytic ${an}`,
      );
    }
    disposeBatch(bt);
  });

  test("matMul and gatherRows gradients equal tfjs' defaults (cpu reference for gather)", () => {
    const rng = new Rng(5);
    const A = tf.tensor2d(rng.fillNormal(new Float32Array(6 * 4)), [6, 4]);
    const W = tf.tensor2d(rng.fillNormal(new Float32Array(4 * 3)), [4, 3]);
    const D = tf.tensor2d(rng.fillNormal(new Float32Array(6 * 3)), [6, 3]);
    const obj = (mm: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(mm(x, y), D));
    const ours = tf.grads(obj(matMul))([A, W]);
    const ref = tf.grads(obj((x, y) => tf.matMul(x, y)))([A, W]);
    for (let i = 0; i < 2; i++) {
      assert.ok(maxRelErr(ours[i].dataSync(), ref[i].dataSync()) < 1e-6);
      close(ours[i].dataSync(), ref[i].dataSync(), GRAD, `matMul grad ${i}`);
    }
    // Gather: compare with the one-hot matmul that it replaces.
    const idx = tf.tensor1d([2, 0, 2, 5, 1, 2], "int32");
    const table = tf.tensor2d(rng.fillNormal(new Float32Array(6 * 3)), [6, 3]);
    const ohT = tf.transpose(tf.oneHot(idx, 6).toFloat()) as tf.Tensor2D;
    const gOurs = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherRows(t, idx, ohT), D)))(table);
    const gRef = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.matMul(tf.transpose(ohT), t), D)))(table);
    assert.ok(maxRelErr(gOurs.dataSync(), gRef.dataSync()) < 1e-6);
    close(gOurs.dataSync(), gRef.dataSync(), GRAD, "gatherRows grad");
    tf.dispose([A, W, D, idx, table, ohT, gOurs, gRef, ...ours, ...ref]);
  });

  test("initialisation follows PyTorch's defaults, with layers copied like nn.TransformerEncoder", () => {
    const layout = makeLayout({ p: 97, d: 128, nHeads: 4, dff: 256, layers: 2 });
    const theta = initTheta(layout, new Rng(1));
    const view = (n: string) => {
      const sp = layout.byName.get(n);
      assert.ok(sp);
      return theta.subarray(sp.offset, sp.offset + sp.size);
    };
    const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    const maxAbs = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(Math.abs(std(view("embed.tok")) - 1) < 0.02);
    assert.ok(Math.abs(std(view("embed.pos")) - 1 / Math.sqrt(128)) < 0.02);
    const xavier = Math.sqrt(6 / (128 + 384));
    assert.ok(maxAbs(view("layers.0.attn.wq")) <= xavier && maxAbs(view("layers.0.attn.wq")) > 0.95 * xavier);
    assert.ok(maxAbs(view("layers.0.attn.wo")) <= 1 / Math.sqrt(128));
    assert.ok(maxAbs(view("layers.0.mlp.w2")) <= 1 / 16 && maxAbs(view("layers.0.mlp.w2")) > 0.95 / 16);
    assert.equal(maxAbs(view("layers.0.attn.bq")), 0);
    assert.deepEqual(view("layers.1.attn.wq"), view("layers.0.attn.wq"));
    assert.deepEqual(view("layers.1.mlp.w1"), view("layers.0.mlp.w1"));
    assert.ok(view("layers.0.ln1.g").every((v) => v === 1));
    // The attention group is one contiguous block of 2 * 4 * 128^2 numbers at the start of theta.
    assert.deepEqual(layout.groups.get("attn"), [{ start: 0, end: 131072 }]);
  });

  test("no tensors leak from a loss-and-gradient evaluation", () => {
    const layout = makeLayout(sizes[0]);
    const theta = initTheta(layout, new Rng(2));
    const { a, b, y } = randomBatch(new Rng(4), 16, sizes[0].p);
    const g = new Float32Array(layout.size);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const bt = batchTensors(a, b, y, sizes[0].p);
      lossAndGrad(layout, theta, bt, g);
      disposeBatch(bt);
    }
    assert.equal(tf.memory().numTensors, before);
  });
});
