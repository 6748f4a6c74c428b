import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { type ConfigOverrides, makeConfig, type TrainConfig } from "../src/config/config";
import { loadRecord, recordPath, runId } from "../src/records/records";
import { computePathOf, grokStepOf, type RunRecord, validateRecord } from "../src/records/schema";
import { currentBackend, initBackend } from "../src/runs/backend";
import { checkpointPath, loadCheckpoint, saveCheckpoint } from "../src/runs/checkpointFile";
import { type TrainRunOptions, trainRun } from "../src/runs/trainRun";
import { TrainingError } from "../src/train/checkpoint";
import type { TrainObserver } from "../src/train/observer";
import { TrainingInterrupted } from "../src/train/train";
import { comparable, samePathEnv } from "./helpers";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-train-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (label: string) => fs.mkdtempSync(path.join(tmpRoot, `${label}${dirCount++}-`));

const testConfig = (o: ConfigOverrides = {}): TrainConfig => makeConfig({ preset: "test", seed: 7, ...o });
/** Reaches test accuracy ≥ 0.98 at three evals well before maxSteps (at 350, 375, 400 when written) and stops. */
const convergingConfig = testConfig({ lr: 5e-3, frac: 0.9, maxSteps: 600, stopAfterEvals: 3 });

/** Options with fresh temp folders for the record and the checkpoints (never the repo's data/ or checkpoints/). */
function dirs(
  extra: Omit<TrainRunOptions, "recordDir" | "checkpointDir"> = {},
): TrainRunOptions & { recordDir: string; checkpointDir: string } {
  return { ...extra, recordDir: freshDir("rec"), checkpointDir: freshDir("ck") };
}

const ckptFiles = (dir: string) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".ckpt")) : [];

before(async () => {
  await initBackend();
});

describe("train", () => {
  it("a test-preset run trains and writes a complete record", async () => {
    // lr 1e-2 over 260 steps groks on p = 23; 260 is not a multiple of checkpointEvery (25).
    const config = testConfig({ lr: 1e-2, maxSteps: 260 });
    const opts = dirs();
    const ck = checkpointPath(opts.checkpointDir, runId(config));
    let sawCheckpoint = false;
    const probe: TrainObserver = {
      name: "probe",
      onStep({ step }) {
        if (step === 60) sawCheckpoint = fs.existsSync(ck);
      },
    };
    const rec = await trainRun(config, { ...opts, observers: [probe] });

    for (const k of [
      "config",
      "backend",
      "commit",
      "date",
      "wallSeconds",
      "metrics",
      "grokStep",
      "firstTest98Step",
    ]) {
      assert.ok(k in rec, `record has ${k}`);
    }
    validateRecord(rec);
    assert.deepEqual(rec.config, config);
    assert.equal(rec.id, runId(config));
    assert.equal(rec.task, "add");
    assert.equal(rec.backend, currentBackend().name);
    assert.ok(rec.commit.length > 0);
    assert.ok(!Number.isNaN(Date.parse(rec.date)));
    assert.ok(rec.wallSeconds >= 0);
    assert.equal(rec.steps, 260);
    assert.equal(rec.stopReason, "maxSteps");

    // Metrics every checkpointEvery steps from step 0, plus the last step.
    const expectedSteps = [0, 25, 50, 75, 100, 125, 150, 175, 200, 225, 250, 260];
    assert.deepEqual(
      rec.metrics.map((m) => m.step),
      expectedSteps,
    );
    assert.deepEqual(rec.final, rec.metrics[rec.metrics.length - 1]);

    // It learns: loss falls, accuracies rise.
    const first = rec.metrics[0];
    assert.ok(rec.final.loss < first.loss / 2, `loss ${first.loss} → ${rec.final.loss}`);
    assert.ok(rec.final.trainAcc > 0.8, `train accuracy ${rec.final.trainAcc}`);
    for (const m of rec.metrics) {
      for (const v of [m.trainAcc, m.testAcc]) assert.ok(v >= 0 && v <= 1);
    }

    // grokStep: the first eval with test accuracy ≥ 0.5 (computed here independently).
    let firstHalf: number | null = null;
    for (const m of rec.metrics) {
      if (m.testAcc >= 0.5) {
        firstHalf = m.step;
        break;
      }
    }
    assert.notEqual(firstHalf, null, "this config groks within 260 steps");
    assert.equal(rec.grokStep, firstHalf);
    assert.equal(rec.firstTest98Step, rec.metrics.find((m) => m.testAcc >= 0.98)?.step ?? null);

    // Saved where asked; the checkpoint existed during the run and is gone after it.
    assert.deepEqual(loadRecord(recordPath(rec.id, opts.recordDir)), rec);
    assert.ok(sawCheckpoint, "a checkpoint was written at step 50");
    assert.deepEqual(ckptFiles(opts.checkpointDir), []);
  });

  it("stops early once converged (stopAfterEvals)", async () => {
    const rec = await trainRun(convergingConfig, dirs());
    assert.equal(rec.stopReason, "converged");
    // Stopped at the stopAfterEvals-th eval with test accuracy ≥ 0.98 (not necessarily consecutive).
    const at98 = rec.metrics.filter((m) => m.testAcc >= 0.98).map((m) => m.step);
    assert.equal(at98.length, convergingConfig.stopAfterEvals);
    assert.equal(rec.steps, at98[at98.length - 1]);
    assert.equal(rec.firstTest98Step, at98[0]);
    assert.ok(rec.steps < convergingConfig.maxSteps);
  });

  it("grokStepOf uses the threshold", () => {
    const ms = [0, 0.3, 0.6, 0.99, 0.4].map((testAcc, i) => ({
      step: i * 10,
      loss: 1,
      trainAcc: 1,
      testAcc,
    }));
    assert.equal(grokStepOf(ms), 20);
    assert.equal(grokStepOf(ms, 0.98), 30);
    assert.equal(grokStepOf(ms, 0.999), null);
  });

  it("is deterministic: identical runs give identical metrics", async () => {
    const config = testConfig();
    const a = await trainRun(config, dirs());
    const b = await trainRun(config, dirs());
    assert.deepEqual(a.metrics, b.metrics);
    assert.deepEqual(comparable(a), comparable(b));
    // …and the seed matters (so the equality above is not vacuous).
    const c = await trainRun(testConfig({ seed: 8 }), dirs());
    assert.notDeepEqual(
      c.metrics.map((m) => m.loss),
      a.metrics.map((m) => m.loss),
    );
  });
});

/** An observer with checkpointed state (JSON and arrays), to check that resumption restores it. */
function tracker(): TrainObserver {
  let steps = 0;
  let evals = 0;
  let sum = new Float32Array(4);
  return {
    name: "tracker",
    onStep({ theta }) {
      steps++;
      for (let i = 0; i < sum.length; i++) sum[i] += theta[i];
    },
    onEval() {
      evals++;
    },
    state: () => ({ json: { steps, evals }, arrays: { sum } }),
    restore(s) {
      ({ steps, evals } = s.json as { steps: number; evals: number });
      sum = s.arrays.sum;
    },
    result: () => ({ steps, evals, sum: [...sum] }),
  };
}

describe("resumption", () => {
  const config = testConfig();
  const id = runId(config);
  let reference: RunRecord;

  before(async () => {
    reference = await trainRun(config, dirs({ observers: [tracker()] }));
    assert.equal(reference.steps, 150);
    assert.deepEqual((reference.tracker as { steps: number }).steps, 150);
  });

  /** Interrupts at each of `stops` in turn, then runs to completion; returns the final record. */
  async function interruptedRun(stops: number[]): Promise<RunRecord> {
    const opts = dirs();
    const ck = checkpointPath(opts.checkpointDir, id);
    for (const stop of stops) {
      await assert.rejects(
        trainRun(config, { ...opts, observers: [tracker()], stopAtStep: stop }),
        (e: unknown) => {
          assert.ok(e instanceof TrainingInterrupted, `TrainingInterrupted expected, got ${e}`);
          assert.equal(e.step, stop);
          assert.equal(e.checkpoint, ck);
          assert.match(e.message, new RegExp(`step ${stop}\\b.*checkpoint saved`));
          return true;
        },
      );
      assert.ok(fs.existsSync(ck), `checkpoint left at step ${stop}`);
      assert.equal(loadCheckpoint(ck)?.header.step, stop);
      assert.ok(!fs.existsSync(recordPath(id, opts.recordDir)), "no record for an interrupted run");
    }
    const rec = await trainRun(config, { ...opts, observers: [tracker()] });
    assert.deepEqual(ckptFiles(opts.checkpointDir), [], "checkpoint removed after the completed run");
    assert.deepEqual(loadRecord(recordPath(id, opts.recordDir)), rec);
    return rec;
  }

  function assertSameRun(rec: RunRecord) {
    assert.deepEqual(rec.metrics, reference.metrics);
    assert.equal(rec.grokStep, reference.grokStep);
    assert.equal(rec.firstTest98Step, reference.firstTest98Step);
    assert.equal(rec.steps, reference.steps);
    assert.deepEqual(rec.final, reference.final);
    assert.equal(rec.commit, reference.commit);
    assert.deepEqual(rec.tracker, reference.tracker, "observer state restored");
    assert.deepEqual(comparable(rec), comparable(reference));
  }

  it("resumes from a stop between saves (step 73, saveEvery 50) to the identical record", async () => {
    assert.equal(config.saveEvery, 50);
    assertSameRun(await interruptedRun([73]));
  });

  it("resumes from a stop exactly at a save (step 100)", async () => {
    assertSameRun(await interruptedRun([100]));
  });

  it("survives several interruptions, including one before the first save and one at the last step", async () => {
    assertSameRun(await interruptedRun([3, 50, 51, 149, 150]));
  });

  it("a resumed run counts the evals at ≥ 98% made before the interruption", async () => {
    const ref = await trainRun(convergingConfig, dirs());
    assert.equal(ref.stopReason, "converged");
    const at98 = ref.metrics.filter((m) => m.testAcc >= 0.98).map((m) => m.step);
    // Interrupt after the second of the three evals that stop the run.
    const stop = at98[1] + 5;
    assert.ok(stop < ref.steps);
    const opts = dirs();
    await assert.rejects(trainRun(convergingConfig, { ...opts, stopAtStep: stop }), TrainingInterrupted);
    const rec = await trainRun(convergingConfig, opts);
    assert.equal(rec.stopReason, "converged");
    assert.equal(rec.steps, ref.steps);
    assert.deepEqual(comparable(rec), comparable(ref));
  });

  it("refuses a checkpoint of a different config", async () => {
    const opts = dirs();
    await assert.rejects(trainRun(config, { ...opts, stopAtStep: 60 }), TrainingInterrupted);
    const other = testConfig({ lr: 1e-2 });
    const otherCk = checkpointPath(opts.checkpointDir, runId(other));
    assert.notEqual(runId(other), id);
    fs.copyFileSync(checkpointPath(opts.checkpointDir, id), otherCk);
    await assert.rejects(trainRun(other, opts), (e: unknown) => {
      assert.ok(e instanceof TrainingError, `TrainingError expected, got ${e}`);
      assert.ok(e.message.includes(otherCk), e.message);
      assert.match(e.message, /different config/);
      return true;
    });
    assert.ok(fs.existsSync(otherCk), "the foreign checkpoint is left alone");
  });

  it("refuses a corrupt checkpoint with a clear error", async () => {
    const opts = dirs();
    fs.writeFileSync(checkpointPath(opts.checkpointDir, id), "garbage");
    await assert.rejects(trainRun(config, opts), /checkpoint .* is unreadable \(bad magic\); delete it/);
  });

  it("checkpointDir null writes no checkpoint, and interruption says progress is lost", async () => {
    const opts: TrainRunOptions = { recordDir: freshDir("rec"), checkpointDir: null, stopAtStep: 60 };
    await assert.rejects(trainRun(config, opts), (e: unknown) => {
      assert.ok(e instanceof TrainingInterrupted);
      assert.equal(e.checkpoint, null);
      assert.match(e.message, /progress is lost/);
      return true;
    });
  });
});

describe("failures and resources", () => {
  it("a diverging run rejects with TrainingError naming the step", async () => {
    const config = testConfig({ lr: 1e6 });
    const opts = dirs();
    let completed = 0;
    const counter: TrainObserver = {
      name: "counter",
      onStep() {
        completed++;
      },
    };
    await assert.rejects(trainRun(config, { ...opts, observers: [counter] }), (e: unknown) => {
      assert.ok(e instanceof TrainingError, `TrainingError expected, got ${e}`);
      assert.ok(completed < 20, `diverged quickly (after ${completed} steps)`);
      assert.match(e.message, new RegExp(`\\bstep ${completed + 1}\\b`));
      assert.match(e.message, /not finite|NaN|Infinity/);
      return true;
    });
    assert.deepEqual(fs.readdirSync(opts.recordDir), [], "no record for a failed run");
  });

  it("leaks no tensors: the count is flat across ≥ 500 steps and restored afterwards", async () => {
    const start = tf.memory().numTensors;
    const counts: number[] = [];
    const leak: TrainObserver = {
      name: "leak",
      onStep() {
        counts.push(tf.memory().numTensors);
      },
    };
    const config = testConfig({ maxSteps: 500, stopAfterEvals: 1000 });
    const rec = await trainRun(config, { ...dirs(), observers: [leak] });
    assert.equal(rec.steps, 500);
    assert.equal(counts.length, 500);
    assert.ok(
      counts.every((c) => c === counts[0]),
      `tensor count varies: ${[...new Set(counts)].join(", ")}`,
    );
    assert.equal(tf.memory().numTensors, start);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The CLI as a child process, killed the hard way.

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): { child: ChildProcess; done: Promise<Done> } {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ["bin/sedlab.mjs", ...args], {
    cwd: repoRoot,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<Done>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

async function until(cond: () => boolean, what: string, timeoutMs = 60_000, everyMs = 5): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe("CLI interruption", { timeout: 120_000 }, () => {
  const args = (out: string) => [
    "train",
    "--preset",
    "test",
    "--op",
    "add",
    "--seed",
    "7",
    "--out",
    out,
    "--quiet",
  ];
  const cliId = runId(testConfig({ op: "add" }));

  it("a run killed with SIGKILL after its first checkpoint resumes to the uninterrupted record", async () => {
    const outA = freshDir("cliA");
    const outB = freshDir("cliB");
    const ckA = freshDir("cliCkA");
    const ckB = freshDir("cliCkB");
    const data = freshDir("cliData");
    // The uninterrupted reference runs alongside. All three processes take this one's compute path, so that their
    // records can be compared bit for bit (each would otherwise time BLAS at start-up, which can flip under load).
    const pin = await samePathEnv();
    const reference = cli(args(outA), { ...pin, SEDLAB_CHECKPOINTS: ckA, SEDLAB_DATA: data });

    const victim = cli(args(outB), { ...pin, SEDLAB_CHECKPOINTS: ckB, SEDLAB_DATA: data });
    let exited = false;
    victim.done.then(
      () => {
        exited = true;
      },
      () => {
        exited = true;
      },
    );
    await until(() => ckptFiles(ckB).length > 0 || exited, "the first checkpoint");
    victim.child.kill("SIGKILL");
    const killed = await victim.done;
    assert.equal(killed.signal, "SIGKILL", `killed mid-run (exit ${killed.code}; ${killed.stderr})`);
    assert.deepEqual(ckptFiles(ckB), [`${cliId}.ckpt`]);
    assert.ok(!fs.existsSync(recordPath(cliId, outB)), "no record yet");
    const resumedFrom = loadCheckpoint(path.join(ckB, `${cliId}.ckpt`))?.header.step as number;
    assert.ok(
      resumedFrom > 0 && resumedFrom < 150 && resumedFrom % 50 === 0,
      `checkpoint step ${resumedFrom}`,
    );

    const rerun = await cli(args(outB), { ...pin, SEDLAB_CHECKPOINTS: ckB, SEDLAB_DATA: data }).done;
    assert.equal(rerun.code, 0, rerun.stderr);
    const ref = await reference.done;
    assert.equal(ref.code, 0, ref.stderr);

    const a = loadRecord(recordPath(cliId, outA));
    const b = loadRecord(recordPath(cliId, outB));
    assert.equal(b.commit, a.commit);
    assert.deepEqual(b.metrics, a.metrics);
    assert.deepEqual(comparable(b), comparable(a));
    assert.deepEqual(ckptFiles(ckB), [], "checkpoint removed after completion");
    // Same run as the library gives in this process.
    const lib = await trainRun(testConfig({ op: "add" }), dirs());
    assert.deepEqual(a.metrics, lib.metrics);
  });

  it("SIGINT saves a checkpoint and exits with 130", async () => {
    const out = freshDir("cliInt");
    const ck = freshDir("cliCkInt");
    // Long enough that it cannot finish before the signal arrives.
    const run = cli([...args(out), "--steps", "5000"], {
      SEDLAB_CHECKPOINTS: ck,
      SEDLAB_DATA: freshDir("d"),
    });
    let stdout = "";
    run.child.stdout?.on("data", (d) => {
      stdout += d;
    });
    await until(() => stdout.includes("training on"), "training to start", 60_000, 10);
    run.child.kill("SIGINT");
    const r = await run.done;
    assert.equal(r.code, 130, `signal ${r.signal}; stdout: ${r.stdout}; stderr: ${r.stderr}`);
    assert.match(r.stderr, /checkpoint saved/);
    assert.equal(ckptFiles(ck).length, 1);
    assert.ok(!fs.existsSync(path.join(out, `${runId(testConfig({ maxSteps: 5000 }))}.json`)));
  });
});

describe("segments: which code trained which steps", () => {
  const config = testConfig();
  const computePath = (r: RunRecord) => computePathOf(r.backend, r.blas);

  it("a run in one go has one segment: its commit, backend and version from step 0", async () => {
    const rec = await trainRun(config, dirs({ commit: () => "aaaa111" }));
    assert.deepEqual(rec.segments, [
      { fromStep: 0, commit: "aaaa111", backend: computePath(rec), sedlabVersion: rec.sedlabVersion },
    ]);
    assert.equal(rec.commit, "aaaa111");
  });

  it("a resume on the same code adds no segment and says nothing", async () => {
    const opts = dirs({ commit: () => "aaaa111" });
    const warnings: string[] = [];
    await assert.rejects(trainRun(config, { ...opts, stopAtStep: 50, warn: (m) => warnings.push(m) }));
    const rec = await trainRun(config, { ...opts, warn: (m) => warnings.push(m) });
    assert.equal(rec.segments?.length, 1);
    assert.deepEqual(warnings, []);
  });

  it("a resume across a commit change warns naming both commits, and the record keeps both segments", async () => {
    const opts = dirs();
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    await assert.rejects(
      trainRun(config, { ...opts, commit: () => "aaaa111", stopAtStep: 50, warn }),
      TrainingInterrupted,
    );
    assert.deepEqual(warnings, [], "nothing to warn about before the resume");
    const rec = await trainRun(config, { ...opts, commit: () => "bbbb222", warn });
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /resuming .* at step 50 with commit bbbb222 .*written by commit aaaa111/);
    const seg = (fromStep: number, commit: string) => ({
      fromStep,
      commit,
      backend: computePath(rec),
      sedlabVersion: rec.sedlabVersion,
    });
    assert.deepEqual(rec.segments, [seg(0, "aaaa111"), seg(50, "bbbb222")]);
    assert.equal(rec.commit, "bbbb222", "the record's commit is the code that finished it");
    assert.deepEqual(loadRecord(recordPath(rec.id, opts.recordDir)).segments, rec.segments);
  });

  it("a checkpoint written before segments existed resumes with an explicit unknown first segment", async () => {
    const opts = dirs({ commit: () => "cccc333" });
    await assert.rejects(trainRun(config, { ...opts, stopAtStep: 50, warn: () => {} }));
    const ckPath = checkpointPath(opts.checkpointDir, runId(config));
    const ck = loadCheckpoint(ckPath);
    assert.ok(ck);
    delete ck.header.segments;
    saveCheckpoint(ckPath, ck);
    const warnings: string[] = [];
    const rec = await trainRun(config, { ...opts, warn: (m) => warnings.push(m) });
    assert.equal(rec.segments?.[0].commit, "unknown (checkpoint predates segment records)");
    assert.deepEqual(rec.segments?.[1], {
      fromStep: 50,
      commit: "cccc333",
      backend: computePath(rec),
      sedlabVersion: rec.sedlabVersion,
    });
    assert.equal(warnings.length, 1);
  });

  it("training over an invalid record moves it aside and says so", async () => {
    const opts = dirs();
    const file = recordPath(runId(config), opts.recordDir);
    fs.writeFileSync(file, '{"schema": "sedlab.run", "id": ');
    const warnings: string[] = [];
    const rec = await trainRun(config, { ...opts, warn: (m) => warnings.push(m) });
    assert.deepEqual(loadRecord(file), rec);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /moved the invalid record .* aside to .*\.invalid-.* \(run record .* is corrupt/,
    );
    assert.equal(fs.readdirSync(opts.recordDir).filter((f) => f.includes(".invalid-")).length, 1);
  });
});
