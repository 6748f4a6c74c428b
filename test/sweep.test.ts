import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { makeConfig } from "../src/config/config";
import { gridRuns, loadGrid, loadSpec } from "../src/grids/load";
import {
  expandRuns,
  expandSpec,
  parseShard,
  SpecError,
  type SweepSpec,
  shard,
  validateSpec,
} from "../src/grids/spec";
import { loadRecord, runId } from "../src/records/records";
import { computePathOf } from "../src/records/schema";
import { initBackend } from "../src/runs/backend";
import { activeBlas } from "../src/runs/blas";
import { checkpointPath, loadCheckpoint } from "../src/runs/checkpointFile";
import { runSweep } from "../src/runs/sweep/pool";
import { doneLine, statusLine, sweepEta } from "../src/runs/sweep/status";
import { trainRun } from "../src/runs/trainRun";
import { samePathEnv } from "./helpers";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(repoRoot, "bin", "sedlab.mjs");
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-sweep-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (label: string) => fs.mkdtempSync(path.join(tmpRoot, `${label}${dirCount++}-`));

const spec = (o: Record<string, unknown> = {}): unknown => ({ ops: ["add"], seeds: [1], ...o });
const specError = (obj: unknown, re: RegExp) =>
  assert.throws(
    () => validateSpec(obj),
    (e: unknown) => e instanceof SpecError && re.test(e.message),
  );

describe("sweep spec", () => {
  it("rejects bad specs with errors naming the field", () => {
    specError([], /must be an object/);
    specError(spec({ seed: [1] }), /unknown field "seed"; did you mean "seeds"\?/);
    specError({ ops: ["add"] }, /field "seeds" is required/);
    specError(spec({ seeds: [] }), /"seeds" must be a non-empty list of integers/);
    specError(spec({ seeds: [1.5] }), /"seeds" must be a non-empty list of integers/);
    specError({ seeds: [1] }, /field "ops".*and\/or "exprs"/);
    specError(spec({ ops: "add" }), /field "ops" must be a non-empty list/);
    specError(spec({ preset: "huge" }), /field "preset": unknown preset "huge"/);
    specError(spec({ preset: ["quick", "nope"] }), /unknown preset "nope"/);
    specError(
      spec({ conditions: { wd0: { weightdecay: 0 } } }),
      /conditions\.wd0: unknown config field "weightdecay"; did you mean "weightDecay"/,
    );
    specError(
      spec({ conditions: { wd0: { weightDecay: "0" } } }),
      /conditions\.wd0\.weightDecay must be a number, got "0"/,
    );
    specError(
      spec({ conditions: { s: { seed: 3 } } }),
      /conditions\.s\.seed is not allowed: set it with the spec's "seeds"/,
    );
    specError(spec({ base: { op: "mul" } }), /base\.op is not allowed: set it with the spec's "ops"/);
    specError(spec({ base: { preset: "quick" } }), /base\.preset is not allowed/);
    specError(spec({ conditions: {} }), /"conditions" must be a non-empty mapping/);
    specError(spec({ out: 3 }), /field "out"/);
    // Values are checked by makeConfig for every combination, with the combination named.
    specError(
      spec({ conditions: { neg: { weightDecay: -1 } } }),
      /condition neg: config\.weightDecay must be ≥ 0/,
    );
    specError(spec({ ops: ["add", "div0"] }), /op div0:/);
    specError(spec({ exprs: ["a +"] }), /expr "a \+":/);
  });

  it("conditions may set optional config fields (sed diagnostics), checked setting by setting", () => {
    const runs = expandRuns(
      validateSpec({
        preset: "test",
        ops: ["add"],
        seeds: [1],
        base: { sed: { k: 2 } },
        conditions: { plain: { sed: false }, sed: { sed: true }, w8: { sed: { window: 8 } } },
      }),
    );
    assert.deepEqual(
      runs.map((r) => [r.condition, r.config.sed?.k, r.config.sed?.window]),
      [
        ["plain", undefined, undefined],
        // true: on with the preset's defaults (it replaces the base's settings)
        [
          "sed",
          makeConfig({ preset: "test", sed: true }).sed?.k,
          makeConfig({ preset: "test", sed: true }).sed?.window,
        ],
        // objects merge with the base's: k from base, window from the condition
        ["w8", 2, 8],
      ],
    );
    assert.equal(runs[1].id, "add_p23_test_seed1_sed");
    specError(
      spec({ conditions: { s: { sed: { windw: 3 } } } }),
      /conditions\.s\.sed: unknown setting "windw"; did you mean "window"/,
    );
    specError(
      spec({ conditions: { s: { sed: { window: "3" } } } }),
      /conditions\.s\.sed\.window must be a number, got "3"/,
    );
    specError(spec({ conditions: { s: { sed: { windows: 3 } } } }), /sed\.windows must be a list, got 3/);
    specError(spec({ base: { sed: 1 } }), /base\.sed must be true, false or an object of sed settings/);
    specError(
      spec({ base: { sed: { measureEvery: 30 } } }),
      /config\.sed\.measureEvery \(30\) must be a multiple/,
    );
  });

  it("loads JSON and YAML specs; bad files name the file", () => {
    const dir = freshDir("spec");
    const yamlPath = path.join(dir, "grid.yaml");
    fs.writeFileSync(
      yamlPath,
      "# a comment\npreset: test\nops: [add, sub]\nseeds: [1, 2]\nconditions:\n  wd0: {weightDecay: 0}\n  base: {}\n",
    );
    const y = loadSpec(yamlPath);
    assert.equal(y.name, "grid");
    assert.deepEqual(y.conditions, { wd0: { weightDecay: 0 }, base: {} });
    const jsonPath = path.join(dir, "grid.json");
    fs.writeFileSync(jsonPath, JSON.stringify({ name: "g", ...y }));
    assert.deepEqual(expandRuns(loadSpec(jsonPath)), expandRuns(y));
    fs.writeFileSync(path.join(dir, "bad.json"), "{ops: [add]}");
    assert.throws(() => loadSpec(path.join(dir, "bad.json")), /bad\.json is not valid JSON/);
    fs.writeFileSync(path.join(dir, "bad.yml"), "ops: [add\nseeds: 1");
    assert.throws(() => loadSpec(path.join(dir, "bad.yml")), /bad\.yml is not valid YAML/);
    fs.writeFileSync(path.join(dir, "typo.yml"), "ops: [add]\nseeds: [1]\nconditons: {}\n");
    assert.throws(
      () => loadSpec(path.join(dir, "typo.yml")),
      /typo\.yml: unknown field "conditons"; did you mean "conditions"/,
    );
    assert.throws(() => loadSpec(path.join(dir, "missing.json")), /cannot read sweep spec/);
    assert.equal(loadSpec(path.join(repoRoot, "experiments", "quick-demo.json")).name, "quick-demo");
  });

  it("expands presets × tasks × conditions × seeds in that order, without duplicates", () => {
    const s: SweepSpec = {
      preset: ["test", "quick"],
      ops: ["add", "sub"],
      exprs: ["a*a + b"],
      seeds: [3, 1],
      base: { maxSteps: 100 },
      conditions: { wd0: { weightDecay: 0 }, lr: { lr: 1e-2 } },
    };
    const runs = expandRuns(s);
    assert.equal(runs.length, 2 * 3 * 2 * 2);
    const key = (r: (typeof runs)[number]) =>
      `${r.config.preset}|${r.config.op ?? r.config.expr}|${r.condition}|${r.config.seed}`;
    assert.deepEqual(runs.slice(0, 5).map(key), [
      "test|add|wd0|3",
      "test|add|wd0|1",
      "test|add|lr|3",
      "test|add|lr|1",
      "test|sub|wd0|3",
    ]);
    assert.equal(key(runs[8]), "test|a*a + b|wd0|3");
    assert.equal(key(runs[12]), "quick|add|wd0|3");
    for (const r of runs) {
      assert.equal(r.id, runId(r.config));
      assert.equal(r.config.maxSteps, 100);
    }
    const lr = runs.find((r) => r.condition === "lr");
    assert.deepEqual(lr?.config, makeConfig({ preset: "test", op: "add", seed: 3, maxSteps: 100, lr: 1e-2 }));
    assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
    assert.deepEqual(
      expandSpec(s),
      runs.map((r) => r.config),
    );

    // A condition equal to the base, and a repeated seed, are the same runs: kept once, first wins.
    const dup = expandRuns({
      preset: "test",
      ops: ["add"],
      seeds: [1, 2, 1],
      conditions: { plain: {}, same: { weightDecay: 1 } },
    });
    assert.deepEqual(
      dup.map((r) => `${r.condition}|${r.config.seed}`),
      ["plain|1", "plain|2"],
    );
    // No conditions: one arm, labelled null; default preset paper.
    const plain = expandRuns({ ops: ["mul"], seeds: [5] });
    assert.deepEqual(
      plain.map((r) => [r.id, r.condition]),
      [["mul_p97_paper_seed5", null]],
    );
  });

  it("shards partition the runs: disjoint, union = all, every n-th from i", () => {
    const runs = Array.from({ length: 11 }, (_, k) => k);
    for (const n of [1, 2, 3, 4, 11, 13]) {
      const parts = Array.from({ length: n }, (_, i) => shard(runs, i, n));
      assert.deepEqual(
        parts.flat().sort((a, b) => a - b),
        runs,
      );
      parts.forEach((p, i) => {
        for (const x of p) assert.equal(x % n, i);
      });
    }
    assert.deepEqual(shard(runs, 1, 4), [1, 5, 9]);
    assert.deepEqual(parseShard("2/5"), { index: 2, count: 5 });
    assert.deepEqual(parseShard(" 0 / 1 "), { index: 0, count: 1 });
    for (const bad of ["5/5", "1/0", "-1/3", "1", "a/b", "1/2/3", "1.5/3", ""]) {
      assert.throws(() => parseShard(bad), /--shard expects i\/n with 0 ≤ i < n/, bad);
    }
    assert.throws(() => shard(runs, 3, 3), SpecError);
  });

  it("named grids load from experiments/; gridRuns filters by condition and can change the preset", () => {
    const file = path.join(repoRoot, "experiments", "interventions.json");
    assert.deepEqual(loadGrid("interventions"), loadSpec(file));
    assert.deepEqual(gridRuns("interventions"), expandRuns(loadSpec(file)));
    const keep = gridRuns("interventions", { condition: "keep-sed", preset: "test" });
    assert.equal(keep.length, 2 * 3); // ops add, mul × seeds 42, 137, 2024
    for (const r of keep) {
      assert.equal(r.condition, "keep-sed");
      assert.equal(r.config.preset, "test");
      assert.equal(r.config.intervention?.mode, "keep-sed");
      assert.equal(r.id, runId(r.config));
    }
    assert.equal(gridRuns("interventions", { condition: ["keep-sed", "remove-sed"] }).length, 12);
    assert.throws(
      () => gridRuns("interventions", { condition: "keep-sde" }),
      (e: unknown) =>
        e instanceof SpecError && /no condition "keep-sde"; did you mean "keep-sed"\?/.test(e.message),
    );
    assert.throws(() => loadGrid("no-such-grid"), /cannot read sweep spec .*no-such-grid\.json/);
  });
});

describe("sweep status line", () => {
  const progress = (elapsedSeconds: number, etaSeconds: number) => ({
    step: 120,
    maxSteps: 150,
    elapsedSeconds,
    etaSeconds,
  });

  it("shows the bar, counts, running runs and an ETA from the finished runs' mean duration", () => {
    const line = statusLine({
      name: "g",
      total: 8,
      done: 3,
      failed: 1,
      running: [{ id: "a", progress: progress(30, 10) }, { id: "b" }],
      pending: 2,
      jobs: 2,
      elapsedSeconds: 65,
      durations: [60, 80],
    });
    // left: (70 − 30) + 70 for the running runs, 2 × 70 pending, over 2 workers = 125 s
    assert.equal(
      line,
      "g [########............] 3/8 runs done, 1 failed; running a 120/150, b starting; 1m05s elapsed, ETA ~2m05s",
    );
    assert.equal(
      statusLine({
        total: 4,
        done: 4,
        failed: 0,
        running: [],
        pending: 0,
        jobs: 2,
        elapsedSeconds: 3,
        durations: [1],
      }),
      "[####################] 4/4 runs done; 3s elapsed, ETA ~0s",
    );
  });

  it("before any run finishes, the ETA is an upper bound from the running runs' own estimates", () => {
    const running = [
      { id: "a", progress: progress(30, 10) },
      { id: "b", progress: progress(5, Infinity) },
      { id: "c" },
    ];
    // one known run: 40 s in all, 10 s left; the other 2 running and 3 pending take 40 s each; 3 workers
    assert.equal(sweepEta({ running, pending: 3, jobs: 3, durations: [] }), "≤1m10s");
    assert.equal(sweepEta({ running: [{ id: "c" }], pending: 0, jobs: 1, durations: [] }), "?");
  });

  it("formats a finished run's event line", () => {
    const m = { id: "add_x", grokStep: 450, steps: 600, testAcc: 0.991, wallSeconds: 123 };
    assert.equal(doneLine(m, 3, 8), "done   add_x: grok@450, 600 steps, test 99.1%, 2m03s [3/8]");
    assert.match(doneLine({ ...m, grokStep: null }, 3, 8), /: no grok, 600 steps/);
  });
});

// End to end: the CLI in its own process group, on temp folders, at the tiny test preset.
const E2E_SPEC = {
  name: "e2e",
  preset: "test",
  ops: ["add", "sub"],
  seeds: [1, 2],
  // Long enough (≈2 s a run) that an interruption lands mid-run; every run goes to maxSteps.
  base: { maxSteps: 200, saveEvery: 25, stopAfterEvals: 1000 },
};

const E2E_IDS = expandRuns(validateSpec(E2E_SPEC)).map((r) => r.id);

interface Env {
  dir: string;
  runs: string;
  ck: string;
  spec: string;
}

function freshEnv(): Env {
  const dir = freshDir("e2e");
  const spec = path.join(dir, "spec.json");
  fs.writeFileSync(spec, JSON.stringify(E2E_SPEC));
  return { dir, runs: path.join(dir, "data", "runs"), ck: path.join(dir, "ck"), spec };
}

interface Sweep {
  pid: number;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
}

/** `pin`: extra environment, e.g. samePathEnv() so that separate sweeps share one compute path. */
function startSweep(env: Env, pin: Record<string, string>, ...args: string[]): Sweep {
  const child = spawn(process.execPath, [bin, "sweep", env.spec, "--jobs", "2", ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...pin, SEDLAB_DATA: path.join(env.dir, "data"), SEDLAB_CHECKPOINTS: env.ck },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so a test can kill the sweep and its workers together
  });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((res) =>
    child.on("close", (code, signal) => res({ code, signal, out })),
  );
  return { pid: child.pid as number, done };
}

async function sweepOk(env: Env, pin: Record<string, string>, ...args: string[]): Promise<string> {
  const r = await startSweep(env, pin, ...args).done;
  assert.equal(r.code, 0, r.out);
  return r.out;
}

const files = (dir: string, ext: string) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(ext)) : [];

/** id → record without the fields that legitimately differ between two runs of the same config. */
function records(env: Env): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const f of files(env.runs, ".json").sort()) {
    const { date: _d, wallSeconds: _w, ...rest } = loadRecord(path.join(env.runs, f));
    m.set(f, rest);
  }
  return m;
}

/**
 * Resolves once some run is done and another, without a record, has checkpointed no further than half way, so an
 * interruption now leaves it in flight. (Both workers start together and finish their first runs within
 * milliseconds: the checkpoint beside the first record is often the second run's last, and on a loaded machine
 * that run finished before the stop reached it, leaving nothing in flight.)
 */
async function midway(env: Env, sweep: Sweep): Promise<void> {
  let exited = false;
  void sweep.done.then(() => {
    exited = true;
  });
  const halfWay = E2E_SPEC.base.maxSteps / 2;
  const earlyInFlight = () => {
    const done = files(env.runs, ".json");
    if (done.length === 0) return false;
    return E2E_IDS.some((id) => {
      if (done.includes(`${id}.json`)) return false;
      try {
        const step = loadCheckpoint(checkpointPath(env.ck, id))?.header.step;
        return typeof step === "number" && step <= halfWay;
      } catch {
        return false; // removed between its existence check and the read: that run just finished
      }
    });
  };
  while (!earlyInFlight()) {
    if (exited) assert.fail(`sweep ended before it could be interrupted:\n${(await sweep.done).out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The compute paths each record names: its own (backend + BLAS), then each segment's. */
const pathsOf = (env: Env) =>
  files(env.runs, ".json").map((f) => {
    const r = loadRecord(path.join(env.runs, f));
    return [computePathOf(r.backend, r.blas), ...(r.segments ?? []).map((s) => s.backend)].join(" | ");
  });

describe("sweep end to end", () => {
  let reference: Map<string, unknown> | undefined;
  const ids = E2E_IDS.map((id) => `${id}.json`);
  // The sweeps compared with `reference` are separate processes: each would time BLAS against wasm at start-up,
  // which can flip under load. They take this process's decision instead (one sweep's own is tested below).
  let pin: Record<string, string> = {};
  before(async () => {
    await initBackend(); // this process's path, which the records are checked against
    pin = await samePathEnv();
  });

  it("a 2-job sweep of 4 runs trains them all; a rerun does nothing", async () => {
    const env = freshEnv();
    const out = await sweepOk(env, pin);
    assert.match(out, /4 of 4 runs done \(4 trained, 0 skipped\)/);
    reference = records(env);
    assert.deepEqual([...reference.keys()], [...ids].sort());
    const blas = activeBlas();
    for (const f of ids) {
      assert.equal(
        loadRecord(path.join(env.runs, f)).blas,
        blas ?? undefined,
        `${f} took this process's path`,
      );
    }
    assert.deepEqual(files(env.ck, ".ckpt"), [], "finished runs leave no checkpoints");

    const mtimes = files(env.runs, ".json").map((f) => fs.statSync(path.join(env.runs, f)).mtimeMs);
    const t0 = performance.now();
    const again = await sweepOk(env, pin);
    assert.match(again, /4 of 4 runs done \(0 trained, 4 skipped\)/);
    assert.ok(performance.now() - t0 < 20_000, "a rerun only checks the records");
    assert.deepEqual(
      files(env.runs, ".json").map((f) => fs.statSync(path.join(env.runs, f)).mtimeMs),
      mtimes,
      "no record rewritten",
    );
    assert.deepEqual(files(env.runs, ""), files(env.runs, ".json"), "no stray files next to the records");

    // Shards of the same spec split the work: shard 1/2 has runs 1 and 3, both done.
    const sh = await sweepOk(env, pin, "--shard", "1/2", "--dry-run");
    assert.match(sh, /shard 1\/2: 2 of 4 runs/);
    assert.deepEqual(
      [...sh.matchAll(/^ {2}done +(\S+)$/gm)].map((m) => `${m[1]}.json`),
      [ids[1], ids[3]],
      sh,
    );

    // A truncated record is listed as invalid with its reason, then moved aside and retrained, never silently.
    const victim = path.join(env.runs, ids[0]);
    fs.writeFileSync(victim, fs.readFileSync(victim, "utf8").slice(0, 100));
    const dry = await sweepOk(env, pin, "--dry-run");
    assert.match(
      dry,
      new RegExp(`^ {2}invalid +${ids[0].replace(".json", "")}\\n +.*is corrupt \\(not valid JSON`, "m"),
    );
    const repaired = await sweepOk(env, pin);
    assert.match(repaired, /4 of 4 runs done \(1 trained, 3 skipped\)/);
    assert.match(repaired, /moved the invalid record .* aside to .*\.invalid-/);
    assert.equal(files(env.runs, "").filter((f) => f.startsWith(`${ids[0]}.invalid-`)).length, 1);
    assert.deepEqual(records(env).get(ids[0]), reference?.get(ids[0]));
  });

  for (const how of ["SIGINT", "SIGKILL"] as const) {
    it(`a sweep killed with ${how} midway resumes on rerun to the same records`, async () => {
      assert.ok(reference, "needs the uninterrupted sweep's records");
      const env = freshEnv();
      const sweep = startSweep(env, pin);
      await midway(env, sweep);
      // SIGINT goes to the sweep alone (it must stop its workers); SIGKILL to the whole process group.
      if (how === "SIGINT") process.kill(sweep.pid, "SIGINT");
      else process.kill(-sweep.pid, "SIGKILL");
      const r = await sweep.done;
      if (how === "SIGINT") {
        assert.equal(r.code, 130, r.out);
        assert.match(r.out, /interrupted: [0-3] of 4 runs done; rerun the same command to resume/);
      } else {
        assert.equal(r.signal, "SIGKILL");
      }
      const partial = records(env);
      assert.ok(partial.size >= 1 && partial.size < 4, `some but not all runs done (${partial.size})`);
      assert.ok(files(env.ck, ".ckpt").length >= 1, "interrupted runs left checkpoints");

      const out = await sweepOk(env, pin);
      assert.match(out, /resume \S+ \(resuming from step \d+\)/);
      assert.match(
        out,
        new RegExp(`4 of 4 runs done \\(${4 - partial.size} trained, ${partial.size} skipped\\)`),
      );
      assert.deepEqual(records(env), reference);
      assert.deepEqual(files(env.ck, ".ckpt"), []);
    });
  }

  it("a failing run is reported with its id; the others finish; exit code 1", async () => {
    const env = freshEnv();
    const bad = ids[2].replace(".json", "");
    fs.mkdirSync(env.ck, { recursive: true });
    fs.writeFileSync(path.join(env.ck, `${bad}.ckpt`), "not a checkpoint");
    // Not pinned: the sweep times BLAS against wasm itself, once, and hands its decision to every worker.
    const r = await startSweep(env, {}).done;
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`FAILED ${bad}: checkpoint .* is unreadable`));
    assert.match(r.out, /3 of 4 runs done \(3 trained, 0 skipped, 1 failed\)/);
    assert.deepEqual([...records(env).keys()], ids.filter((f) => f !== `${bad}.json`).sort());
    const paths = pathsOf(env);
    assert.equal(new Set(paths).size, 1, `one sweep, one compute path:\n${paths.join("\n")}`);
  });
});

describe("sweep skipping", () => {
  it("a done run's stale checkpoint (killed between record and cleanup) is removed", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-stale-"));
    const ck = path.join(dir, "ck");
    const runs = path.join(dir, "runs");
    const config = makeConfig({ preset: "test", op: "add", seed: 3, maxSteps: 25 });
    const id = runId(config);
    await trainRun(config, { recordDir: runs, checkpointDir: null });
    fs.mkdirSync(ck, { recursive: true });
    const stale = checkpointPath(ck, id);
    fs.writeFileSync(stale, "left over");
    const before = process.env.SEDLAB_CHECKPOINTS;
    process.env.SEDLAB_CHECKPOINTS = ck;
    try {
      const res = await runSweep([{ id, config, condition: null }], {
        recordDir: runs,
        jobs: 1,
        progress: null,
        log: () => {},
      });
      assert.deepEqual(res.skipped, [id]);
    } finally {
      if (before === undefined) delete process.env.SEDLAB_CHECKPOINTS;
      else process.env.SEDLAB_CHECKPOINTS = before;
    }
    assert.equal(fs.existsSync(stale), false);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
