// The model is the paper's model: our TF.js implementation against PyTorch's nn.TransformerEncoder
// (norm_first, GELU) on weights, logits, loss, every gradient, input-embedding gradients and AdamW+clip steps.
// Fixture: test/fixtures/golden.json, made by test/fixtures/gen_golden.py (float64 PyTorch).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import {
  disposeEngineBatch,
  disposeWeights,
  engineBatch,
  engineEmbed,
  engineForward,
  engineLossAndGrad,
  engineWeights,
} from "../src/model/engine";
import {
  batchTensors,
  crossEntropy,
  disposeBatch,
  embed,
  forward,
  forwardFromEmbed,
  lossAndGrad,
  paramTensors,
} from "../src/model/model";
import { type Layout, makeLayout } from "../src/model/params";
import { initBackend } from "../src/runs/backend";
import { adamwStep, newAdamWState } from "../src/train/optim";
import { assertAllClose, maxAbs, maxRelErr } from "./helpers";

/**
 * Elementwise |ours − fixture| ≤ atol + rtol·|fixture|, so that no entry hides behind the tensor's largest one as
 * under maxRelErr. Measured (float32 rounding against float64): worst |a − b| / max|b| is 2.6e-7 for logits and
 * centroids, 8.9e-7 for gradients; so atol = 1e-6·max|b| (outputs) and 2e-6·max|b| (gradients), rtol = 1e-5: the
 * worst entry uses 10% and 28% of its tolerance.
 */
const OUT = { rtol: 1e-5, atol: 1e-6 };
const GRAD = { rtol: 1e-5, atol: 2e-6 };
const close = (ours: ArrayLike<number>, ref: ArrayLike<number>, tol: typeof OUT, label: string) =>
  assertAllClose(ours, ref, { rtol: tol.rtol, atol: tol.atol * maxAbs(ref) }, label);
/**
 * Parameters after AdamW steps: Adam's normalised update makes the error absolute and proportional to lr (worst
 * 8.1e-6 at lr 0.05, i.e. 1.6e-4·lr; at lr 0.001 float32's rounding of θ, 1 ulp ≈ 2.4e-7 at |θ| ≈ 2, dominates):
 * atol = 4e-4·lr, rtol = 1e-6 (8 ulps): the worst entry uses 40% of its tolerance.
 */
const adamTol = (lr: number) => ({ rtol: 1e-6, atol: 4e-4 * lr });

type Nested = number | Nested[];
interface Batch {
  a: number[];
  b: number[];
  y: number[];
}
interface Step {
  batch: Batch;
  loss: number;
  gradNormBeforeClip: number;
  params: Record<string, Nested>;
}
const G = JSON.parse(readFileSync(new URL("./fixtures/golden.json", import.meta.url), "utf8")) as {
  config: {
    p: number;
    d: number;
    nhead: number;
    dff: number;
    L: number;
    lr: number;
    betas: number[];
    eps: number;
    weight_decay: number;
    clip: number;
    highLr: number;
    highLrWeightDecay: number;
  };
  params: Record<string, Nested>;
  batch: Batch;
  logits: Nested;
  loss: number;
  grads: Record<string, Nested>;
  inputEmbedGrad: Nested;
  inputEmbedGradFull: Nested;
  steps: Step[];
  stepsHighLr: Step[];
};

const flat = (x: Nested): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x]);
/** [rows, cols] row-major → its transpose, row-major. */
function transpose(x: number[], rows: number, cols: number): number[] {
  const out = new Array<number>(x.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

/** Our parameter name → its values taken from a PyTorch state dict (PyTorch Linear stores [out, in]). */
function fromTorch(layout: Layout, sd: Record<string, Nested>): Float32Array {
  const { d, dff, p, layers } = layout.sizes;
  const theta = new Float32Array(layout.size);
  const set = (name: string, v: number[]) => {
    const s = layout.byName.get(name);
    assert.ok(s, name);
    assert.equal(v.length, s.size, name);
    theta.set(v, s.offset);
  };
  set("embed.tok", flat(sd["tok_emb.weight"]));
  set("embed.pos", flat(sd.pos_emb));
  for (let i = 0; i < layers; i++) {
    const t = `encoder.layers.${i}.`;
    const inW = flat(sd[`${t}self_attn.in_proj_weight`]);
    const inB = flat(sd[`${t}self_attn.in_proj_bias`]);
    ["q", "k", "v"].forEach((m, j) => {
      set(`layers.${i}.attn.w${m}`, transpose(inW.slice(j * d * d, (j + 1) * d * d), d, d));
      set(`layers.${i}.attn.b${m}`, inB.slice(j * d, (j + 1) * d));
    });
    set(`layers.${i}.attn.wo`, transpose(flat(sd[`${t}self_attn.out_proj.weight`]), d, d));
    set(`layers.${i}.attn.bo`, flat(sd[`${t}self_attn.out_proj.bias`]));
    set(`layers.${i}.mlp.w1`, transpose(flat(sd[`${t}linear1.weight`]), dff, d));
    set(`layers.${i}.mlp.b1`, flat(sd[`${t}linear1.bias`]));
    set(`layers.${i}.mlp.w2`, transpose(flat(sd[`${t}linear2.weight`]), d, dff));
    set(`layers.${i}.mlp.b2`, flat(sd[`${t}linear2.bias`]));
    for (const n of [1, 2]) {
      set(`layers.${i}.ln${n}.g`, flat(sd[`${t}norm${n}.weight`]));
      set(`layers.${i}.ln${n}.b`, flat(sd[`${t}norm${n}.bias`]));
    }
  }
  set("ln_f.g", flat(sd["ln_f.weight"]));
  set("ln_f.b", flat(sd["ln_f.bias"]));
  set("head.w", transpose(flat(sd["head.weight"]), p, d));
  set("head.b", flat(sd["head.bias"]));
  return theta;
}

const toBatch = (b: Batch, p: number) =>
  batchTensors(Int32Array.from(b.a), Int32Array.from(b.b), Int32Array.from(b.y), p);

/** Loss-and-gradient of both implementations: the readable reference (tf autodiff) and the fast engine. */
const IMPLEMENTATIONS = {
  reference: (layout: Layout, theta: Float32Array, b: Batch, out: Float32Array) => {
    const bt = toBatch(b, layout.sizes.p);
    try {
      return lossAndGrad(layout, theta, bt, out);
    } finally {
      disposeBatch(bt);
    }
  },
  engine: (layout: Layout, theta: Float32Array, b: Batch, out: Float32Array) => {
    const eb = engineBatch(Int32Array.from(b.a), Int32Array.from(b.b), Int32Array.from(b.y), layout.sizes.p);
    try {
      return engineLossAndGrad(layout, theta, eb, out);
    } finally {
      disposeEngineBatch(eb);
    }
  },
};

describe("golden: our model equals PyTorch's", () => {
  const c = G.config;
  const layout = makeLayout({ p: c.p, d: c.d, nHeads: c.nhead, dff: c.dff, layers: c.L });
  const theta0 = fromTorch(layout, G.params);
  before(async () => {
    await initBackend();
  });

  test("logits and loss", () => {
    const bt = toBatch(G.batch, c.p);
    const [logits, loss] = tf.tidy(() => {
      const P = paramTensors(layout, theta0);
      const z = forward(P, layout, bt);
      return [z.dataSync(), crossEntropy(z, bt.yOneHot).dataSync()[0]];
    });
    disposeBatch(bt);
    assert.ok(
      maxRelErr(logits, flat(G.logits)) < 1e-5,
      `logits rel err ${maxRelErr(logits, flat(G.logits))}`,
    );
    assert.ok(Math.abs(loss - G.loss) < 1e-5, `loss ${loss} vs ${G.loss}`);
    close(logits, flat(G.logits), OUT, "logits");
  });

  test("input-embedding gradients (centroids: correct-class logit and all logits)", () => {
    const bt = toBatch(G.batch, c.p);
    const [logitC, fullC] = tf.tidy(() => {
      const P = paramTensors(layout, theta0);
      const [e0, e1] = embed(P, bt);
      const g = (pick: (z: tf.Tensor2D) => tf.Scalar) =>
        tf.grads((x0: tf.Tensor, x1: tf.Tensor) => pick(forwardFromEmbed(P, layout, [x0, x1])))([e0, e1]);
      const gl = g((z) => tf.sum(tf.mul(z, bt.yOneHot)));
      const gf = g((z) => tf.sum(z));
      // [B, 2, d] as in PyTorch.
      return [tf.stack(gl, 1).dataSync(), tf.stack(gf, 1).dataSync()];
    });
    disposeBatch(bt);
    assert.ok(
      maxRelErr(logitC, flat(G.inputEmbedGrad)) < 2e-4,
      `logit centroid ${maxRelErr(logitC, flat(G.inputEmbedGrad))}`,
    );
    assert.ok(
      maxRelErr(fullC, flat(G.inputEmbedGradFull)) < 2e-4,
      `full centroid ${maxRelErr(fullC, flat(G.inputEmbedGradFull))}`,
    );
    close(logitC, flat(G.inputEmbedGrad), OUT, "logit centroid");
    close(fullC, flat(G.inputEmbedGradFull), OUT, "full centroid");
  });

  test("engine logits", () => {
    const eb = engineBatch(
      Int32Array.from(G.batch.a),
      Int32Array.from(G.batch.b),
      Int32Array.from(G.batch.y),
      c.p,
    );
    const w = engineWeights(layout, theta0);
    const logits = tf.tidy(() => engineForward(w, layout, engineEmbed(w, eb)).dataSync());
    disposeWeights(w);
    disposeEngineBatch(eb);
    assert.ok(
      maxRelErr(logits, flat(G.logits)) < 1e-5,
      `logits rel err ${maxRelErr(logits, flat(G.logits))}`,
    );
    close(logits, flat(G.logits), OUT, "engine logits");
  });

  for (const [impl, lossAndGradOf] of Object.entries(IMPLEMENTATIONS)) {
    test(`gradient of every parameter (${impl})`, () => {
      const grad = new Float32Array(layout.size);
      const loss = lossAndGradOf(layout, theta0, G.batch, grad);
      assert.ok(Math.abs(loss - G.loss) < 1e-5);
      const ref = fromTorch(layout, G.grads);
      for (const s of layout.specs) {
        const ours = grad.subarray(s.offset, s.offset + s.size);
        const theirs = Array.from(ref.subarray(s.offset, s.offset + s.size));
        const e = maxRelErr(ours, theirs);
        assert.ok(e < 2e-4, `${s.name}: rel err ${e}`);
        if (!s.name.endsWith(".attn.bk")) close(ours, theirs, GRAD, s.name);
      }
    });

    for (const [name, steps, lr, wd] of [
      ["AdamW + clipping, 3 steps (paper settings)", G.steps, c.lr, c.weight_decay],
      ["AdamW + clipping, 2 steps at lr 0.05, wd 0.5", G.stepsHighLr, c.highLr, c.highLrWeightDecay],
    ] as const) {
      test(`${name} (${impl})`, () => {
        const theta = theta0.slice();
        const state = newAdamWState(layout.size);
        const grad = new Float32Array(layout.size);
        const cfg = { lr, beta1: c.betas[0], beta2: c.betas[1], eps: c.eps, weightDecay: wd, clip: c.clip };
        for (const [k, st] of steps.entries()) {
          const loss = lossAndGradOf(layout, theta, st.batch, grad);
          assert.ok(Math.abs(loss - st.loss) < 1e-5, `step ${k} loss ${loss} vs ${st.loss}`);
          const norm = adamwStep(theta, grad, state, cfg);
          assert.ok(Math.abs(norm - st.gradNormBeforeClip) < 1e-4 * st.gradNormBeforeClip, `step ${k} norm`);
          const ref = fromTorch(layout, st.params);
          for (const s of layout.specs) {
            const ours = theta.subarray(s.offset, s.offset + s.size);
            const theirs = Array.from(ref.subarray(s.offset, s.offset + s.size));
            if (s.name.endsWith(".attn.bk")) {
              // The key bias has an exactly zero gradient (softmax is shift-invariant), so Adam's normalised
              // update of it amplifies float rounding noise (1e-9 in float32, 1e-18 in float64): it moves by
              // less than one lr per step in both, which is all that can be compared.
              const absErr = Math.max(...theirs.map((r, i) => Math.abs(ours[i] - r)));
              assert.ok(absErr <= lr * (k + 1), `step ${k} ${s.name}: abs err ${absErr}`);
              continue;
            }
            const e = maxRelErr(ours, theirs);
            assert.ok(e < 1e-4, `step ${k} ${s.name}: rel err ${e}`);
            assertAllClose(ours, theirs, adamTol(lr), `step ${k} ${s.name}`);
          }
        }
      });
    }
  }
});
