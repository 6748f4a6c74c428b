// `npm run bench [-- --json] [-- --steps N]`: speed of the paper-preset training step and of a full eval,
// each next to the wasm matmul rate measured in the same process (machines differ and are shared: compare
// ratios, not absolute times).
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { makeConfig, SED_DEFAULTS } from "../src/config/config";
import { makeDataset, makeTask, samplePairs } from "../src/data/tasks";
import { projectOnGaussian, projectOnWindow } from "../src/intervention/projection";
import { disposeEngineBatch, engineBatch, engineLossAndGrad, levers } from "../src/model/engine";
import { batchTensors, disposeBatch, lossAndGrad } from "../src/model/model";
import { groupRange, initTheta, makeLayout } from "../src/model/params";
import { initBackend } from "../src/runs/backend";
import { activeBlas, blasLoaded, blasState, setBlasActive } from "../src/runs/blas";
import { disposeProbes, makeProbes } from "../src/sed/centroids";
import { coupling } from "../src/sed/coupling";
import { RowWindow } from "../src/sed/rollingSvd";
import { optimBuffers } from "../src/train/adamwKernel";
import { makeEvaluator } from "../src/train/evaluate";
import { adamwStep, newAdamWState } from "../src/train/optim";
import { normalBuffer } from "../src/util/frameBuffer";
import { Rng } from "../src/util/rng";

/** FLOPs of one paper-preset step as naively written (forward + backward, all positions). */
const NAIVE_STEP_GFLOP = 1.65;

/** `f` with wasm's own matmul kernel (BLAS switched off around it); `f` itself when no BLAS is loaded. */
function onWasm(f: () => void): () => void {
  return () => onWasmValue(f);
}

/**
 * Where `steps` calls of `step` spend their time: inside BatchMatMul (whichever kernel is registered), in
 * `adam`, and the rest (elementwise kernels, op dispatch, uploads). Wraps the registered kernel while it runs.
 */
function split(step: (adam: () => void) => void, adam: () => void, steps: number): Record<string, number> {
  const k = tf.getKernel("BatchMatMul", "wasm");
  if (!k) return {};
  let matmul = 0;
  let adamMs = 0;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    ...k,
    kernelFunc: (args) => {
      const t0 = performance.now();
      const out = k.kernelFunc(args);
      matmul += performance.now() - t0;
      return out;
    },
  });
  const timedAdam = () => {
    const t0 = performance.now();
    adam();
    adamMs += performance.now() - t0;
  };
  try {
    for (let i = 0; i < 3; i++) step(timedAdam);
    matmul = 0;
    adamMs = 0;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step(timedAdam);
    const total = performance.now() - t0;
    return {
      totalMs: total / steps,
      matmulMs: matmul / steps,
      adamwMs: adamMs / steps,
      restMs: (total - matmul - adamMs) / steps,
    };
  } finally {
    tf.unregisterKernel("BatchMatMul", "wasm");
    tf.registerKernel(k);
  }
}

function withLever(name: keyof typeof levers, f: () => void): () => void {
  return () => {
    levers[name] = false;
    try {
      f();
    } finally {
      levers[name] = true;
    }
  };
}

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

/**
 * Median times of `f` on the active path and on wasm's matmul, alternating one call of each per round (after one
 * warm-up each), so that load from elsewhere hits both alike; the same time twice when no BLAS is loaded.
 */
function bothPaths(f: () => void, rounds: number): [number, number] {
  if (!blasLoaded()) {
    const t = time(f, rounds, 1);
    return [t, t];
  }
  const g = onWasm(f);
  f();
  g();
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(time(f, 1, 0));
    b.push(time(g, 1, 0));
  }
  return [median(a), median(b)];
}

/** `f()` computed with wasm's own matmul kernel. */
function onWasmValue<T>(f: () => T): T {
  const was = setBlasActive(false);
  try {
    return f();
  } finally {
    setBlasActive(was);
  }
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
  const { values } = parseArgs({
    options: { json: { type: "boolean" }, steps: { type: "string" }, measurements: { type: "string" } },
  });
  const backend = await initBackend();
  const cfg = makeConfig({ preset: "paper" });
  const layout = makeLayout({ p: cfg.p, d: cfg.d, nHeads: cfg.nHeads, dff: cfg.dff, layers: cfg.layers });
  const rng = new Rng(1);
  // The loop's buffers (train/adamwKernel.ts): AdamW then runs as its SIMD kernel, as in training.
  const buffers = optimBuffers(layout.size);
  const theta = buffers.theta;
  theta.set(initTheta(layout, rng.fork("init")));
  const grad = buffers.grad;
  const opt = { ...newAdamWState(0), m: buffers.m, v: buffers.v };
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
  const adam = () => adamwStep(theta, grad, opt, cfg, layout);
  const stepWith = (opt: () => void) => {
    sample();
    const eb = engineBatch(a, b, y, cfg.p);
    engineLossAndGrad(layout, theta, eb, grad);
    disposeEngineBatch(eb);
    opt();
  };
  const step = () => stepWith(adam);
  const referenceStep = () => {
    sample();
    const bt = batchTensors(a, b, y, cfg.p);
    lossAndGrad(layout, theta, bt, grad);
    disposeBatch(bt);
    adamwStep(theta, grad, opt, cfg, layout);
  };

  // The matmul rates of both paths in this process: wasm's kernel (the engine's old ceiling) and BLAS.
  const blas = blasLoaded();
  const gflops = onWasmValue(matmulGflops);
  const blasGflops = blas ? matmulGflops() : null;
  const steps = Number(values.steps ?? 40);
  // Each lever alone: the engine with one lever switched off, measured interleaved with the full engine
  // (rounds of a few steps each) so that load from elsewhere hits every variant alike.
  const variants: [string, () => void][] = [
    ["engine, all levers", step],
    ...(blas ? ([["  on wasm's matmul (BLAS off)", onWasm(step)]] as [string, () => void][]) : []),
    ["  without last-layer position-0", withLever("lastLayerPos0", step)],
    ["  without first-layer table", withLever("firstLayerTable", step)],
    ["  without fused kernels", withLever("fusedKernels", step)],
    [
      "  without any of the three",
      withLever("lastLayerPos0", withLever("firstLayerTable", withLever("fusedKernels", step))),
    ],
    ["reference model (tfjs autodiff)", referenceStep],
  ];
  const sed = SED_DEFAULTS;
  const P = groupRange(layout, "attn").end - groupRange(layout, "attn").start;
  const unit = () => {
    const v = rng.fillNormal(new Float32Array(P));
    const n = Math.sqrt(v.reduce((x, t) => x + t * t, 0));
    return v.map((t) => t / n);
  };
  // Interventions (notebook 04): the per-step hook once its buffer is full — keep-SED (project through the
  // window's Gram matrix, push the applied row) and keep-random (draw a Gaussian 3-frame into the polar kernel's
  // memory, as the observer does, and project). Timed in the same rounds as the step, so that load from
  // elsewhere hits both alike and their ratio (the hook's share) holds still.
  const ivWin = new RowWindow(20, P);
  for (let i = 0; i < 20; i++) ivWin.push(unit());
  const g0 = unit();
  const frame = normalBuffer(3 * P, P);
  const hooks: [string, () => void][] = [
    [
      "keep-SED",
      () => {
        const row = g0.slice();
        ivWin.push(row, projectOnWindow(ivWin, 3, row, "keep").applied);
      },
    ],
    ["keep-random", () => projectOnGaussian(rng.fillNormalPolar(frame), 3, g0.slice(), "keep")],
  ];
  const hookSamples = hooks.map(() => [] as number[]);
  for (const [, f] of hooks) time(f, 1, 3);
  const samples = variants.map(() => [] as number[]);
  for (const [, f] of variants) time(f, 1, 3);
  const rounds = Math.max(4, Math.ceil(steps / 5));
  for (let r = 0; r < rounds; r++) {
    variants.forEach(([, f], i) => {
      samples[i].push(time(f, r === 0 ? 3 : 5, 0));
    });
    hooks.forEach(([, f], i) => {
      hookSamples[i].push(time(f, 9, 0));
    });
  }
  const [sedProjMs, randomProjMs] = hookSamples.map(median);
  const leverMs = samples.map(median);
  const stepMs = leverMs[0];
  const referenceMs = leverMs[leverMs.length - 1];

  // Eval: the trainer's own evaluator (both splits, all p² pairs: each head's accuracy and loss). Both paths
  // alternate in the same rounds, so that their ratio is measured under one load.
  const evaluator = makeEvaluator(makeDataset(task, cfg.frac, cfg.seed), layout, cfg.p, ["add"], false);
  const pairCount = cfg.p * cfg.p;
  const [evalMs, evalMsWasm] = bothPaths(() => {
    evaluator.metricsAt(0, theta);
  }, 5);
  evaluator.dispose();

  // Diagnostics (paper defaults): one coupling measurement = 1024 probes at θ ± εv for 3 + 3 SED directions
  // and 20 random ones (52 centroid passes); per checkpoint one gradient row plus two window pushes and,
  // per measurement, two top-3 SVDs of 20 rows.
  const probes = makeProbes(samplePairs(task, sed.probes, rng.fork("probes")), cfg.p);
  const bases = { update: [unit(), unit(), unit()], gradient: [unit(), unit(), unit()] };
  const randoms = Array.from({ length: sed.randomDirs }, unit);
  const measureOnce = () => {
    coupling(layout, theta, probes, bases, randoms, { kind: "logit", epsRel: sed.epsRel });
  };
  const [measurementMs, measurementMsWasm] = bothPaths(measureOnce, Number(values.measurements ?? 3));
  disposeProbes(probes);
  const gb = engineBatch(a, b, y, cfg.p);
  const gradRowMs = time(() => engineLossAndGrad(layout, theta, gb, grad), 10, 2);
  disposeEngineBatch(gb);
  const win = new RowWindow(sed.window, P);
  // rows drawn beforehand: the trainer pushes rows it already has (timing unit() here would count its draw)
  const pushRows = Array.from({ length: sed.window }, unit);
  let pushed = 0;
  const pushMs = time(() => win.push(pushRows[pushed++ % pushRows.length]), sed.window, 0);
  const svdMs = time(() => win.svd(sed.k), 3, 1);
  const projectionShare = Math.max(sedProjMs, randomProjMs) / stepMs;
  const evalsPerMeasurement = sed.measureEvery / cfg.checkpointEvery;
  const trainBlock = sed.measureEvery * stepMs + evalsPerMeasurement * evalMs;
  const diagBlock = evalsPerMeasurement * (gradRowMs + 2 * pushMs) + measurementMs + 2 * svdMs;
  const diagnosticsShare = diagBlock / (trainBlock + diagBlock);
  const measurementTarget = 3000 * (40 / gflops);
  const stepMsWasm = blas ? leverMs[1] : stepMs;
  const splitBlas = blas ? split(stepWith, adam, 10) : null;
  const splitWasm = onWasmValue(() => split(stepWith, adam, 10));
  const splitLine = (name: string, sp: Record<string, number> | null) =>
    sp
      ? `  ${name.padEnd(16)} ${sp.totalMs.toFixed(1)} ms = matmul ${sp.matmulMs.toFixed(1)} + AdamW ${sp.adamwMs.toFixed(1)} + rest (elementwise, dispatch, uploads) ${sp.restMs.toFixed(1)}`
      : null;
  const blasInfo = blasState();

  // The bound of the path that runs: BLAS' rate when its kernel is registered, else wasm's.
  const boundRate = blasGflops !== null && activeBlas() ? blasGflops : gflops;
  const idealMs = NAIVE_STEP_GFLOP / boundRate / 1e-3;
  const lines = [
    `backend:            ${backend.description}`,
    `OPENBLAS_CORETYPE:  ${process.env.OPENBLAS_CORETYPE ?? "(unset)"}`,
    `matmul 512³:        ${gflops.toFixed(1)} GFLOP/s on wasm's kernel (this process)${blasGflops ? `, ${blasGflops.toFixed(1)} GFLOP/s on ${activeBlas() ?? "BLAS"}` : ""}`,
    `paper-preset step:  ${stepMs.toFixed(1)} ms (median of ${steps}; batch ${B}, p ${cfg.p}, d ${cfg.d}, ${cfg.layers} layers)`,
    `  effective rate:   ${(NAIVE_STEP_GFLOP / (stepMs / 1000)).toFixed(1)} GFLOP/s of the naive ${NAIVE_STEP_GFLOP} GFLOP step`,
    `  vs matmul bound:  ${(stepMs / idealMs).toFixed(2)} × (${NAIVE_STEP_GFLOP} GFLOP at the active path's matmul rate = ${idealMs.toFixed(1)} ms)`,
    `  reference model:  ${referenceMs.toFixed(1)} ms (tfjs autodiff of src/model/model.ts) = ${(referenceMs / stepMs).toFixed(2)} × the engine`,
    `eval ${pairCount} pairs:   ${evalMs.toFixed(1)} ms = ${(evalMs / stepMs).toFixed(2)} × stepMs (target ≤ 6)`,
    `coupling measurement: ${measurementMs.toFixed(0)} ms (52 centroid passes × ${sed.probes} probes; target ≤ ${measurementTarget.toFixed(0)} ms = 3 s × 40 GFLOP/s ÷ measured rate)`,
    `  gradient row ${gradRowMs.toFixed(1)} ms, window push ${pushMs.toFixed(1)} ms, top-${sed.k} SVD of ${sed.window} rows ${svdMs.toFixed(1)} ms`,
    `diagnostics share:  ${(100 * diagnosticsShare).toFixed(1)}% of a paper-preset run with diagnostics (target ≤ 25%;`,
    `                    per ${sed.measureEvery} steps: ${(trainBlock / 1000).toFixed(1)} s training + evals, ${(diagBlock / 1000).toFixed(1)} s diagnostics)`,
    `intervention hook:  keep-SED ${sedProjMs.toFixed(1)} ms, keep-random ${randomProjMs.toFixed(1)} ms per step = ${(100 * projectionShare).toFixed(1)}% of stepMs at most (target ≤ 15%)`,
    ...(blas
      ? [
          `BLAS vs wasm:       step ${(stepMs / stepMsWasm).toFixed(2)} × (target ≤ 0.5), eval ${(evalMs / evalMsWasm).toFixed(2)} ×, coupling measurement ${(measurementMs / measurementMsWasm).toFixed(2)} × (targets ≤ 0.5)`,
          `                    wasm path: step ${stepMsWasm.toFixed(1)} ms, eval ${evalMsWasm.toFixed(1)} ms, measurement ${measurementMsWasm.toFixed(0)} ms`,
        ]
      : ["BLAS:               none loaded (wasm's matmul only)"]),
    "step split (10 steps each):",
    ...[splitLine("on BLAS", splitBlas), splitLine("on wasm", splitWasm)].filter(
      (l): l is string => l !== null,
    ),
  ];
  console.log(lines.join("\n"));
  console.log(
    "\nlevers (training step, interleaved medians; gain = time without the lever ÷ with all levers):",
  );
  variants.forEach(([name], i) => {
    console.log(
      `  ${name.padEnd(34)} ${leverMs[i].toFixed(1).padStart(7)} ms  ${(leverMs[i] / stepMs).toFixed(2)}×`,
    );
  });
  if (values.json) {
    console.log(
      JSON.stringify({
        stepMs,
        matmulGflops: gflops,
        evalMs,
        measurementMs,
        diagnosticsShare,
        projectionMs: { keepSed: sedProjMs, keepRandom: randomProjMs },
        projectionShare,
        referenceStepMs: referenceMs,
        backend: backend.name,
        blas:
          blasInfo && "library" in blasInfo
            ? {
                library: blasInfo.library,
                kernel: blasInfo.kernel,
                threads: blasInfo.threads,
                active: blasInfo.active,
              }
            : null,
        blasGflops,
        stepMsWasm,
        evalMsWasm,
        measurementMsWasm,
        split: { blas: splitBlas, wasm: splitWasm },
      }),
    );
  }
}

await main();
