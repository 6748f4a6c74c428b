import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AdamWConfig } from "../src/config/config";
import { groupRange, type Layout, makeLayout } from "../src/model/params";
import { adamwStep, globalNorm, newAdamWState } from "../src/train/optim";
import { Rng } from "../src/util/rng";

const BASE: AdamWConfig = { lr: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1, clip: 0 };

/** torch.optim.AdamW, written out in float64: returns theta after each step. */
function referenceAdamW(theta0: number[], grads: number[][], cfg: AdamWConfig): number[][] {
  const { lr, beta1, beta2, eps, weightDecay } = cfg;
  const theta = [...theta0];
  const m = theta0.map(() => 0);
  const v = theta0.map(() => 0);
  const out: number[][] = [];
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < theta.length; i++) {
      theta[i] = theta[i] * (1 - lr * weightDecay); // decoupled weight decay
      m[i] = beta1 * m[i] + (1 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      const stepSize = lr / (1 - beta1 ** t);
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - beta2 ** t) + eps;
      theta[i] = theta[i] - (stepSize * m[i]) / denom;
    }
    out.push([...theta]);
  });
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const scale = Math.max(Math.abs(expected[i]), 1e-30);
    assert.ok(
      err <= rel * scale,
      `${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (rel err ${err / scale})`,
    );
  }
}

describe("adamwStep against hand-computed torch.optim.AdamW", () => {
  const theta0 = [0.5, -1.25, 2, 0.75, -0.3];
  const grads = [
    [0.1, -0.2, 0.3, 0, -0.05],
    [-0.4, 0.1, 0.25, 0.2, 0.05],
    [0.3, 0.3, -0.1, -0.6, 0.15],
  ];

  for (const [label, cfg] of [
    ["paper-like betas", BASE],
    // eps comparable to sqrt(v): only the exact torch formula for the denominator matches.
    [
      "eps that matters, other betas",
      { ...BASE, beta1: 0.8, beta2: 0.9, eps: 0.05, weightDecay: 0.5, lr: 0.1 },
    ],
  ] as const) {
    it(`matches three steps (${label})`, () => {
      const expected = referenceAdamW(theta0, grads, cfg);
      const theta = Float32Array.from(theta0);
      const state = newAdamWState(theta.length);
      for (let k = 0; k < 3; k++) {
        adamwStep(theta, Float32Array.from(grads[k]), state, cfg);
        assert.equal(state.step, k + 1);
        assertClose(theta, expected[k], 1e-6, `theta after step ${k + 1}`);
        // The update actually moved the parameters (so a no-op optimiser would fail above).
        assert.ok(Math.abs(theta[0] - theta0[0]) > 1e-4);
      }
    });
  }

  it("keeps the moments as torch does", () => {
    const cfg = BASE;
    const theta = Float32Array.from(theta0);
    const state = newAdamWState(theta.length);
    adamwStep(theta, Float32Array.from(grads[0]), state, cfg);
    adamwStep(theta, Float32Array.from(grads[1]), state, cfg);
    const m = theta0.map((_, i) => 0.9 * (0.1 * grads[0][i]) + 0.1 * grads[1][i]);
    const v = theta0.map((_, i) => 0.98 * (0.02 * grads[0][i] ** 2) + 0.02 * grads[1][i] ** 2);
    for (let i = 0; i < theta0.length; i++) {
      assert.ok(Math.abs(state.m[i] - m[i]) <= 1e-6 * Math.abs(m[i]) + 1e-12, `m[${i}]`);
      assert.ok(Math.abs(state.v[i] - v[i]) <= 1e-6 * Math.abs(v[i]) + 1e-12, `v[${i}]`);
    }
  });
});

describe("gradient clipping", () => {
  const cfg = { ...BASE, clip: 1 };

  it("scales a gradient of norm 5 by 1/(5+1e-6) with clip 1 and returns the pre-clip norm", () => {
    const grad = Float32Array.from([3, 0, -4, 0]);
    const state = newAdamWState(4);
    const norm = adamwStep(new Float32Array(4), grad, state, cfg);
    assert.equal(norm, 5);
    const coef = 1 / (5 + 1e-6);
    assert.deepEqual([...grad], [3 * coef, 0, -4 * coef, 0].map(Math.fround));
    // The moments saw the clipped gradient.
    assert.ok(Math.abs(state.m[0] - 0.1 * 3 * coef) < 1e-7);
    assert.ok(Math.abs(globalNorm(grad) - 1) < 1e-6);
  });

  it("scales a gradient only slightly over the clip (norm 1.25, clip 1)", () => {
    const grad = Float32Array.from([0.75, 1]);
    const norm = adamwStep(new Float32Array(2), grad, newAdamWState(2), cfg);
    assert.equal(norm, 1.25);
    const coef = 1 / (1.25 + 1e-6);
    assert.deepEqual([...grad], [0.75 * coef, coef].map(Math.fround));
  });

  it("leaves a gradient of norm 0.5 untouched", () => {
    const grad = Float32Array.from([0.3, -0.4]);
    const copy = grad.slice();
    const norm = adamwStep(new Float32Array(2), grad, newAdamWState(2), cfg);
    assert.ok(Math.abs(norm - 0.5) < 1e-7);
    assert.deepEqual(grad, copy);
  });

  for (const clip of [0, Number.POSITIVE_INFINITY]) {
    it(`is disabled by clip ${clip}`, () => {
      const grad = Float32Array.from([30, 40]);
      const copy = grad.slice();
      const norm = adamwStep(new Float32Array(2), grad, newAdamWState(2), { ...cfg, clip });
      assert.equal(norm, 50);
      assert.deepEqual(grad, copy);
    });
  }
});

describe("weight decay", () => {
  it("shrinks theta by exactly (1 - lr·wd) per step when the gradient is zero", () => {
    const cfg = { ...BASE, lr: 0.05, weightDecay: 2, clip: 1 };
    const theta = Float32Array.from([1, -2, 0.5, 3.25]);
    const expected = Float32Array.from(theta);
    const state = newAdamWState(theta.length);
    for (let k = 0; k < 4; k++) {
      adamwStep(theta, new Float32Array(theta.length), state, cfg);
      for (let i = 0; i < expected.length; i++) expected[i] = expected[i] * (1 - 0.05 * 2);
      assert.deepEqual(theta, expected, `after step ${k + 1}`);
    }
    assert.ok(theta[0] < 0.7, "theta shrank");
  });
});

describe("step hooks", () => {
  // Two layers so that layers.1.attn does not start at offset 0.
  const layout = makeLayout({ p: 5, d: 4, nHeads: 2, dff: 8, layers: 2 });
  const cfg: AdamWConfig = { ...BASE, clip: 1 };

  function setup(seed = 1) {
    const rng = new Rng(seed);
    const theta = new Float32Array(layout.size);
    rng.fillNormal(theta, 1);
    const grad = new Float32Array(layout.size);
    rng.fillNormal(grad, 1); // norm ≫ 1: clipping is active
    return { theta, grad };
  }

  /** One step without hooks from fresh copies; returns the new theta. */
  function plainStep(theta: Float32Array, grad: Float32Array, c = cfg): Float32Array {
    const t = theta.slice();
    adamwStep(t, grad.slice(), newAdamWState(t.length), c, layout);
    return t;
  }

  function inGroup(l: Layout, group: string): (i: number) => boolean {
    const r = groupRange(l, group);
    return (i) => i >= r.start && i < r.end;
  }

  it("onGrad sees the clipped gradient of a group and the pre-clip norm", () => {
    const { theta, grad } = setup();
    const norm = globalNorm(grad);
    assert.ok(norm > 2);
    const coef = 1 / (norm + 1e-6);
    for (const group of ["attn", "layers.1.attn"]) {
      const r = groupRange(layout, group);
      let seen: Float32Array | undefined;
      let seenNorm = Number.NaN;
      adamwStep(theta.slice(), grad.slice(), newAdamWState(layout.size), cfg, layout, {
        onGrad: (ctx) => {
          seen = ctx.grad(group).slice();
          seenNorm = ctx.gradNorm;
          assert.equal(ctx.step, 1);
          assert.equal(ctx.layout, layout);
        },
      });
      assert.ok(seen, "hook was called");
      assert.equal(seen.length, r.end - r.start);
      const expected = Float32Array.from(grad.subarray(r.start, r.end), (g) => g * coef);
      assert.deepEqual(seen, expected);
      assert.ok(Math.abs(seenNorm - norm) < 1e-9 * norm);
    }
  });

  for (const how of ["setGrad", "in-place write"] as const) {
    it(`replacing a group's gradient (${how}) changes only that group's update`, () => {
      const group = "layers.1.attn";
      const { theta, grad } = setup(2);
      const r = groupRange(layout, group);
      const rng = new Rng(99);
      const replacement = new Float32Array(r.end - r.start);
      rng.fillNormal(replacement, 0.01);

      const hooked = theta.slice();
      adamwStep(hooked, grad.slice(), newAdamWState(layout.size), cfg, layout, {
        onGrad: (ctx) => {
          if (how === "setGrad") ctx.setGrad(group, replacement);
          else ctx.grad(group).set(replacement);
        },
      });
      const plain = plainStep(theta, grad);
      const inside = inGroup(layout, group);
      let changed = 0;
      for (let i = 0; i < layout.size; i++) {
        if (inside(i)) {
          if (hooked[i] !== plain[i]) changed++;
        } else {
          assert.equal(hooked[i], plain[i], `theta[${i}] outside ${group} must be unaffected`);
        }
      }
      assert.ok(changed > (r.end - r.start) / 2, `most of ${group} changed (${changed})`);

      // Exactly the step of the clipped gradient with the group replaced, clipping then disabled.
      const coef = 1 / (globalNorm(grad) + 1e-6);
      const g2 = Float32Array.from(grad, (g) => g * coef);
      g2.set(replacement, r.start);
      assert.deepEqual(hooked, plainStep(theta, g2, { ...cfg, clip: 0 }));
    });
  }

  it("onUpdate sees before (a copy) and after (live) whose difference is the update", () => {
    const { theta, grad } = setup(3);
    const theta0 = theta.slice();
    const expectedAfter = plainStep(theta, grad);
    let calls = 0;
    adamwStep(theta, grad.slice(), newAdamWState(layout.size), cfg, layout, {
      onUpdate: (ctx) => {
        calls++;
        assert.equal(ctx.step, 1);
        assert.equal(ctx.after, theta, "after is the live parameter vector");
        assert.notEqual(ctx.before, theta);
        assert.deepEqual(ctx.before, theta0);
        assert.deepEqual(ctx.after, expectedAfter);
        const upd = ctx.after.map((a, i) => a - ctx.before[i]);
        const want = expectedAfter.map((a, i) => a - theta0[i]);
        assert.deepEqual(upd, want);
        assert.ok(upd.some((u) => u !== 0));
      },
    });
    assert.equal(calls, 1);
  });

  it("setGrad with the wrong length throws", () => {
    const { theta, grad } = setup();
    assert.throws(
      () =>
        adamwStep(theta, grad, newAdamWState(layout.size), cfg, layout, {
          onGrad: (ctx) => ctx.setGrad("attn", new Float32Array(3)),
        }),
      /setGrad\("attn"\): expected \d+ values, got 3/,
    );
  });

  it("an unknown group throws", () => {
    const { theta, grad } = setup();
    for (const f of [
      (ctx: { grad(g: string): Float32Array }) => ctx.grad("nope"),
      (ctx: { setGrad(g: string, v: Float32Array): void }) => ctx.setGrad("nope", new Float32Array(1)),
    ]) {
      assert.throws(
        () => adamwStep(theta.slice(), grad.slice(), newAdamWState(layout.size), cfg, layout, { onGrad: f }),
        /unknown parameter group "nope"/,
      );
    }
  });

  it("hooks without a layout throw", () => {
    const { theta, grad } = setup();
    assert.throws(
      () => adamwStep(theta, grad, newAdamWState(layout.size), cfg, undefined, { onGrad: () => {} }),
      /layout/,
    );
  });
});
