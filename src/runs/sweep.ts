// Sweeps: a grid spec (presets × ops/exprs × conditions × seeds) expanded into runs and trained in a pool of
// worker processes (wasm runs one thread per process, so parallelism means processes). Runs with a valid record
// are skipped and interrupted ones resume from their checkpoints, so rerunning a sweep is always safe.
import { type ChildProcess, fork } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, extname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import {
  type ConfigOverrides,
  INTERVENTION_DEFAULTS,
  makeConfig,
  PRESETS,
  type PresetName,
  SED_DEFAULTS,
  type TrainConfig,
} from "../config/config";
import { findRecord, runId } from "../records/records";
import { type Progress, TrainingInterrupted, train } from "../train/train";
import { NODE_FLAGS } from "../util/nodeFlags";
import { checkpointsDir, repoRoot, runsDir } from "../util/paths";
import { formatDuration } from "../util/progress";
import { initBackend } from "./backend";
import { checkpointPath, loadCheckpoint, removeCheckpoint } from "./checkpointFile";

/** Config overrides a spec may set: any config field but the grid's axes (preset, op, expr, seed). */
export type SpecOverrides = Omit<ConfigOverrides, "preset" | "op" | "expr" | "seed">;

export interface SweepSpec {
  /** Label for progress and summaries (default: the spec file's name). */
  name?: string;
  /** Preset(s) every run starts from (default paper). */
  preset?: PresetName | PresetName[];
  /** Built-in operations. At least one of ops and exprs must be given, unless the runs are multitask runs
   * (`tasks` in base, or in every condition): then the grid has no operation axis. */
  ops?: string[];
  /** User operations (mathjs expressions in a and b). */
  exprs?: string[];
  seeds: number[];
  /** Named config overrides, each a separate arm of the grid, e.g. {"wd0": {"weightDecay": 0}}. */
  conditions?: Record<string, SpecOverrides>;
  /** Overrides applied to every run (conditions override these; object-valued fields such as sed merge). */
  base?: SpecOverrides;
  /** Folder for the run records (default data/runs; relative paths from the current directory). */
  out?: string;
}

/** One run of a sweep: its id, full config and the condition it belongs to (null: no conditions). */
export interface SweepRun {
  id: string;
  config: TrainConfig;
  condition: string | null;
}

export class SpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpecError";
  }
}

const SPEC_KEYS = ["name", "preset", "ops", "exprs", "seeds", "conditions", "base", "out"] as const;
/** Grid axes: setting them inside base or a condition would silently fight the grid. */
const AXIS_FIELDS: Record<string, string> = { preset: "preset", op: "ops", expr: "exprs", seed: "seeds" };

/** Closest allowed name, for "did you mean" hints on typos. */
function suggest(key: string, allowed: readonly string[]): string {
  const dist = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
      }
    }
    return row[b.length];
  };
  const lower = key.toLowerCase();
  const best = allowed.map((k) => ({ k, d: dist(lower, k.toLowerCase()) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? `; did you mean "${best.k}"?` : "";
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Config fields that are absent (off) by default, with their settings' defaults: `true` turns one on with
 * those defaults, an object overrides some of them. Fields with a default need no entry: the default config
 * lists them.
 */
const OPTIONAL_FIELDS: Record<string, Record<string, unknown>> = {
  sed: SED_DEFAULTS as unknown as Record<string, unknown>,
  intervention: INTERVENTION_DEFAULTS as unknown as Record<string, unknown>,
};

/** Config fields that are absent by default and take a list of strings (multitask: the built-in ops). */
const LIST_FIELDS = ["tasks"];

/** A value of the same JSON type as `like` (the default), or an error naming the field. */
function checkType(x: unknown, like: unknown, where: string): void {
  const want = Array.isArray(like) ? "list" : typeof like;
  const got = Array.isArray(x) ? "list" : x === null ? "null" : typeof x;
  if (got !== want) throw new SpecError(`${where} must be a ${want}, got ${JSON.stringify(x)}`);
}

/** Check a config-override object field by field against TrainConfig's fields and their types. */
function validateOverrides(v: unknown, where: string): SpecOverrides {
  if (!isObject(v))
    throw new SpecError(`${where} must be an object of config fields, e.g. {"weightDecay": 0}`);
  // The default config names every field with a default (and its type), so such fields added to TrainConfig
  // later need no change here.
  const defaults = makeConfig() as unknown as Record<string, unknown>;
  const known = [...Object.keys(defaults), ...Object.keys(OPTIONAL_FIELDS), ...LIST_FIELDS].filter(
    (k) => !(k in AXIS_FIELDS),
  );
  for (const [k, x] of Object.entries(v)) {
    if (k in AXIS_FIELDS) {
      throw new SpecError(`${where}.${k} is not allowed: set it with the spec's "${AXIS_FIELDS[k]}" field`);
    }
    if (LIST_FIELDS.includes(k)) {
      if (!Array.isArray(x) || !x.every((e) => typeof e === "string"))
        throw new SpecError(`${where}.${k} must be a list of strings, got ${JSON.stringify(x)}`);
      continue;
    }
    const settings = OPTIONAL_FIELDS[k];
    if (settings) {
      if (typeof x === "boolean") continue;
      if (!isObject(x)) {
        throw new SpecError(
          `${where}.${k} must be true, false or an object of ${k} settings, got ${JSON.stringify(x)}`,
        );
      }
      const names = Object.keys(settings);
      for (const [sk, sx] of Object.entries(x)) {
        if (!(sk in settings)) {
          throw new SpecError(
            `${where}.${k}: unknown setting "${sk}"${suggest(sk, names)} (settings: ${names.join(", ")})`,
          );
        }
        checkType(sx, settings[sk], `${where}.${k}.${sk}`);
      }
      continue;
    }
    if (!(k in defaults)) {
      throw new SpecError(
        `${where}: unknown config field "${k}"${suggest(k, known)} (fields: ${known.join(", ")})`,
      );
    }
    checkType(x, defaults[k], `${where}.${k}`);
  }
  return v as SpecOverrides;
}

/** base, then the condition; object-valued fields (e.g. sed settings) merge one level deep. */
function mergeOverrides(base: SpecOverrides = {}, over: SpecOverrides = {}): SpecOverrides {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? { ...prev, ...v } : v;
  }
  return out as SpecOverrides;
}

function stringList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "string" && x.trim() !== "")) {
    throw new SpecError(
      `field "${field}" must be a non-empty list of non-empty strings, got ${JSON.stringify(v)}`,
    );
  }
  return v as string[];
}

/** Validate a parsed spec; errors name the field (`where` prefixes them, e.g. the file). */
export function validateSpec(obj: unknown, where = "sweep spec"): SweepSpec {
  try {
    if (!isObject(obj)) throw new SpecError("must be an object (a mapping of fields)");
    for (const k of Object.keys(obj)) {
      if (!(SPEC_KEYS as readonly string[]).includes(k)) {
        throw new SpecError(`unknown field "${k}"${suggest(k, SPEC_KEYS)} (fields: ${SPEC_KEYS.join(", ")})`);
      }
    }
    const spec: SweepSpec = { seeds: [] };
    if (obj.name !== undefined) {
      if (typeof obj.name !== "string" || obj.name === "")
        throw new SpecError(`field "name" must be a non-empty string`);
      spec.name = obj.name;
    }
    if (obj.preset !== undefined) {
      const list = Array.isArray(obj.preset) ? obj.preset : [obj.preset];
      if (list.length === 0) throw new SpecError(`field "preset" must not be an empty list`);
      for (const p of list) {
        if (!PRESETS.includes(p as PresetName)) {
          throw new SpecError(
            `field "preset": unknown preset ${JSON.stringify(p)}; choose from ${PRESETS.join(", ")}`,
          );
        }
      }
      spec.preset = obj.preset as SweepSpec["preset"];
    }
    if (obj.ops !== undefined) spec.ops = stringList(obj.ops, "ops");
    if (obj.exprs !== undefined) spec.exprs = stringList(obj.exprs, "exprs");
    // Multitask grids name their tasks in base (or in every condition) instead of an operation axis.
    const hasTasks = (o: unknown) => isObject(o) && o.tasks !== undefined;
    const multitask =
      hasTasks(obj.base) ||
      (isObject(obj.conditions) &&
        Object.keys(obj.conditions).length > 0 &&
        Object.values(obj.conditions).every(hasTasks));
    if (spec.ops === undefined && spec.exprs === undefined && !multitask) {
      throw new SpecError(
        `give the operations to run: field "ops" (e.g. ["add", "sub"]) and/or "exprs", or "tasks" in base for multitask runs`,
      );
    }
    if (obj.seeds === undefined) throw new SpecError(`field "seeds" is required (e.g. [42, 137])`);
    if (!Array.isArray(obj.seeds) || obj.seeds.length === 0 || !obj.seeds.every((s) => Number.isInteger(s))) {
      throw new SpecError(
        `field "seeds" must be a non-empty list of integers, got ${JSON.stringify(obj.seeds)}`,
      );
    }
    spec.seeds = obj.seeds as number[];
    if (obj.base !== undefined) spec.base = validateOverrides(obj.base, "base");
    if (obj.conditions !== undefined) {
      if (!isObject(obj.conditions) || Object.keys(obj.conditions).length === 0) {
        throw new SpecError(`field "conditions" must be a non-empty mapping of name → config overrides`);
      }
      spec.conditions = {};
      for (const [name, c] of Object.entries(obj.conditions)) {
        spec.conditions[name] = validateOverrides(c, `conditions.${name}`);
      }
    }
    if (obj.out !== undefined) {
      if (typeof obj.out !== "string" || obj.out === "")
        throw new SpecError(`field "out" must be a folder path`);
      spec.out = obj.out;
    }
    // Every combination must make a valid config: fail now, not in a worker an hour into the sweep.
    expandRuns(spec);
    return spec;
  } catch (e) {
    if (e instanceof SpecError) throw new SpecError(`${where}: ${e.message}`);
    throw e;
  }
}

/** Read a spec file: JSON, or YAML for .yaml/.yml (and anything that is not valid JSON). */
export function loadSpec(path: string): SweepSpec {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SpecError(`cannot read sweep spec ${path}: ${(e as Error).message}`);
  }
  const ext = extname(path).toLowerCase();
  let obj: unknown;
  try {
    obj = ext === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new SpecError(
      `sweep spec ${path} is not valid ${ext === ".json" ? "JSON" : "YAML"}: ${(e as Error).message}`,
    );
  }
  const spec = validateSpec(obj, `sweep spec ${path}`);
  spec.name ??= basename(path, extname(path));
  return spec;
}

/** All runs of a spec in a fixed order (preset, then op/expr, then condition, then seed), duplicates dropped. */
export function expandRuns(spec: SweepSpec): SweepRun[] {
  const presets: PresetName[] =
    spec.preset === undefined ? ["paper"] : Array.isArray(spec.preset) ? spec.preset : [spec.preset];
  const tasks: { op?: string; expr?: string }[] = [
    ...(spec.ops ?? []).map((op) => ({ op })),
    ...(spec.exprs ?? []).map((expr) => ({ expr })),
  ];
  // A multitask grid (config.tasks in base or the conditions) has no operation axis.
  if (tasks.length === 0) tasks.push({});
  const conditions: [string | null, SpecOverrides][] = spec.conditions
    ? Object.entries(spec.conditions)
    : [[null, {}]];
  const runs: SweepRun[] = [];
  const seen = new Set<string>();
  for (const preset of presets) {
    for (const task of tasks) {
      for (const [condition, over] of conditions) {
        for (const seed of spec.seeds) {
          let config: TrainConfig;
          try {
            config = makeConfig({ ...mergeOverrides(spec.base, over), preset, ...task, seed });
          } catch (e) {
            const what = [
              `preset ${preset}`,
              task.op !== undefined
                ? `op ${task.op}`
                : task.expr !== undefined
                  ? `expr ${JSON.stringify(task.expr)}`
                  : "multitask",
              ...(condition === null ? [] : [`condition ${condition}`]),
            ].join(", ");
            throw new SpecError(`${what}: ${(e as Error).message}`);
          }
          const id = runId(config);
          if (seen.has(id)) continue;
          seen.add(id);
          runs.push({ id, config, condition });
        }
      }
    }
  }
  return runs;
}

/** The configs of all runs of a spec, in `expandRuns` order. */
export function expandSpec(spec: SweepSpec): TrainConfig[] {
  return expandRuns(spec).map((r) => r.config);
}

/** Parse "i/n" (0-based i, 0 ≤ i < n). */
export function parseShard(s: string): { index: number; count: number } {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(s);
  const index = m ? Number(m[1]) : Number.NaN;
  const count = m ? Number(m[2]) : Number.NaN;
  if (!m || count < 1 || index >= count) {
    throw new SpecError(`--shard expects i/n with 0 ≤ i < n (0-based: 0/3, 1/3, 2/3), got "${s}"`);
  }
  return { index, count };
}

/** Every n-th run starting at i: the shards 0/n … (n−1)/n partition the runs. */
export function shard<T>(runs: readonly T[], index: number, count: number): T[] {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new SpecError(`shard ${index}/${count} is invalid: need integers with 0 ≤ i < n`);
  }
  return runs.filter((_, k) => k % count === index);
}

// ---------------------------------------------------------------------------------------------------------
// Worker protocol (IPC between `sedlab sweep` and its `sedlab _worker` children).

type ToWorker = { type: "run"; id: string; config: TrainConfig; recordDir: string } | { type: "stop" };
type FromWorker =
  | { type: "ready" }
  | {
      type: "progress";
      id: string;
      step: number;
      maxSteps: number;
      elapsedSeconds: number;
      etaSeconds: number;
    }
  | { type: "done"; id: string; wallSeconds: number; steps: number; grokStep: number | null; testAcc: number }
  | { type: "interrupted"; id: string; step: number }
  | { type: "failed"; id: string; error: string };

/**
 * The hidden `sedlab _worker` command: trains the runs its parent sends, one at a time, reporting progress.
 * A stop message, SIGINT/SIGTERM or losing the parent aborts the current run (which saves a checkpoint).
 */
export async function sweepWorker(): Promise<number> {
  const send = process.send?.bind(process);
  if (!send) {
    console.error("sedlab _worker is internal: `sedlab sweep` starts it");
    return 2;
  }
  // Listeners go up before the (slow) backend start so an early stop message is not lost.
  const backend = initBackend();
  let controller: AbortController | undefined;
  let stopping = false;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    finish = r;
  });
  const post = (m: FromWorker) =>
    new Promise<void>((r) => {
      if (!process.connected) return r();
      send(m, undefined, {}, () => r());
    });
  const stop = () => {
    stopping = true;
    if (controller) controller.abort();
    else finish(0);
  };
  let signals = 0;
  const onSignal = () => {
    // A second Ctrl-C quits at once, as `sedlab train` does (the last periodic checkpoint remains).
    if (++signals > 1) process.exit(130);
    stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("disconnect", stop);
  process.on("message", async (m: ToWorker) => {
    if (m.type === "stop") return stop();
    if (m.type !== "run" || controller) return;
    if (stopping) {
      await post({ type: "interrupted", id: m.id, step: 0 });
      return;
    }
    controller = new AbortController();
    await backend;
    let last = 0;
    const onProgress = (p: Progress) => {
      const now = performance.now();
      if (now - last < 500 && p.step < p.maxSteps) return;
      last = now;
      const { step, maxSteps, elapsedSeconds, etaSeconds } = p;
      void post({ type: "progress", id: m.id, step, maxSteps, elapsedSeconds, etaSeconds });
    };
    try {
      const rec = await train(m.config, { signal: controller.signal, onProgress, recordDir: m.recordDir });
      await post({
        type: "done",
        id: m.id,
        wallSeconds: rec.wallSeconds,
        steps: rec.steps,
        grokStep: rec.grokStep,
        testAcc: rec.final.testAcc,
      });
    } catch (e) {
      if (e instanceof TrainingInterrupted) await post({ type: "interrupted", id: m.id, step: e.step });
      else await post({ type: "failed", id: m.id, error: (e as Error)?.message ?? String(e) });
    } finally {
      controller = undefined;
    }
    if (stopping) finish(130);
  });
  await backend;
  if (!stopping) await post({ type: "ready" });
  const code = await done;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  if (process.connected) process.disconnect();
  return code;
}

// ---------------------------------------------------------------------------------------------------------
// The runner.

export interface SweepOptions {
  /** Worker processes (default: the number of cores). */
  jobs?: number;
  /** Folder for the run records (default data/runs). */
  recordDir?: string;
  /** Aborting stops the workers (each saves a checkpoint) and ends the sweep as interrupted. */
  signal?: AbortSignal;
  /** Label for progress lines. */
  name?: string;
  /** Event lines (a run done, failed, …); default: stdout. */
  log?: (line: string) => void;
  /** Progress display; null: none. Default: stderr, redrawn on a TTY, a line every 10 s otherwise. */
  progress?: NodeJS.WriteStream | null;
  /** The `sedlab` entry the workers run (default: bin/sedlab.mjs of this checkout). */
  workerScript?: string;
}

export interface SweepResult {
  total: number;
  skipped: string[];
  trained: string[];
  failed: { id: string; error: string }[];
  /** Runs started but stopped by an interruption (they resume from their checkpoints). */
  interrupted: string[];
  /** Runs never started (interruption, or no worker could start). */
  notStarted: string[];
  /** The sweep was stopped by its signal. */
  aborted: boolean;
  seconds: number;
}

interface Slot {
  child: ChildProcess;
  ready: boolean;
  /** Told to exit: its exit is expected. */
  retiring: boolean;
  run?: SweepRun;
  progress?: { step: number; maxSteps: number; elapsedSeconds: number; etaSeconds: number };
  stderr: string;
}

/**
 * A run is done when its valid record exists. A process killed between writing the record and removing its
 * checkpoint leaves a stale checkpoint behind: remove it here, since the run will never resume.
 */
function isDone(r: SweepRun, recordDir?: string): boolean {
  if (!findRecord(r.config, recordDir)) return false;
  removeCheckpoint(checkpointPath(checkpointsDir(), r.id));
  return true;
}

/** Train the runs that have no valid record yet, `jobs` at a time in worker processes. */
export async function runSweep(runs: readonly SweepRun[], opts: SweepOptions = {}): Promise<SweepResult> {
  const t0 = performance.now();
  const recordDir = resolve(opts.recordDir ?? runsDir());
  const log = opts.log ?? ((l: string) => console.log(l));
  const result: SweepResult = {
    total: runs.length,
    skipped: [],
    trained: [],
    failed: [],
    interrupted: [],
    notStarted: [],
    aborted: false,
    seconds: 0,
  };
  const pending: SweepRun[] = [];
  for (const r of runs) {
    if (isDone(r, recordDir)) result.skipped.push(r.id);
    else pending.push(r);
  }
  const jobs = Math.max(1, Math.min(opts.jobs ?? availableParallelism(), pending.length));
  if (pending.length === 0) {
    result.seconds = (performance.now() - t0) / 1000;
    return result;
  }

  const display = opts.progress === undefined ? process.stderr : opts.progress;
  const durations: number[] = [];
  const slots = new Set<Slot>();
  let startFailures = 0;
  let stopping = false;
  let lastDraw = 0;
  let drawn = false;
  const doneCount = () => result.skipped.length + result.trained.length;

  const line = (): string => {
    const n = result.total;
    const width = 20;
    const filled = Math.round((doneCount() / n) * width);
    const running = [...slots].filter((s) => s.run);
    const run = running
      .map((s) => `${s.run?.id} ${s.progress ? `${s.progress.step}/${s.progress.maxSteps}` : "starting"}`)
      .join(", ");
    const elapsed = (performance.now() - t0) / 1000;
    return (
      `${opts.name ? `${opts.name} ` : ""}[${"#".repeat(filled)}${".".repeat(width - filled)}] ` +
      `${doneCount()}/${n} runs done${result.failed.length ? `, ${result.failed.length} failed` : ""}` +
      `${running.length ? `; running ${run}` : ""}; ${formatDuration(elapsed)} elapsed, ETA ${eta(running)}`
    );
  };
  // From completed runs' durations once there are some; before that the running runs' own upper bounds.
  const eta = (running: Slot[]): string => {
    const workers = Math.max(1, Math.min(jobs, running.length + pending.length));
    if (durations.length > 0) {
      const avg = durations.reduce((a, b) => a + b, 0) / durations.length;
      const left = running.reduce((s, r) => s + Math.max(0, avg - (r.progress?.elapsedSeconds ?? 0)), 0);
      return `~${formatDuration((left + pending.length * avg) / workers)}`;
    }
    const known = running.filter((r) => r.progress && Number.isFinite(r.progress.etaSeconds));
    if (known.length === 0) return "?";
    const total = known.map((r) => (r.progress?.elapsedSeconds ?? 0) + (r.progress?.etaSeconds ?? 0));
    const avg = total.reduce((a, b) => a + b, 0) / total.length;
    const left = known.reduce((s, r) => s + (r.progress?.etaSeconds ?? 0), 0);
    return `≤${formatDuration((left + (running.length - known.length + pending.length) * avg) / workers)}`;
  };
  const draw = (force = false) => {
    if (!display) return;
    const now = performance.now();
    if (display.isTTY) {
      if (!force && now - lastDraw < 200) return;
      display.write(`\r${line().slice(0, (display.columns ?? 120) - 1)}\x1b[K`);
      drawn = true;
    } else {
      // Logs get events as their own lines; a periodic status line is enough besides.
      if (force || now - lastDraw < 10_000) return;
      display.write(`${line()}\n`);
    }
    lastDraw = now;
  };
  const event = (l: string) => {
    if (display?.isTTY && drawn) display.write("\r\x1b[K");
    log(l);
    draw(true);
  };

  const script = opts.workerScript ?? join(repoRoot(), "bin", "sedlab.mjs");
  let settle: () => void = () => {};
  const finished = new Promise<void>((r) => {
    settle = r;
  });
  const maybeSettle = () => {
    if (slots.size === 0) settle();
  };

  const dispatch = (slot: Slot) => {
    if (slot.run || !slot.ready || slot.retiring) return;
    let next: SweepRun | undefined;
    while (!stopping && pending.length > 0 && !next) {
      const r = pending.shift() as SweepRun;
      // Another process (a second sweep on a shared disk) may have finished it meanwhile.
      if (isDone(r, recordDir)) result.skipped.push(r.id);
      else next = r;
    }
    if (!next) {
      slot.retiring = true;
      slot.child.send({ type: "stop" } satisfies ToWorker);
      return;
    }
    slot.run = next;
    slot.progress = undefined;
    const ck = checkpointPath(checkpointsDir(), next.id);
    let resume = "";
    try {
      const step = existsSync(ck) ? loadCheckpoint(ck)?.header.step : undefined;
      if (typeof step === "number") resume = ` (resuming from step ${step})`;
    } catch {
      // an unreadable checkpoint is reported by the worker's train() as the run's error
    }
    if (resume) event(`resume ${next.id}${resume}`);
    slot.child.send({ type: "run", id: next.id, config: next.config, recordDir } satisfies ToWorker);
  };

  const onMessage = (slot: Slot, m: FromWorker) => {
    switch (m.type) {
      case "ready":
        slot.ready = true;
        dispatch(slot);
        return;
      case "progress":
        slot.progress = m;
        draw();
        return;
    }
    // The run is over: free the slot first so the status line drops it.
    slot.run = undefined;
    slot.progress = undefined;
    switch (m.type) {
      case "done": {
        durations.push(m.wallSeconds);
        result.trained.push(m.id);
        const g = m.grokStep === null ? "no grok" : `grok@${m.grokStep}`;
        event(
          `done   ${m.id}: ${g}, ${m.steps} steps, test ${(100 * m.testAcc).toFixed(1)}%, ` +
            `${formatDuration(m.wallSeconds)} [${doneCount()}/${result.total}]`,
        );
        break;
      }
      case "interrupted":
        result.interrupted.push(m.id);
        break;
      case "failed":
        result.failed.push({ id: m.id, error: m.error });
        event(`FAILED ${m.id}: ${m.error}`);
        break;
    }
    dispatch(slot);
  };

  const onExit = (slot: Slot, code: number | null, sig: NodeJS.Signals | null) => {
    slots.delete(slot);
    const how = sig ? `signal ${sig}` : `code ${code}`;
    const tail = slot.stderr.trim().split("\n").slice(-5).join("\n    ");
    if (slot.run) {
      // Killed while training, e.g. a second Ctrl-C: its last checkpoint stands.
      if (stopping) result.interrupted.push(slot.run.id);
      else {
        const error = `worker exited with ${how}${tail ? `:\n    ${tail}` : ""}`;
        result.failed.push({ id: slot.run.id, error });
        event(`FAILED ${slot.run.id}: ${error}`);
      }
    } else if (!slot.ready && !stopping) {
      startFailures += 1;
      event(`a worker failed to start (${how})${tail ? `:\n    ${tail}` : ""}`);
    }
    // Replace a lost worker while there is work, unless workers cannot even start.
    if (!stopping && pending.length > 0 && startFailures < 2) spawn();
    maybeSettle();
  };

  const spawn = () => {
    const child = fork(script, ["_worker"], {
      // The parent's flags (e.g. node --test's) are not the worker's; the bin script registers tsx itself.
      execArgv: [...NODE_FLAGS],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      env: process.env,
    });
    const slot: Slot = { child, ready: false, retiring: false, stderr: "" };
    slots.add(slot);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      slot.stderr = (slot.stderr + d).slice(-4000);
    });
    child.on("message", (m: FromWorker) => onMessage(slot, m));
    child.on("error", (e) => {
      slot.stderr += `\n${e.message}`;
    });
    child.on("exit", (code, sig) => onExit(slot, code, sig));
  };

  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    result.aborted = true;
    for (const s of slots) {
      if (s.child.connected) s.child.send({ type: "stop" } satisfies ToWorker);
    }
  };
  if (opts.signal?.aborted) stopAll();
  else opts.signal?.addEventListener("abort", stopAll, { once: true });

  if (!stopping) for (let k = 0; k < jobs; k++) spawn();
  if (slots.size > 0) await finished;
  opts.signal?.removeEventListener("abort", stopAll);
  if (display?.isTTY && drawn) display.write("\r\x1b[K");

  result.notStarted = pending.map((r) => r.id);
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// The `sedlab sweep` command.

export const SWEEP_HELP = `sedlab sweep <spec.json|spec.yaml> [options]

Trains every run of a grid: presets × ops/exprs × conditions × seeds. Runs with a valid record are skipped,
interrupted ones resume from their checkpoints: rerun the same command after Ctrl-C, a crash or a kill.

options:
  --jobs N       worker processes (default: number of cores; each wasm worker uses one core)
  --shard i/n    run only runs i, i+n, i+2n, … (0-based) to spread one spec over machines or batch jobs
  --dry-run      list the runs and which are done or resumable, train nothing

spec fields: name, preset (name or list), ops, exprs, seeds, base (config overrides for every run),
conditions (named overrides, e.g. {"wd0": {"weightDecay": 0}, "sed": {"sed": true}}), out (record folder,
default data/runs). Example: experiments/quick-demo.json`;

export async function sweepCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        jobs: { type: "string", short: "j" },
        shard: { type: "string" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    console.error(`sedlab sweep: ${(e as Error).message}\n\n${SWEEP_HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(SWEEP_HELP);
    return 0;
  }
  try {
    if (positionals.length !== 1) throw new SpecError(`give one spec file\n\n${SWEEP_HELP}`);
    let jobs: number | undefined;
    if (values.jobs !== undefined) {
      jobs = Number(values.jobs);
      if (!Number.isInteger(jobs) || jobs < 1)
        throw new SpecError(`--jobs expects a positive integer, got "${values.jobs}"`);
    }
    const sh = values.shard === undefined ? undefined : parseShard(values.shard as string);
    const spec = loadSpec(positionals[0]);
    const all = expandRuns(spec);
    const runs = sh ? shard(all, sh.index, sh.count) : all;
    const recordDir = spec.out === undefined ? runsDir() : resolve(spec.out);
    const where = sh
      ? `shard ${sh.index}/${sh.count}: ${runs.length} of ${all.length} runs`
      : `${runs.length} runs`;
    if (values["dry-run"]) return dryRun(spec.name ?? "sweep", where, runs, recordDir);
    return await runCommand(spec.name ?? "sweep", where, runs, recordDir, jobs);
  } catch (e) {
    if (e instanceof SpecError) {
      console.error(`sedlab sweep: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

function dryRun(name: string, where: string, runs: SweepRun[], recordDir: string): number {
  const rows = runs.map((r) => {
    if (findRecord(r.config, recordDir)) return { r, state: "done" };
    const ck = checkpointPath(checkpointsDir(), r.id);
    if (!existsSync(ck)) return { r, state: "todo" };
    try {
      return { r, state: `resume@${loadCheckpoint(ck)?.header.step}` };
    } catch {
      return { r, state: "bad-ckpt" };
    }
  });
  const done = rows.filter((x) => x.state === "done").length;
  console.log(
    `sweep ${name} (${where}): ${done} done, ${runs.length - done} to train; records in ${recordDir}`,
  );
  for (const { r, state } of rows) {
    console.log(`  ${state.padEnd(12)} ${r.id}${r.condition === null ? "" : `  [${r.condition}]`}`);
  }
  return 0;
}

async function runCommand(
  name: string,
  where: string,
  runs: SweepRun[],
  recordDir: string,
  jobs: number | undefined,
): Promise<number> {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    // A second Ctrl-C quits at once; workers notice the lost parent and stop after checkpointing.
    if (signals > 1) process.exit(130);
    console.error(
      "\ninterrupt: stopping the workers (each saves a checkpoint; Ctrl-C again to quit at once)",
    );
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const n = Math.min(jobs ?? availableParallelism(), runs.length);
  console.log(
    `sweep ${name} (${where}) with up to ${n} worker${n === 1 ? "" : "s"}; records in ${recordDir}`,
  );
  let res: SweepResult;
  try {
    res = await runSweep(runs, { jobs, recordDir, signal: controller.signal, name });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const done = res.skipped.length + res.trained.length;
  for (const f of res.failed) console.error(`failed: ${f.id}: ${f.error}`);
  if (res.aborted && done < res.total) {
    console.log(
      `interrupted: ${done} of ${res.total} runs done; rerun the same command to resume (${formatDuration(res.seconds)})`,
    );
    return 130;
  }
  const unstarted = res.notStarted.length ? `, ${res.notStarted.length} not started` : "";
  console.log(
    `sweep ${name}: ${done} of ${res.total} runs done (${res.trained.length} trained, ${res.skipped.length} skipped` +
      `${res.failed.length ? `, ${res.failed.length} failed` : ""}${unstarted}) in ${formatDuration(res.seconds)}`,
  );
  return res.failed.length > 0 || res.notStarted.length > 0 ? 1 : 0;
}
