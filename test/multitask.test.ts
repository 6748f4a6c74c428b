// Multitask runs end to end at the test preset: config and presets, the shared dataset, training (per-task
// evals, stop rule, grok steps), the multitask SED observer (record shape, checkpoint/resume), sweep specs,
// and the analysis and figures the notebook shows.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  multitaskClaimCheck,
  multitaskCouplingOf,
  multitaskPeakRows,
  multitaskSummary,
} from "../src/analysis/multitask";
import { type ConfigOverrides, makeConfig, overridesOf } from "../src/config/config";
import { makeDataset, makeMultitaskDataset, makeTask } from "../src/data/tasks";
import { multitaskConfigs, multitaskTasks } from "../src/grids/experiments";
import { loadSpec } from "../src/grids/load";
import { expandRuns, SpecError, validateSpec } from "../src/grids/spec";
import {
  cancellationFigure,
  multitaskAccuracy,
  multitaskCouplingOverTime,
  subspaceAngles,
} from "../src/present/multitaskFigures";
import { runId } from "../src/records/records";
import { type RunRecord, validateRecord } from "../src/records/schema";
import { initBackend } from "../src/runs/backend";
import { multitaskRuns } from "../src/runs/experiments";
import { type TrainRunOptions, trainRun } from "../src/runs/trainRun";
import { TrainingInterrupted } from "../src/train/train";
import { comparable } from "./helpers";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-multitask-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (label: string) => fs.mkdtempSync(path.join(tmpRoot, `${label}${dirCount++}-`));
const dirs = (): TrainRunOptions & { recordDir: string; checkpointDir: string } => ({
  recordDir: freshDir("rec"),
  checkpointDir: freshDir("ck"),
});
const TASKS = multitaskTasks();
const mt = (o: ConfigOverrides = {}) => makeConfig({ preset: "test", seed: 7, tasks: TASKS, ...o });

before(async () => {
  await initBackend();
});

describe("multitask config", () => {
  it("paper preset: 50,000 steps, c = 200, measurements every 8th checkpoint; explicit values win", () => {
    const c = makeConfig({ tasks: TASKS, sed: true });
    assert.deepEqual(c.tasks, TASKS);
    assert.equal(c.op, undefined);
    assert.equal(c.maxSteps, 50_000);
    assert.equal(c.checkpointEvery, 200);
    assert.equal(c.sed?.measureEvery, 1600);
    assert.equal(c.frac, 0.5);
    const c25 = makeConfig({ tasks: TASKS, sed: true, checkpointEvery: 25, maxSteps: 9000 });
    assert.equal(c25.sed?.measureEvery, 200);
    assert.equal(c25.maxSteps, 9000);
    assert.equal(makeConfig({ tasks: TASKS, sed: { measureEvery: 400 } }).sed?.measureEvery, 400);
    assert.equal(mt().maxSteps, 200);
    assert.deepEqual(overridesOf(makeConfig({ tasks: TASKS })), {});
    assert.deepEqual(overridesOf(makeConfig({ tasks: TASKS, checkpointEvery: 25, maxSteps: 9000 })), {
      checkpointEvery: 25,
      maxSteps: 9000,
    });
  });

  it("one task is the single-task config", () => {
    assert.deepEqual(makeConfig({ tasks: ["mul"], seed: 3 }), makeConfig({ op: "mul", seed: 3 }));
    assert.deepEqual(makeConfig({ tasks: ["mul"], op: "mul" }), makeConfig({ op: "mul" }));
    assert.throws(() => makeConfig({ tasks: ["mul"], op: "add" }), /disagree/);
  });

  it("rejects bad task lists and unsupported diagnostics settings", () => {
    assert.throws(() => makeConfig({ tasks: ["add", "sub"], op: "add" }), /either tasks .* or op\/expr/);
    assert.throws(() => makeConfig({ tasks: ["add", "div"] }), /unknown operation "div"/);
    assert.throws(() => makeConfig({ tasks: ["add", "add"] }), /twice/);
    assert.throws(() => makeConfig({ tasks: [] }), /two or more/);
    assert.throws(() => makeConfig({ tasks: TASKS, sed: { windowMode: "leading" } }), /trailing window only/);
    assert.throws(() => makeConfig({ tasks: TASKS, sed: { windows: [5] } }), /trailing window only/);
  });

  it("run ids name the tasks and a non-default spacing", () => {
    assert.equal(
      runId(makeConfig({ tasks: TASKS, sed: true })),
      "mt-add+sub+mul+sq_sum_p97_paper_seed42_sed",
    );
    assert.equal(
      runId(makeConfig({ tasks: TASKS, sed: true, checkpointEvery: 25 })),
      "mt-add+sub+mul+sq_sum_p97_paper_seed42_sed_c25",
    );
    assert.equal(runId(makeConfig({ tasks: TASKS, seed: 137 })), "mt-add+sub+mul+sq_sum_p97_paper_seed137");
    assert.match(
      runId(makeConfig({ tasks: TASKS, lr: 3e-3 })),
      /^mt-add\+sub\+mul\+sq_sum_p97_paper_seed42_[0-9a-f]{8}$/,
    );
  });
});

describe("multitask dataset", () => {
  it("one split of the pairs a, b ∈ 1..p−1, shared by the tasks, each pair labelled for every task", () => {
    const p = 23;
    const tasks = TASKS.map((op) => makeTask({ op, p, lo: 1 }));
    const ds = makeMultitaskDataset(tasks, 0.5, 11);
    const ref = makeDataset(tasks[0], 0.5, 11);
    assert.deepEqual(ds.trainA, ref.trainA);
    assert.deepEqual(ds.testB, ref.testB);
    assert.equal(ds.trainA.length + ds.testA.length, (p - 1) ** 2);
    assert.ok([...ds.trainA, ...ds.trainB, ...ds.testA, ...ds.testB].every((x) => x >= 1 && x < p));
    const f = {
      add: (a: number, b: number) => a + b,
      sub: (a: number, b: number) => a - b,
      mul: (a: number, b: number) => a * b,
      sq_sum: (a: number, b: number) => a * a + b * b,
    };
    TASKS.forEach((op, t) => {
      for (let i = 0; i < ds.testA.length; i++) {
        const want = ((f[op as keyof typeof f](ds.testA[i], ds.testB[i]) % p) + p) % p;
        assert.equal(ds.testYs[t][i], want);
      }
    });
    assert.equal(ds.trainY, ds.trainYs[0]);
    assert.throws(
      () => makeMultitaskDataset([tasks[0], makeTask({ op: "sub", p })], 0.5, 1),
      /share p and the operand range/,
    );
  });
});

describe("multitask training", () => {
  it("tasks: [op] trains exactly the single-task run", async () => {
    const a = await trainRun(makeConfig({ preset: "test", seed: 7, tasks: ["sub"] }), dirs());
    const b = await trainRun(makeConfig({ preset: "test", seed: 7, op: "sub" }), dirs());
    assert.deepEqual(comparable(a), comparable(b));
    assert.equal(a.grokSteps, undefined);
  });

  it("stops once every task has had test accuracy ≥ 0.98 at stopAfterEvals evals, each counting its own", async () => {
    // Seed 8: add first reaches 0.98 five evals before sub, so the per-task counts differ at the stop (seed 7's
    // tasks met 0.98 at the same evals once float rounding changed: the assertion below guards the scenario).
    const config = makeConfig({
      preset: "test",
      seed: 8,
      lr: 1e-2,
      frac: 0.9,
      maxSteps: 1000,
      stopAfterEvals: 3,
      tasks: ["add", "sub"],
    });
    const r = await trainRun(config, dirs());
    validateRecord(r);
    assert.equal(r.task, "add+sub");
    assert.equal(r.stopReason, "converged");
    const counts = (upTo: number, t: string) =>
      r.metrics.filter((m) => m.step <= upTo && (m.tasks?.[t]?.testAcc ?? 0) >= 0.98).length;
    const stopAt = r.metrics.find((m) => counts(m.step, "add") >= 3 && counts(m.step, "sub") >= 3)?.step;
    assert.equal(r.steps, stopAt);
    assert.notEqual(
      counts(r.steps, "add"),
      counts(r.steps, "sub"),
      "the tasks reach 0.98 at different evals",
    );
    for (const t of ["add", "sub"]) {
      const g = r.metrics.find((m) => (m.tasks?.[t]?.testAcc ?? 0) >= 0.5)?.step ?? null;
      assert.equal(r.grokSteps?.[t], g);
      assert.equal(
        r.firstTest98Steps?.[t],
        r.metrics.find((m) => (m.tasks?.[t]?.testAcc ?? 0) >= 0.98)?.step ?? null,
      );
    }
    for (const m of r.metrics) {
      const ts = Object.values(m.tasks ?? {});
      assert.equal(ts.length, 2);
      assert.ok(Math.abs(m.loss - ts.reduce((s, x) => s + x.loss, 0)) < 1e-9);
      assert.equal(m.testAcc, Math.min(...ts.map((x) => x.testAcc)));
      assert.equal(m.trainAcc, Math.min(...ts.map((x) => x.trainAcc)));
    }
  });

  it("the checkpoint spacing changes what is measured, not the training trajectory", async () => {
    const a = await trainRun(mt({ checkpointEvery: 25 }), dirs());
    const b = await trainRun(mt({ checkpointEvery: 50 }), dirs());
    const at = (r: RunRecord, s: number) => r.metrics.find((m) => m.step === s);
    for (const s of [0, 50, 100, 150, 200]) assert.deepEqual(at(a, s), at(b, s), `step ${s}`);
  });
});

describe("multitask SED observer", () => {
  const config = mt({ sed: true, saveEvery: 50 });
  let reference: RunRecord;

  before(async () => {
    reference = await trainRun(config, dirs());
  });

  it("records update, aggregate and per-task coupling for every task, angles and cancellation", () => {
    validateRecord(reference);
    assert.equal(reference.id, "mt-add+sub+mul+sq_sum_p23_test_seed7_sed");
    const c = multitaskCouplingOf(reference);
    assert.deepEqual(c.tasks, TASKS);
    const W = config.sed?.window ?? 0;
    // Window full after W checkpoints (c = 25); measured every 2nd checkpoint, and at the end.
    const steps = [100, 150, 200];
    assert.equal(W * config.checkpointEvery, 100);
    for (const src of ["update", "aggregate", "perTask"] as const) {
      for (const t of TASKS) {
        const s = c[src][t];
        assert.deepEqual(
          s.curve.map((p) => p.step),
          steps,
          `${src} ${t}`,
        );
        for (const p of s.curve) {
          assert.equal(p.R.length, 3);
          assert.ok(p.R.every((x) => Number.isFinite(x) && x > 0));
          assert.equal(p.sigma.length, W);
          assert.equal(p.windowStart, p.step - (W - 1) * config.checkpointEvery);
        }
        assert.equal(s.peakRbar, Math.max(...s.curve.map((p) => p.Rbar)));
      }
    }
    // One basis for update and aggregate (the same σ for every task), per-task bases differ; per-task baselines.
    const last = (src: "update" | "aggregate" | "perTask", t: string) => c[src][t].curve[2];
    assert.deepEqual(last("aggregate", "add").sigma, last("aggregate", "mul").sigma);
    assert.deepEqual(last("update", "sub").sigma, last("update", "sq_sum").sigma);
    assert.notDeepEqual(last("perTask", "add").sigma, last("perTask", "mul").sigma);
    assert.notEqual(last("update", "add").medianRandom, last("update", "mul").medianRandom);
    assert.equal(last("update", "add").medianRandom, last("perTask", "add").medianRandom);
    // Angles at every measurement, in degrees.
    assert.deepEqual(
      c.angles.map((a) => a.step),
      steps,
    );
    for (const a of c.angles) {
      for (const t of TASKS) {
        for (const x of [...a.aggregate[t], ...a.update[t]]) assert.ok(x >= 0 && x <= 90 + 1e-9);
        assert.equal(a.aggregate[t].length, 3);
      }
      assert.equal(a.aggregateUpdate.length, 3);
    }
    // Cancellation at every checkpoint after the first.
    assert.deepEqual(
      c.cancellation.map((p) => p.step),
      reference.metrics.slice(1).map((m) => m.step),
    );
    for (const p of c.cancellation) {
      const total = Object.values(p.norms).reduce((s, x) => s + x, 0);
      assert.ok(Math.abs(p.ratio - p.aggregateNorm / total) < 1e-12);
      assert.ok(p.ratio > 0 && p.ratio <= 1 + 1e-6);
    }
  });

  it("a resumed run ends with the same record as an uninterrupted one", async () => {
    const opts = dirs();
    for (const stop of [60, 130]) {
      await assert.rejects(trainRun(config, { ...opts, stopAtStep: stop }), TrainingInterrupted);
    }
    const rec = await trainRun(config, opts);
    assert.deepEqual(comparable(rec), comparable(reference));
  });

  it("analysis: peaks per task × seed, the summary beside the paper, the verdict, and the figures", () => {
    const rows = multitaskPeakRows([reference]);
    assert.deepEqual(
      rows.map((r) => r.task),
      TASKS,
    );
    const c = multitaskCouplingOf(reference);
    for (const r of rows) {
      assert.equal(r.perTaskPeak, c.perTask[r.task].peakRbar);
      assert.equal(r.aggregatePeak, c.aggregate[r.task].peakRbar);
      assert.equal(r.perTaskOverAggregate, (r.perTaskPeak as number) / (r.aggregatePeak as number));
      assert.equal(r.spacing, 25);
    }
    const summary = multitaskSummary(rows);
    assert.equal(summary.length, 4);
    assert.equal(summary.find((s) => s.task === "sub")?.["per-task R̄ peak (paper)"], 44.9);
    const text = multitaskClaimCheck(rows, [reference]);
    assert.match(text, /c = 25 \(1 seed, 4 task × seed pairs\)/);
    assert.match(text, /Aggregate gradient-SED/);
    assert.match(text, /cancel/);
    assert.equal(multitaskClaimCheck([]), "No multitask runs with diagnostics yet.");
    for (const fig of [
      multitaskAccuracy([reference]),
      multitaskCouplingOverTime([reference]),
      subspaceAngles([reference]),
      cancellationFigure([reference]),
    ]) {
      assert.ok(fig.data.length > 0);
      JSON.stringify(fig);
    }
    assert.equal(multitaskCouplingOverTime([reference]).data.length, 4 * 3);
    assert.throws(
      () => multitaskCouplingOf({ ...reference, config: { ...reference.config, tasks: undefined } }),
      /not a multitask run/,
    );
  });
});

describe("multitask experiments and sweeps", () => {
  it("at the paper preset, runs come from the cache only: missing ones are listed with the command", async () => {
    const prev = process.env.SEDLAB_DATA;
    process.env.SEDLAB_DATA = freshDir("data");
    try {
      const { records, missing, command } = await multitaskRuns("paper");
      assert.equal(records.length, 0);
      assert.deepEqual(
        missing,
        multitaskConfigs("paper").map((c) => runId(c)),
      );
      assert.equal(missing.length, 6);
      assert.ok(missing.includes("mt-add+sub+mul+sq_sum_p97_paper_seed2024_sed_c25"));
      assert.equal(command, "npx sedlab sweep experiments/multitask.json");
    } finally {
      if (prev === undefined) delete process.env.SEDLAB_DATA;
      else process.env.SEDLAB_DATA = prev;
    }
  });

  it("experiments/multitask.json is the notebook's paper-preset grid", () => {
    const spec = loadSpec(path.join(process.cwd(), "experiments/multitask.json"));
    const ids = expandRuns(spec).map((r) => r.id);
    assert.deepEqual(
      [...ids].sort(),
      multitaskConfigs("paper")
        .map((c) => runId(c))
        .sort(),
    );
  });

  it("sweep specs take tasks in base or in every condition, and reject mixing them with ops", () => {
    const ok = validateSpec({ preset: "test", seeds: [1, 2], base: { tasks: ["add", "mul"], sed: true } });
    assert.deepEqual(
      expandRuns(ok).map((r) => r.id),
      ["mt-add+mul_p23_test_seed1_sed", "mt-add+mul_p23_test_seed2_sed"],
    );
    const conds = validateSpec({
      preset: "test",
      seeds: [1],
      conditions: { two: { tasks: ["add", "sub"] }, three: { tasks: ["add", "sub", "mul"] } },
    });
    assert.equal(expandRuns(conds).length, 2);
    assert.throws(() => validateSpec({ seeds: [1], base: { tasks: "add" } }), SpecError);
    assert.throws(() => validateSpec({ seeds: [1], base: { tasks: "add" } }), /must be a list of strings/);
    assert.throws(
      () => validateSpec({ ops: ["add"], seeds: [1], base: { tasks: ["add", "sub"] } }),
      /either tasks/,
    );
    assert.throws(
      () => validateSpec({ seeds: [1], conditions: { a: { tasks: ["add", "sub"] }, b: {} } }),
      /"ops"/,
    );
  });
});
