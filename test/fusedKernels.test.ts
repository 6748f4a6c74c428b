// The wasm SIMD kernels (src/model/kernels/fused.wat) against float64 references and tfjs' own ops, and the embedded
// bytes against their source.
import assert from "node:assert/strict";
import fs from "node:fs";
import { before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { assembleKernels, KERNELS, kernelsModuleText } from "../scripts/build-kernels.mjs";
import {
  fusedConcatColumns,
  fusedFirstHalf,
  fusedGatherRows,
  fusedGelu,
  fusedKernelsFor,
  fusedLayerNorm,
  fusedLayerNormGrad,
  fusedScatterAddRows,
  fusedSplitHalves,
  fusedSwapHalves,
  fusedTranspose,
} from "../src/model/fusedKernels";
import { initBackend } from "../src/runs/backend";
import { Rng } from "../src/util/rng";
import { maxRelErr } from "./helpers";

/** erf in float64: Maclaurin series below 3, continued fraction for erfc above. */
function erf64(x: number): number {
  const t = Math.abs(x);
  let s: number;
  if (t < 3) {
    let term = t;
    let sum = t;
    for (let n = 1; n < 120; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    s = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = 0;
    for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
    s = 1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  }
  return x < 0 ? -s : s;
}

function randomMatrix(rng: Rng, rows: number, cols: number, scale = 1, shift = 0): tf.Tensor2D {
  const v = new Float32Array(rows * cols);
  for (let i = 0; i < v.length; i++) v[i] = shift + scale * rng.normal();
  return tf.tensor2d(v, [rows, cols]);
}

describe("fused wasm kernels", () => {
  before(async () => {
    await initBackend("wasm");
  });

  test("the embedded wasm bytes are the .wat sources assembled (run npm run build:kernels after editing one)", async () => {
    assert.equal(KERNELS.length, 4);
    for (const k of KERNELS) {
      assert.equal(fs.readFileSync(k.out, "utf8"), kernelsModuleText(await assembleKernels(k.wat), k), k.out);
    }
  });

  test("they serve the wasm backend at widths divisible by 4 only, and refuse other widths", () => {
    assert.equal(fusedKernelsFor(128), true);
    assert.equal(fusedKernelsFor(30), false);
    assert.equal(fusedKernelsFor(0), false);
    const x = tf.zeros([2, 6]) as tf.Tensor2D;
    const g = tf.ones([6]) as tf.Tensor1D;
    assert.throws(() => fusedGelu(x, false), /gelu: rows must have a positive multiple of 4 floats, got 6/);
    assert.throws(() => fusedLayerNorm(x, g, g, 1e-5, false), /layerNorm: .* got 6/);
    assert.throws(() => fusedTranspose(x, true), /transpose: .* got 6/);
    tf.dispose([x, g]);
  });

  test("gelu and its derivative equal the float64 values to float32 precision", () => {
    const n = 1 << 14;
    const xs = new Float32Array(n);
    for (let i = 0; i < n; i++) xs[i] = -12 + (24 * i) / (n - 1);
    const x = tf.tensor2d(xs, [n / 64, 64]);
    const { y, dydx } = fusedGelu(x, true);
    assert.ok(dydx);
    const yv = y.dataSync();
    const dv = dydx.dataSync();
    for (let i = 0; i < n; i++) {
      const v = xs[i];
      const cdf = 0.5 * (1 + erf64(v / Math.SQRT2));
      const pdf = Math.exp((-v * v) / 2) / Math.sqrt(2 * Math.PI);
      // A few float32 ulps of max(|x|, 1): y ≈ x for large x, and 1 + erf carries the error for small x.
      assert.ok(Math.abs(yv[i] - v * cdf) <= 4e-7 * Math.max(1, Math.abs(v)), `gelu(${v}) = ${yv[i]}`);
      assert.ok(Math.abs(dv[i] - (cdf + v * pdf)) <= 4e-7, `gelu'(${v}) = ${dv[i]}`);
    }
    const plain = fusedGelu(x, false);
    assert.equal(plain.dydx, undefined);
    assert.deepEqual(plain.y.dataSync(), yv);
    tf.dispose([x, y, dydx, plain.y]);
  });

  test("LayerNorm forward and backward equal tfjs' ops and autodiff", () => {
    const rng = new Rng(3);
    const [N, d, eps] = [37, 24, 1e-5];
    const x = randomMatrix(rng, N, d, 2, 0.3);
    const g = tf.tensor1d(Array.from({ length: d }, () => 1 + 0.3 * rng.normal()));
    const b = tf.tensor1d(Array.from({ length: d }, () => rng.normal()));
    const dy = randomMatrix(rng, N, d);
    const ln = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const xc = tf.sub(xx, tf.mean(xx, -1, true));
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
      return { y: tf.add(tf.mul(tf.mul(xc, rstd), gg), bb), xhat: tf.mul(xc, rstd), rstd };
    };
    const ref = ln(x, g, b);
    const r = fusedLayerNorm(x, g, b, eps, true);
    assert.ok(r.xhat && r.rstd);
    assert.deepEqual(r.rstd.shape, [N, 1]);
    assert.ok(maxRelErr(r.y.dataSync(), ref.y.dataSync()) < 1e-6);
    assert.ok(maxRelErr(r.xhat.dataSync(), ref.xhat.dataSync()) < 1e-6);
    assert.ok(maxRelErr(r.rstd.dataSync(), ref.rstd.dataSync()) < 1e-6);
    const [gx, gg, gb] = tf.grads((xx: tf.Tensor, g2: tf.Tensor, b2: tf.Tensor) =>
      tf.sum(tf.mul(ln(xx, g2, b2).y, dy)),
    )([x, g, b]);
    const back = fusedLayerNormGrad(dy, g, r.xhat, r.rstd, true);
    assert.ok(back.dg && back.db);
    assert.ok(maxRelErr(back.dx.dataSync(), gx.dataSync()) < 1e-5, "dx");
    assert.ok(maxRelErr(back.dg.dataSync(), gg.dataSync()) < 1e-5, "dg");
    assert.ok(maxRelErr(back.db.dataSync(), gb.dataSync()) < 1e-5, "db");
    const dxOnly = fusedLayerNormGrad(dy, g, r.xhat, r.rstd, false);
    assert.equal(dxOnly.dg, undefined);
    assert.deepEqual(dxOnly.dx.dataSync(), back.dx.dataSync());
    tf.dispose([
      x,
      g,
      b,
      dy,
      ref.y,
      ref.xhat,
      ref.rstd,
      r.y,
      r.xhat,
      r.rstd,
      gx,
      gg,
      gb,
      back.dx,
      back.dg,
      back.db,
    ]);
    tf.dispose(dxOnly.dx);
  });

  test("transpose, with and without the ones row, is exact for any row count", () => {
    const rng = new Rng(5);
    for (const [rows, cols] of [
      [8, 4],
      [7, 12],
      [194, 128],
      [1, 8],
    ]) {
      const x = randomMatrix(rng, rows, cols);
      const xv = x.dataSync();
      for (const ones of [false, true]) {
        const t = fusedTranspose(x, ones);
        assert.deepEqual(t.shape, [ones ? cols + 1 : cols, rows]);
        const tv = t.dataSync();
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++) assert.equal(tv[j * rows + i], xv[i * cols + j]);
        if (ones) for (let i = 0; i < rows; i++) assert.equal(tv[cols * rows + i], 1);
        t.dispose();
      }
      x.dispose();
    }
  });

  test("swapHalves exchanges the two positions' rows exactly", () => {
    const x = randomMatrix(new Rng(9), 6, 8);
    const s = fusedSwapHalves(x);
    const [x0, x1] = tf.split(x, 2, 0);
    assert.deepEqual(s.dataSync(), tf.concat([x1, x0], 0).dataSync());
    assert.throws(() => fusedSwapHalves(tf.zeros([3, 4]) as tf.Tensor2D), /even number of rows/);
    tf.dispose([x, s, x0, x1]);
  });

  test("splitHalves and firstHalf equal tfjs' split and slice exactly", () => {
    const x = randomMatrix(new Rng(10), 10, 12);
    const [a, b] = fusedSplitHalves(x);
    const [x0, x1] = tf.split(x, 2, 0);
    const f = fusedFirstHalf(x);
    assert.deepEqual(a.shape, [5, 12]);
    assert.deepEqual(a.dataSync(), x0.dataSync());
    assert.deepEqual(b.dataSync(), x1.dataSync());
    assert.deepEqual(f.dataSync(), x0.dataSync());
    assert.throws(() => fusedSplitHalves(tf.zeros([3, 4]) as tf.Tensor2D), /even number of rows/);
    assert.throws(() => fusedFirstHalf(tf.zeros([3, 4]) as tf.Tensor2D), /even number of rows/);
    tf.dispose([x, a, b, x0, x1, f]);
  });

  test("concatColumns equals tfjs' concat along axis 1 exactly", () => {
    const rng = new Rng(11);
    const xs = [randomMatrix(rng, 5, 3), randomMatrix(rng, 5, 8), randomMatrix(rng, 5, 1)];
    const c = fusedConcatColumns(xs);
    assert.deepEqual(c.shape, [5, 12]);
    const ref = tf.concat(xs, 1);
    assert.deepEqual(c.dataSync(), ref.dataSync());
    assert.throws(() => fusedConcatColumns([xs[0], randomMatrix(rng, 4, 2)]), /expected \[5, c\] tensors/);
    assert.throws(() => fusedConcatColumns([]), /no tensors/);
    tf.dispose([...xs, c, ref]);
  });

  test("gatherRows picks table rows, split into column parts, exactly; bad rows are refused", () => {
    const table = randomMatrix(new Rng(13), 6, 12);
    const tv = table.dataSync();
    const rows = Int32Array.from([5, 0, 0, 3, 2]);
    const rowsT = tf.tensor1d(rows, "int32");
    const parts = fusedGatherRows(table, rows, rowsT, 3);
    assert.equal(parts.length, 3);
    parts.forEach((part, j) => {
      assert.deepEqual(part.shape, [5, 4]);
      const pv = part.dataSync();
      rows.forEach((r, i) => {
        for (let c = 0; c < 4; c++) assert.equal(pv[i * 4 + c], tv[r * 12 + j * 4 + c]);
      });
    });
    const bad = Int32Array.from([6]);
    const badT = tf.tensor1d(bad, "int32");
    assert.throws(() => fusedGatherRows(table, bad, badT), /row 6 outside \[0, 6\)/);
    assert.throws(() => fusedGatherRows(table, rows, rowsT, 5), /12 columns do not split into 5 parts/);
    tf.dispose([table, rowsT, badT, ...parts]);
  });

  test("scatterAddRows sums rows by destination bitwise as the JavaScript loop, into zeroed rows; bad rows are refused", () => {
    const x = randomMatrix(new Rng(17), 7, 8);
    const xv = x.dataSync();
    // Repeated destinations (their sums' order matters for rounding) and an untouched row (it must be 0).
    const rows = Int32Array.from([3, 0, 3, 1, 3, 0, 4]);
    const rowsT = tf.tensor1d(rows, "int32");
    // Dirty the heap first: the output's memory is reused and must be cleared by the kernel.
    tf.dispose(tf.fill([6, 8], 7));
    const out = fusedScatterAddRows(x, rows, rowsT, 6);
    assert.deepEqual(out.shape, [6, 8]);
    const ref = new Float32Array(6 * 8);
    rows.forEach((r, i) => {
      for (let c = 0; c < 8; c++) ref[r * 8 + c] += xv[i * 8 + c];
    });
    assert.deepEqual(out.dataSync(), ref);
    assert.ok(ref.subarray(2 * 8, 3 * 8).every((v) => v === 0) && ref.subarray(5 * 8).every((v) => v === 0));
    const bad = Int32Array.from([0, 1, 2, 3, 4, 5, 6]);
    const badT = tf.tensor1d(bad, "int32");
    assert.throws(() => fusedScatterAddRows(x, bad, badT, 6), /row 6 outside \[0, 6\)/);
    assert.throws(() => fusedScatterAddRows(x, rows.subarray(1), rowsT, 6), /must be the 7 indices/);
    tf.dispose([x, rowsT, badT, out]);
  });

  test("no tensor, data buffer or heap memory is left behind", () => {
    // No tf.tidy here: it would dispose whatever a kernel leaked. Every output is disposed by hand and the counts
    // are taken outside: tensors and bytes (the engine's), data ids (the wasm backend's: a buffer made with
    // makeOutput and never returned is no tensor) and the wasm heap's size (enough calls that a buffer of x's size
    // leaked per call would outgrow twice the heap).
    const be = tf.backend() as unknown as {
      numDataIds(): number;
      wasm: { asm: { memory: WebAssembly.Memory } };
    };
    const x = tf.randomNormal([256, 128]) as tf.Tensor2D;
    const g = tf.ones([128]) as tf.Tensor1D;
    const b = tf.zeros([128]) as tf.Tensor1D;
    const rows = Int32Array.from({ length: 256 }, (_, i) => (i * 7) % 256);
    const rowsT = tf.tensor1d(rows, "int32");
    const ones = tf.ones([256, 1]) as tf.Tensor2D;
    const round = () => {
      const r = fusedLayerNorm(x, g, b, 1e-5, true);
      const rg = fusedLayerNormGrad(x, g, r.xhat as tf.Tensor2D, r.rstd as tf.Tensor2D, true);
      const ge = fusedGelu(x, true);
      tf.dispose([r.y, r.xhat, r.rstd, rg.dx, rg.dg, rg.db, ge.y, ge.dydx] as tf.Tensor[]);
      tf.dispose([fusedGelu(x, false).y, fusedLayerNorm(x, g, b, 1e-5, false).y]);
      tf.dispose(fusedLayerNormGrad(x, g, x, ones, false).dx);
      tf.dispose([fusedTranspose(x, true), fusedTranspose(x, false), fusedSwapHalves(x)]);
      tf.dispose([...fusedSplitHalves(x), fusedFirstHalf(x)]);
      tf.dispose([fusedConcatColumns([x, x]), ...fusedGatherRows(x, rows, rowsT, 4)]);
      tf.dispose(fusedScatterAddRows(x, rows, rowsT, 256));
    };
    const counts = () => {
      const m = tf.memory();
      return {
        tensors: m.numTensors,
        dataBuffers: m.numDataBuffers,
        bytes: m.numBytes,
        backendDataIds: be.numDataIds(),
        heapBytes: be.wasm.asm.memory.buffer.byteLength,
      };
    };
    round(); // the first call may grow the heap for good
    const before = counts();
    const calls = Math.ceil((2 * before.heapBytes) / (4 * x.size));
    for (let i = 0; i < calls; i++) round();
    assert.deepEqual(counts(), before);
    tf.dispose([x, g, b, rowsT, ones]);
  });
});
