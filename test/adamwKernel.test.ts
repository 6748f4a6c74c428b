// AdamW's SIMD kernel (src/train/adamwKernel.ts) against optim.ts' JavaScript loop: bitwise the same θ and moments.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeConfig } from "../src/config/config";
import { adamwKernelFor, optimBuffers } from "../src/train/adamwKernel";
import { adamwStep, newAdamWState } from "../src/train/optim";
import { Rng } from "../src/util/rng";

/** n parameters, gradients and moments with a spread of magnitudes (tiny, huge, zero) that stresses rounding. */
function fill(rng: Rng, a: Float32Array, scale: number): void {
  for (let i = 0; i < a.length; i++) a[i] = i % 97 === 0 ? 0 : rng.normal() * scale * 10 ** ((i % 7) - 3);
}

describe("AdamW kernel", () => {
  for (const n of [1, 2, 7, 1001]) {
    it(`gives bitwise the JavaScript loop's θ, m and v over 5 steps (n = ${n}, odd sizes included)`, () => {
      const cfg = makeConfig({ preset: "paper" });
      const buf = optimBuffers(n);
      assert.ok(adamwKernelFor(buf.theta, buf.grad, buf.m, buf.v), "the buffers are bound to the kernel");
      const plain = { theta: new Float32Array(n), grad: new Float32Array(n), opt: newAdamWState(n) };
      const optK = { ...newAdamWState(0), m: buf.m, v: buf.v };
      const rng = new Rng(n);
      fill(rng, buf.theta, 1);
      plain.theta.set(buf.theta);
      for (let step = 0; step < 5; step++) {
        fill(rng, buf.grad, 0.5);
        plain.grad.set(buf.grad);
        const a = adamwStep(buf.theta, buf.grad, optK, cfg);
        const b = adamwStep(plain.theta, plain.grad, plain.opt, cfg);
        assert.equal(a, b, "the same gradient norm");
        assert.deepEqual(buf.theta, plain.theta, `θ after step ${step + 1}`);
        assert.deepEqual(buf.m, plain.opt.m);
        assert.deepEqual(buf.v, plain.opt.v);
      }
    });
  }

  it("only serves one whole set of buffers: views, copies or a mix run the loop", () => {
    const buf = optimBuffers(8);
    const other = optimBuffers(8);
    assert.equal(adamwKernelFor(buf.theta.subarray(0, 4), buf.grad, buf.m, buf.v), undefined);
    assert.equal(adamwKernelFor(buf.theta.slice(), buf.grad, buf.m, buf.v), undefined);
    assert.equal(adamwKernelFor(buf.theta, other.grad, buf.m, buf.v), undefined);
    assert.equal(adamwKernelFor(buf.grad, buf.theta, buf.m, buf.v), undefined, "arrays in the wrong slots");
  });
});
