// The attention controls of issue #15 (freeze, zero gradient, lr scale, norm-matched keep-random, Grokfast) and
// the attention observer: each does exactly what it says to the attention group and nothing else.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { type ConfigOverrides, makeConfig } from "../src/config/config";
import { makeDataset, makeTask } from "../src/data/tasks";
import { attentionDisplacement, patternDeviation } from "../src/intervention/attentionObserver";
import { GrokfastFilter } from "../src/intervention/grokfast";
import { interventionObserver } from "../src/intervention/observer";
import { groupRange, initTheta, makeLayout } from "../src/model/params";
import { runId } from "../src/records/records";
import type { AttentionResult, InterventionResult } from "../src/records/results";
import type { RunRecord } from "../src/records/schema";
import { initBackend } from "../src/runs/backend";
import { trainRun } from "../src/runs/trainRun";
import type { TrainObserver } from "../src/train/observer";
import { adamwStep, newAdamWState } from "../src/train/optim";
import { norm } from "../src/util/linalg";
import { Rng } from "../src/util/rng";
import { gradContext, maxRelErr } from "./helpers";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-actl-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
before(async () => {
  await initBackend();
});

const base: ConfigOverrides = { preset: "test", seed: 5, maxSteps: 60 };
const W = 20; // the default window: natural steps before a control starts
const opts = { recordDir: null, checkpointDir: null } as const;

/** Records the parameters after every step. */
function thetaSpy(): { observer: TrainObserver; thetas: Float32Array[] } {
  const thetas: Float32Array[] = [];
  return { thetas, observer: { name: "spy", onStep: (c) => void thetas.push(c.theta.slice()) } };
}

const strip = (r: RunRecord) => {
  const o: Record<string, unknown> = { ...r };
  for (const k of ["date", "wallSeconds", "id", "config"]) delete o[k];
  if (o.intervention) o.intervention = { ...(o.intervention as object), hookSeconds: 0 };
  return o;
};

describe("attention controls in training", () => {
  const layout = makeLayout(makeConfig(base));
  const attn = groupRange(layout, "attn");
  const slice = (t: Float32Array) => t.slice(attn.start, attn.end);
  const outside = (t: Float32Array) =>
    Float32Array.from([...t.subarray(0, attn.start), ...t.subarray(attn.end)]);

  it("freeze-attention leaves the attention group bit for bit unchanged after step W, and only it", async () => {
    const spy = thetaSpy();
    const r = await trainRun(makeConfig({ ...base, intervention: { mode: "freeze-attention" } }), {
      ...opts,
      observers: [spy.observer],
    });
    const { thetas } = spy;
    assert.notDeepEqual(slice(thetas[W - 1]), slice(thetas[W - 2]), "attention trains for the first W steps");
    for (let t = W; t < thetas.length; t++) {
      assert.deepEqual(slice(thetas[t]), slice(thetas[W - 1]), `attention moved at step ${t + 1}`);
      assert.notDeepEqual(outside(thetas[t]), outside(thetas[t - 1]), `the rest froze at step ${t + 1}`);
    }
    const iv = r.intervention as InterventionResult;
    assert.equal(iv.firstProjectedStep, W + 1);
    assert.equal(iv.projectedSteps, r.steps - W);
  });

  it("freeze-attention-at-init keeps attention at its initial weights; the attention record says 0 throughout", async () => {
    const config = makeConfig({ ...base, intervention: { mode: "freeze-attention-at-init" } });
    const spy = thetaSpy();
    const r = await trainRun(config, { ...opts, observers: [spy.observer] });
    const theta0 = initTheta(layout, new Rng(config.seed).fork("init"), config.copyLayerInit);
    for (const t of spy.thetas) assert.deepEqual(slice(t), slice(theta0));
    const att = r.attention as AttentionResult;
    assert.equal(att.points.length, r.metrics.length);
    assert.ok(att.points.every((p) => p.displacement === 0));
    assert.equal((r.intervention as InterventionResult).firstProjectedStep, 1);
  });

  it("zero-attention-gradient decays attention by exactly (1 − lr·wd) per step after W", async () => {
    const config = makeConfig({ ...base, intervention: { mode: "zero-attention-gradient" } });
    const spy = thetaSpy();
    await trainRun(config, { ...opts, observers: [spy.observer] });
    const decay = 1 - config.lr * config.weightDecay;
    const { thetas } = spy;
    for (let t = W; t < thetas.length; t++) {
      const prev = slice(thetas[t - 1]);
      const want = prev.map((x) => x * decay);
      assert.deepEqual(slice(thetas[t]), want, `step ${t + 1}`);
      assert.notDeepEqual(slice(thetas[t]), prev);
    }
  });

  it("the attention record starts at displacement 0 and grows as attention trains; the pattern stays in [0, ½]", async () => {
    const r = await trainRun(makeConfig({ ...base, intervention: { mode: "control" } }), opts);
    const pts = (r.attention as AttentionResult).points;
    assert.equal(pts[0].step, 0);
    assert.equal(pts[0].displacement, 0);
    assert.ok(pts[pts.length - 1].displacement > 0.01, `displacement ${pts[pts.length - 1].displacement}`);
    for (const p of pts) {
      assert.equal(p.byLayer.length, layout.sizes.layers);
      assert.ok(p.patternDeviation >= 0 && p.patternDeviation <= 0.5);
    }
  });

  it("Grokfast and zero-gradient runs resume to the identical record (the EMA is checkpointed)", async () => {
    for (const mode of ["grokfast", "zero-attention-gradient"] as const) {
      const config = makeConfig({ ...base, intervention: { mode } });
      const whole = await trainRun(config, opts);
      const ck = fs.mkdtempSync(path.join(tmpRoot, "ck"));
      await assert.rejects(trainRun(config, { recordDir: null, checkpointDir: ck, stopAtStep: 33 }));
      const resumed = await trainRun(config, { recordDir: null, checkpointDir: ck });
      assert.deepEqual(strip(resumed), strip(whole), mode);
    }
  });
});

describe("attention control hooks", () => {
  const config = makeConfig({ preset: "test" });
  const layout = makeLayout(config);
  const attn = groupRange(layout, "attn");
  const dataset = makeDataset(makeTask({ op: "add", p: config.p }), config.frac, config.seed);
  const observer = (intervention: ConfigOverrides["intervention"]) => {
    const o = interventionObserver();
    o.setup?.({ config: makeConfig({ preset: "test", intervention }), layout, dataset });
    return o;
  };
  const gradCtx = (grad: Float32Array, step: number) => gradContext(layout, grad, step);

  it("scale-attention-lr multiplies the attention displacement of a real AdamW step by its factor", () => {
    const rng = new Rng(21);
    const theta = initTheta(layout, rng.fork("init"));
    const grad = rng.fillNormal(new Float32Array(layout.size), 0.01);
    const state = newAdamWState(layout.size);
    state.step = 30; // past the window
    rng.fillNormal(state.m, 1e-3);
    state.v.set(state.m.map((x) => x * x * 2));
    for (const s of [0.01, 10]) {
      const natural = theta.slice();
      adamwStep(natural, grad.slice(), { ...state, m: state.m.slice(), v: state.v.slice() }, config);
      const scaled = theta.slice();
      const hooks = observer({ mode: "scale-attention-lr", lrScale: s }).hooks;
      adamwStep(
        scaled,
        grad.slice(),
        { ...state, m: state.m.slice(), v: state.v.slice() },
        config,
        layout,
        hooks,
      );
      const dn = natural.map((x, i) => x - theta[i]).subarray(attn.start, attn.end);
      const ds = scaled.map((x, i) => x - theta[i]).subarray(attn.start, attn.end);
      assert.ok(
        maxRelErr(
          ds,
          dn.map((x) => s * x),
        ) < 1e-3,
        `×${s}: ${maxRelErr(
          ds,
          dn.map((x) => s * x),
        )}`,
      );
      assert.deepEqual(scaled.subarray(0, attn.start), natural.subarray(0, attn.start));
      assert.deepEqual(scaled.subarray(attn.end), natural.subarray(attn.end));
    }
  });

  it("keep-random-norm-matched keeps keep-random's direction at the clipped attention gradient's norm", () => {
    const rng = new Rng(8);
    const matched = observer({ mode: "keep-random-norm-matched" });
    const plain = observer({ mode: "keep-random" });
    for (let step = 1; step <= W + 3; step++) {
      const g = rng.fillNormal(new Float32Array(layout.size));
      const gm = g.slice();
      const gp = g.slice();
      matched.hooks?.onGrad?.(gradCtx(gm, step));
      plain.hooks?.onGrad?.(gradCtx(gp, step));
      const a = g.subarray(attn.start, attn.end);
      const am = gm.subarray(attn.start, attn.end);
      const ap = gp.subarray(attn.start, attn.end);
      assert.deepEqual(gm.subarray(attn.end), g.subarray(attn.end));
      if (step <= W) {
        assert.deepEqual(am, a);
        continue;
      }
      assert.ok(Math.abs(norm(am) / norm(a) - 1) < 1e-6, `norm ratio ${norm(am) / norm(a)}`);
      assert.ok(norm(ap) < 0.1 * norm(a), "keep-random keeps a small part");
      const f = norm(am) / norm(ap);
      assert.ok(
        maxRelErr(
          am,
          ap.map((x) => x * f),
        ) < 1e-5,
        "not keep-random's direction",
      );
    }
  });

  it("GrokfastFilter equals a hand-computed EMA: ema₁ = g₁, emaₜ = α·emaₜ₋₁ + (1 − α)·gₜ, g ← g + λ·ema", () => {
    const f = new GrokfastFilter(2, 0.5, 2);
    const gs = [
      [1, -2],
      [3, 0],
      [-1, 4],
    ];
    // ema: [1, -2] → [2, -1] → [0.5, 1.5]; out = g + 2·ema.
    const want = [
      [3, -6],
      [7, -2],
      [0, 7],
    ];
    gs.forEach((g, t) => {
      const x = Float32Array.from(g);
      f.apply(x);
      assert.deepEqual(Array.from(x), want[t], `step ${t + 1}`);
    });
  });

  it("grokfast filters every group; grokfast-attention only attention; both from step 1", () => {
    const rng = new Rng(4);
    const all = observer({ mode: "grokfast" });
    const att = observer({ mode: "grokfast-attention" });
    const g = rng.fillNormal(new Float32Array(layout.size));
    const ga = g.slice();
    const gb = g.slice();
    all.hooks?.onGrad?.(gradCtx(ga, 1));
    att.hooks?.onGrad?.(gradCtx(gb, 1));
    // First step: ema = g, so g ← (1 + λ)·g.
    assert.deepEqual(
      ga,
      g.map((x) => x + 2 * x),
    );
    assert.deepEqual(
      gb.subarray(attn.start, attn.end),
      g.subarray(attn.start, attn.end).map((x) => x + 2 * x),
    );
    assert.deepEqual(gb.subarray(attn.end), g.subarray(attn.end));
    assert.deepEqual(gb.subarray(0, attn.start), g.subarray(0, attn.start));
  });

  it("patternDeviation is 0 when every query is zero (uniform attention) and ½ at most", () => {
    const theta = initTheta(layout, new Rng(1).fork("init"));
    const a = Int32Array.from({ length: 50 }, (_, i) => i % config.p);
    const b = Int32Array.from({ length: 50 }, (_, i) => (3 * i) % config.p);
    const before = tf.memory().numTensors;
    const dev = patternDeviation(layout, theta, a, b);
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    assert.ok(
      dev.every((x) => x > 0 && x <= 0.5),
      `${dev}`,
    );
    for (const s of layout.specs)
      if (/attn\.(wq|bq)$/.test(s.name)) theta.fill(0, s.offset, s.offset + s.size);
    assert.deepEqual(
      patternDeviation(layout, theta, a, b),
      dev.map(() => 0),
    );
    const attn0 = theta.slice(attn.start, attn.end);
    const moved = theta.slice();
    for (let i = attn.start; i < attn.end; i++) moved[i] *= 1.5;
    assert.ok(Math.abs(attentionDisplacement(moved, attn0, attn) - 0.5) < 1e-6);
  });
});

describe("attention control config", () => {
  it("names runs by mode and lr scale; Grokfast's defaults are filled in and not named", () => {
    const id = (o: ConfigOverrides["intervention"]) => runId(makeConfig({ seed: 42, intervention: o }));
    assert.equal(id({ mode: "freeze-attention" }), "add_p97_paper_seed42_freeze-attention");
    assert.equal(
      id({ mode: "scale-attention-lr", lrScale: 0.1 }),
      "add_p97_paper_seed42_scale-attention-lr-x0.1",
    );
    assert.equal(id({ mode: "grokfast" }), "add_p97_paper_seed42_grokfast");
    assert.match(id({ mode: "grokfast", grokfastLambda: 5 }), /^add_p97_paper_seed42_grokfast_[0-9a-f]{8}$/);
    const c = makeConfig({ intervention: { mode: "grokfast-attention" } });
    assert.equal(c.intervention?.grokfastAlpha, 0.98);
    assert.equal(c.intervention?.grokfastLambda, 2);
  });

  it("rejects settings that do not fit the mode, with errors naming them", () => {
    assert.throws(
      () => makeConfig({ intervention: { mode: "scale-attention-lr" } }),
      /lrScale must be a positive number for mode scale-attention-lr/,
    );
    assert.throws(
      () => makeConfig({ intervention: { mode: "keep-random", lrScale: 2 } }),
      /lrScale applies only to mode scale-attention-lr/,
    );
    assert.throws(
      () => makeConfig({ intervention: { mode: "grokfast", grokfastAlpha: 1 } }),
      /grokfastAlpha must be in \[0, 1\)/,
    );
    assert.throws(
      () => makeConfig({ intervention: { mode: "freeze-attention", projection: "update" } }),
      /projection "update" applies to the projection modes/,
    );
  });
});
