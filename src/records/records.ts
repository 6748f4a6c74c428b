// Run records: one JSON file per run under data/runs/, the only thing analysis, notebooks and reports read.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  canonicalJson,
  INTERVENTION_DEFAULTS,
  makeConfig,
  overridesOf,
  type TrainConfig,
} from "../config/config";
import { writeFileAtomic } from "../util/atomic";
import { runsDir } from "../util/paths";

export const RECORD_SCHEMA = "sedlab.run";
/** Bump when a change makes old records unreadable; loading then says so instead of misreading them. */
export const RECORD_VERSION = 1;

export interface MetricPoint {
  step: number;
  /** Train loss (multitask: the sum of the tasks' mean cross-entropies, the training objective). */
  loss: number;
  /** Accuracies (multitask: the lowest over the tasks). */
  trainAcc: number;
  testAcc: number;
  /** Multitask only: each task's own numbers. */
  tasks?: Record<string, TaskMetrics>;
}

export interface TaskMetrics {
  loss: number;
  trainAcc: number;
  testAcc: number;
}

export interface RunRecord {
  schema: typeof RECORD_SCHEMA;
  schemaVersion: number;
  id: string;
  config: TrainConfig;
  /** Task label, e.g. "add" or the normalised expression. */
  task: string;
  backend: string;
  sedlabVersion: string;
  commit: string;
  date: string;
  wallSeconds: number;
  steps: number;
  stopReason: "converged" | "maxSteps";
  metrics: MetricPoint[];
  /** First eval step with test accuracy ≥ 0.5 (the paper's grokking step; multitask: of every task at once). */
  grokStep: number | null;
  firstTest98Step: number | null;
  final: MetricPoint;
  /** Multitask only: each task's grok step (its first eval with test accuracy ≥ 0.5) and first ≥ 0.98. */
  grokSteps?: Record<string, number | null>;
  firstTest98Steps?: Record<string, number | null>;
  /** Observers' results (e.g. `coupling`), keyed by observer. */
  [extra: string]: unknown;
}

export class RecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordError";
  }
}

function slug(s: string): string {
  return s
    .replace(/\s+/g, "")
    .replace(/[^A-Za-z0-9_+-]+/g, "_")
    .slice(0, 40);
}

/**
 * Stable id: task, p, preset, seed, plus a short hash of any field changed from the preset's defaults.
 * Multitask runs are named `mt-<task>+<task>…`, with `_c<spacing>` when checkpointEvery is not the default.
 */
export function runId(c: TrainConfig): string {
  const task = c.tasks ? `mt-${c.tasks.join("+")}` : (c.op ?? `expr-${slug(c.expr ?? "")}`);
  const extra = overridesOf(c);
  delete extra.p;
  let id = `${task}_p${c.p}_${c.preset}_seed${c.seed}`;
  // Runs with the preset's default diagnostics are named "_sed"; other diagnostics settings go into the hash.
  // (A multitask run's default measurement spacing follows its checkpoint spacing.)
  const defaultSed = makeConfig({
    preset: c.preset,
    sed: true,
    tasks: c.tasks,
    checkpointEvery: c.tasks ? c.checkpointEvery : undefined,
  }).sed;
  if (c.sed && canonicalJson(c.sed) === canonicalJson(defaultSed)) {
    delete extra.sed;
    id += "_sed";
  }
  if (c.tasks && extra.checkpointEvery !== undefined) {
    id += `_c${c.checkpointEvery}`;
    delete extra.checkpointEvery;
  }
  // Interventions are named by mode (plus projection and rank when not the defaults), e.g. "_keep-sed".
  if (c.intervention) {
    const { mode, projection, rank, ...other } = c.intervention;
    const { mode: _m, projection: _p, rank: _r, ...otherDefault } = INTERVENTION_DEFAULTS;
    id += `_${mode}${projection === "update" ? "-update" : ""}${rank === INTERVENTION_DEFAULTS.rank ? "" : `-r${rank}`}`;
    if (canonicalJson(other) === canonicalJson(otherDefault)) delete extra.intervention;
  }
  if (c.expr !== undefined) id += `_${hash(c.expr)}`;
  if (Object.keys(extra).length > 0) id += `_${hash(canonicalJson(extra))}`;
  return id;
}

function hash(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 8);
}

export function recordPath(id: string, dir = runsDir()): string {
  return join(dir, `${id}.json`);
}

export function saveRecord(r: RunRecord, dir = runsDir()): string {
  const path = recordPath(r.id, dir);
  writeFileAtomic(path, `${JSON.stringify(r, null, 1)}\n`);
  return path;
}

/** Load and validate a record; errors say which file and what is wrong. */
export function loadRecord(path: string): RunRecord {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new RecordError(`cannot read run record ${path}: ${(e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new RecordError(
      `run record ${path} is corrupt (not valid JSON: ${(e as Error).message}); delete it and rerun`,
    );
  }
  validateRecord(obj, path);
  return obj;
}

export function validateRecord(obj: unknown, where = "run record"): asserts obj is RunRecord {
  const fail = (msg: string): never => {
    throw new RecordError(`${where}: ${msg}`);
  };
  if (typeof obj !== "object" || obj === null) fail("not a JSON object");
  const r = obj as Record<string, unknown>;
  if (r.schema !== RECORD_SCHEMA) fail(`not a sedlab run record (schema ${JSON.stringify(r.schema)})`);
  if (r.schemaVersion !== RECORD_VERSION) {
    fail(
      `written by an incompatible sedlab version (record schema v${r.schemaVersion}, this sedlab reads v${RECORD_VERSION}); regenerate it`,
    );
  }
  for (const k of ["id", "task", "backend", "commit", "date", "stopReason"]) {
    if (typeof r[k] !== "string") fail(`field "${k}" missing or not a string`);
  }
  for (const k of ["wallSeconds", "steps"]) {
    if (typeof r[k] !== "number" || !Number.isFinite(r[k])) fail(`field "${k}" missing or not a number`);
  }
  if (typeof r.config !== "object" || r.config === null) fail(`field "config" missing`);
  const c = r.config as Record<string, unknown>;
  for (const k of ["p", "seed", "d", "layers", "maxSteps", "checkpointEvery"]) {
    if (typeof c[k] !== "number") fail(`config.${k} missing or not a number`);
  }
  if (!Array.isArray(r.metrics) || r.metrics.length === 0) fail(`field "metrics" missing or empty`);
  for (const m of r.metrics as unknown[]) {
    const mm = m as Record<string, unknown>;
    if (!["step", "loss", "trainAcc", "testAcc"].every((k) => typeof mm?.[k] === "number")) {
      fail("a metrics entry lacks step/loss/trainAcc/testAcc numbers");
    }
  }
  for (const k of ["grokStep", "firstTest98Step"]) {
    if (r[k] !== null && typeof r[k] !== "number") fail(`field "${k}" must be a number or null`);
  }
}

/** The record for this exact config, if one exists and is valid (invalid ones count as missing). */
export function findRecord(c: TrainConfig, dir = runsDir()): RunRecord | undefined {
  const path = recordPath(runId(c), dir);
  if (!existsSync(path)) return undefined;
  try {
    return loadRecord(path);
  } catch {
    return undefined;
  }
}

/** Every valid record in a folder, with the files that failed validation listed separately. */
export function loadRecords(dir = runsDir()): {
  records: RunRecord[];
  invalid: { path: string; error: string }[];
} {
  const records: RunRecord[] = [];
  const invalid: { path: string; error: string }[] = [];
  if (!existsSync(dir)) return { records, invalid };
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith(".json")) continue;
    const path = join(dir, f);
    try {
      records.push(loadRecord(path));
    } catch (e) {
      invalid.push({ path, error: (e as Error).message });
    }
  }
  return { records, invalid };
}
