// `npm run bench [-- --json] [-- --steps N]`: speed of the paper-preset training step and of a full eval,
// each next to the wasm matmul rate measured in the same process (machines differ and are shared: compare
// ratios, not absolute times).
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend";
import { makeConfig } from "../src/config";
import {
  disposeEngineBatch,
  disposeWeights,
  type EngineBatch,
  engineBatch,
  engineEmbed,
  engineForward,
  engineLossAndGrad,
  engineWeights,
} from "../src/engine";
import { batchTensors, disposeBatch, lossAndGrad } from "../src/model";
import { adamwStep, newAdamWState } from "../src/optim";
import { initTheta, makeLayout } from "../src/params";
import { Rng } from "../src/rng";
import { allPairs, makeTask } from "../src/tasks";

/** FLOPs of one paper-preset step as naively written (forward + backward, all positions). */
const NAIVE_STEP_GFLOP = 1.65;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(f: () => void, reps: number, warmup = 3): number {
  for (let i = 0; i < warmup; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** GFLOP/s of a plain 512³ matmul (the ceiling every other number is compared with). */
export function matmulGflops(): number {
  const a = tf.randomNormal([512, 512]);
  const b = tf.randomNormal([512, 512]);
  const ms = time(() => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  }, 15);
  tf.dispose([a, b]);
  return (2 * 512 ** 3) / ms / 1e6;
}

async function main() {
  const { values } = parseArgs({ options: { json: { type: "boolean" }, steps: { type: "string" } } });
  const backend = await initBackend();
  const cfg = makeConfig({ preset: "paper" });
  const layout = makeLayout({ p: cfg.p, d: cfg.d, nHeads: cfg.nHeads, dff: cfg.dff, layers: cfg.layers });
  const rng = new Rng(1);
  const theta = initTheta(layout, rng.fork("init"));
  const grad = new Float32Array(layout.size);
  const opt = newAdamWState(layout.size);
  const task = makeTask({ op: "add", p: cfg.p });
  const B = cfg.batch;
  const a = new Int32Array(B);
  const b = new Int32Array(B);
  const y = new Int32Array(B);
  const sample = () => {
    for (let i = 0; i < B; i++) {
      a[i] = rng.int(cfg.p);
      b[i] = rng.int(cfg.p);
      y[i] = task.label(a[i], b[i]);
    }
  };
  // The training step as the trainer runs it (fast engine) and, for comparison, the readable reference model
  // (tfjs autodiff with no-transpose matmul gradients).
  const step = () => {
    sample();
    const eb = engineBatch(a, b, y, cfg.p);
    engineLossAndGrad(layout, theta, eb, grad);
    disposeEngineBatch(eb);
    adamwStep(theta, grad, opt, cfg, layout);
  };
  const referenceStep = () => {
    sample();
    const bt = batchTensors(a, b, y, cfg.p);
    lossAndGrad(layout, theta, bt, grad);
    disposeBatch(bt);
    adamwStep(theta, grad, opt, cfg, layout);
  };

  const gflops = matmulGflops();
  const steps = Number(values.steps ?? 40);
  const stepMs = time(step, steps, 5);
  const referenceMs = time(referenceStep, Math.max(5, Math.floor(steps / 4)), 2);

  // Eval: forward only over all p² pairs, in the chunks the trainer uses.
  const pairs = allPairs(task);
  const chunks: EngineBatch[] = [];
  for (let s = 0; s < pairs.a.length; s += 2048) {
    const e = Math.min(s + 2048, pairs.a.length);
    chunks.push(
      engineBatch(pairs.a.slice(s, e), pairs.b.slice(s, e), pairs.y.slice(s, e), cfg.p, {
        withGradInputs: false,
      }),
    );
  }
  const evalMs = time(
    () => {
      const w = engineWeights(layout, theta);
      for (const c of chunks)
        tf.tidy(() => tf.argMax(engineForward(w, layout, engineEmbed(w, c)), 1).dataSync());
      disposeWeights(w);
    },
    5,
    1,
  );
  for (const c of chunks) disposeEngineBatch(c);

  const idealMs = NAIVE_STEP_GFLOP / gflops / 1e-3;
  const lines = [
    `backend:            ${backend.description}`,
    `matmul 512³:        ${gflops.toFixed(1)} GFLOP/s (this process)`,
    `paper-preset step:  ${stepMs.toFixed(1)} ms (median of ${steps}; batch ${B}, p ${cfg.p}, d ${cfg.d}, ${cfg.layers} layers)`,
    `  effective rate:   ${(NAIVE_STEP_GFLOP / (stepMs / 1000)).toFixed(1)} GFLOP/s of the naive ${NAIVE_STEP_GFLOP} GFLOP step`,
    `  vs matmul bound:  ${(stepMs / idealMs).toFixed(2)} × (${NAIVE_STEP_GFLOP} GFLOP at the matmul rate = ${idealMs.toFixed(1)} ms)`,
    `  reference model:  ${referenceMs.toFixed(1)} ms (tfjs autodiff of src/model.ts) = ${(referenceMs / stepMs).toFixed(2)} × the engine`,
    `eval ${pairs.a.length} pairs:   ${evalMs.toFixed(1)} ms = ${(evalMs / stepMs).toFixed(2)} × stepMs`,
  ];
  console.log(lines.join("\n"));
  if (values.json) {
    console.log(JSON.stringify({ stepMs, matmulGflops: gflops, evalMs, backend: backend.name }));
  }
}

await main();
