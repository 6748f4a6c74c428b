// The BLAS bridge: every matrix product and transpose the engine runs equals wasm's own kernel within float32
// rounding, the engine step equals on both paths, memory stays flat, and a run resumed on the other path
// finishes with both segments named. Without a BLAS library the tests skip outside CI; under CI (setup.sh
// installs Debian's libopenblas0) its absence fails.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { makeConfig } from "../src/config/config";
import { makeTask, samplePairs } from "../src/data/tasks";
import { disposeEngineBatch, engineBatch, engineLossAndGrad } from "../src/model/engine";
import type { WasmBackend } from "../src/model/fusedKernels";
import { initTheta, makeLayout } from "../src/model/params";
import { initBackend } from "../src/runs/backend";
import {
  activeBlas,
  blasCandidates,
  blasLoaded,
  blasState,
  blasThreads,
  MIN_BLAS_MACS,
  setBlasActive,
} from "../src/runs/blas";
import { trainRun } from "../src/runs/trainRun";
import { TrainingInterrupted } from "../src/train/train";
import { Rng } from "../src/util/rng";
import { assertAllClose, inCI } from "./helpers";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-blas-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Skip (outside CI) when no BLAS was loaded; under CI that is a failure. */
function needBlas(t: { skip(msg: string): void }): boolean {
  if (blasLoaded()) return true;
  const why = blasState()?.description ?? "the bridge did not run";
  if (inCI()) assert.fail(`no BLAS under CI (setup.sh installs libopenblas0): ${why}`);
  t.skip(`SKIPPED, no BLAS: ${why}`);
  return false;
}

/** tf.matMul on both paths. */
function both(
  a: tf.Tensor,
  b: tf.Tensor,
  ta: boolean,
  tb: boolean,
): { blas: Float32Array; wasm: Float32Array } {
  const was = setBlasActive(true);
  const blas = tf.tidy(
    () => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb).dataSync() as Float32Array,
  );
  setBlasActive(false);
  const wasm = tf.tidy(
    () => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb).dataSync() as Float32Array,
  );
  setBlasActive(was);
  return { blas: Float32Array.from(blas), wasm: Float32Array.from(wasm) };
}

describe("BLAS bridge", () => {
  before(async () => {
    await initBackend("wasm");
  });

  it("finds libraries by SEDLAB_BLAS, a conda env, then the system; threads from SEDLAB_THREADS", () => {
    assert.deepEqual(blasCandidates({ SEDLAB_BLAS: "/opt/x/libblas.so" }, "linux"), ["/opt/x/libblas.so"]);
    const conda = blasCandidates({ CONDA_PREFIX: "/c" }, "linux");
    assert.equal(conda[0], "/c/lib/libopenblas.so.0");
    assert.ok(
      conda.includes("libopenblas.so.0") &&
        conda.indexOf("libopenblas.so.0") > conda.indexOf("/c/lib/libmkl_rt.so"),
    );
    assert.ok(blasCandidates({}, "darwin")[0].includes("Accelerate"));
    assert.equal(blasThreads({}), 1);
    assert.equal(blasThreads({ SEDLAB_THREADS: "4" }), 4);
    assert.throws(
      () => blasThreads({ SEDLAB_THREADS: "0" }),
      /SEDLAB_THREADS="0" must be a positive integer/,
    );
  });

  it("says what runs: the library, its kernel and threads, and the measured rates", (t) => {
    if (!needBlas(t)) return;
    const s = blasState();
    assert.ok(s && "library" in s, JSON.stringify(s));
    assert.match(s.description, /\d+ (vs wasm's|vs) \d+ GFLOP\/s/);
    assert.equal(s.threads, 1);
    if (s.active) assert.match(activeBlas() ?? "", /\(.*1 thread\)$/);
  });

  it("every shape and transpose the engine uses equals wasm's kernel within float32 rounding", (t) => {
    if (!needBlas(t)) return;
    const rng = new Rng(3);
    const rand = (r: number, c: number) => tf.tensor2d(rng.fillNormal(new Float32Array(r * c)), [r, c]);
    // [M, K, N]: the paper preset's products (B 512, d 128, 3d 384, MLP 256, p 97; [xᵀ; 1] adds a row) and
    // odd sizes, each with all four transpose combinations.
    const shapes: [number, number, number][] = [
      [1024, 128, 384],
      [512, 128, 128],
      [512, 256, 128],
      [129, 1024, 384],
      [257, 512, 128],
      [512, 128, 97],
      [1024, 99, 128],
      [33, 37, 41],
    ];
    for (const [M, K, N] of shapes) {
      for (const [ta, tb] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        const a = ta ? rand(K, M) : rand(M, K);
        const b = tb ? rand(N, K) : rand(K, N);
        const { blas, wasm } = both(a, b, ta, tb);
        // Sums of K products of N(0,1) values: errors scale with √K·ε·max|x|; relative 1e-5 plus a small floor.
        assertAllClose(
          blas,
          wasm,
          { rtol: 1e-5, atol: 2e-6 * Math.sqrt(K) },
          `${M}×${K}×${N} ta=${ta} tb=${tb}`,
        );
        tf.dispose([a, b]);
      }
    }
  });

  it("batched and broadcast products, and tiny ones (which stay on wasm), agree too", (t) => {
    if (!needBlas(t)) return;
    const rng = new Rng(4);
    const rand = (shape: number[]) =>
      tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((x, y) => x * y, 1))), shape);
    for (const [sa, sb] of [
      [
        [3, 64, 48],
        [3, 48, 40],
      ],
      [
        [1, 64, 48],
        [4, 48, 40],
      ],
      [
        [4, 64, 48],
        [1, 48, 40],
      ],
      [
        [4, 3],
        [3, 5],
      ],
    ]) {
      const a = rand(sa);
      const b = rand(sb);
      const { blas, wasm } = both(a, b, false, false);
      assertAllClose(blas, wasm, { rtol: 1e-5, atol: 1e-5 }, `${sa} × ${sb}`);
      tf.dispose([a, b]);
    }
    assert.ok(4 * 3 * 5 < MIN_BLAS_MACS, "the tiny case is below the threshold");
  });

  it("the engine's loss and gradients are the same on both paths; tensors and the heap stay flat over 500 steps", (t) => {
    if (!needBlas(t)) return;
    const config = makeConfig({ preset: "test", seed: 5, batch: 64 });
    const layout = makeLayout(config);
    const theta = initTheta(layout, new Rng(5), true);
    const task = makeTask({ op: "add", p: config.p });
    const pairs = samplePairs(task, 64, new Rng(6));
    const grads = [true, false].map((on) => {
      setBlasActive(on);
      const bt = engineBatch(pairs.a, pairs.b, pairs.y, config.p);
      const g = new Float32Array(layout.size);
      const loss = engineLossAndGrad(layout, theta, bt, g);
      disposeEngineBatch(bt);
      return { loss, g };
    });
    setBlasActive(true);
    assert.ok(Math.abs(grads[0].loss - grads[1].loss) <= 1e-6 * Math.abs(grads[1].loss));
    assertAllClose(
      grads[0].g,
      grads[1].g,
      { rtol: 1e-4, atol: 1e-6 * Math.max(...grads[1].g.map(Math.abs)) },
      "gradient",
    );

    const g = new Float32Array(layout.size);
    const step = () => {
      const bt = engineBatch(pairs.a, pairs.b, pairs.y, config.p);
      engineLossAndGrad(layout, theta, bt, g);
      disposeEngineBatch(bt);
    };
    for (let i = 0; i < 20; i++) step();
    const usage = () => ({
      tensors: tf.memory().numTensors,
      bytes: tf.memory().numBytes,
      heap: (tf.backend() as unknown as WasmBackend).wasm.asm.memory.buffer.byteLength,
    });
    const before = usage();
    for (let i = 0; i < 500; i++) step();
    assert.deepEqual(usage(), before, "tensors, bytes and the wasm heap are flat");
  });

  it("a run trains on each path, and one resumed on the other path finishes with both segments named", async (t) => {
    if (!needBlas(t)) return;
    const config = makeConfig({ preset: "test", seed: 9 });
    const dirs = () => ({
      recordDir: fs.mkdtempSync(path.join(tmp, "rec-")),
      checkpointDir: fs.mkdtempSync(path.join(tmp, "ck-")),
    });
    setBlasActive(false);
    const wasmRun = await trainRun(config, dirs());
    setBlasActive(true);
    const blasRun = await trainRun(config, dirs());
    assert.equal(wasmRun.blas, undefined);
    assert.equal(blasRun.blas, activeBlas());
    assert.equal(wasmRun.segments?.[0].backend, "wasm");
    assert.equal(blasRun.segments?.[0].backend, `wasm + ${activeBlas()}`);
    // The same config on both paths: float rounding differs, the run's course must not (loose on purpose).
    assert.equal(blasRun.steps, wasmRun.steps);
    const fin = (r: typeof wasmRun) => r.final.loss;
    assert.ok(
      Math.abs(fin(blasRun) - fin(wasmRun)) <= 0.05 * fin(wasmRun) + 1e-3,
      `${fin(blasRun)} vs ${fin(wasmRun)}`,
    );

    const d = dirs();
    const warnings: string[] = [];
    await assert.rejects(trainRun(config, { ...d, stopAtStep: 75, warn: () => {} }), TrainingInterrupted);
    setBlasActive(false);
    const resumed = await trainRun(config, { ...d, warn: (m) => warnings.push(m) });
    setBlasActive(true);
    assert.equal(resumed.steps, wasmRun.steps);
    assert.deepEqual(
      resumed.segments?.map((s) => [s.fromStep, s.backend]),
      [
        [0, `wasm + ${activeBlas()}`],
        [75, "wasm"],
      ],
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /at step 75 .* on wasm; its checkpoint was written by .* on wasm \+ /);
  });
});
