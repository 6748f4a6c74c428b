// Run records: one JSON file per run under data/runs/, the only thing analysis, notebooks and reports read.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import {
  canonicalJson,
  GROKFAST_DEFAULTS,
  INTERVENTION_DEFAULTS,
  makeConfig,
  overridesOf,
  READOUT_DEFAULTS,
  type TrainConfig,
} from "../config/config";
import { writeFileAtomic } from "../util/atomic";
import { runsDir } from "../util/paths";
import { RecordError, type RunRecord, validateRecord } from "./schema";

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
  if (c.readouts && canonicalJson(c.readouts) === canonicalJson(READOUT_DEFAULTS)) {
    delete extra.readouts;
    id += "_readouts";
  }
  if (c.tasks && extra.checkpointEvery !== undefined) {
    id += `_c${c.checkpointEvery}`;
    delete extra.checkpointEvery;
  }
  // Interventions are named by mode (plus projection and rank when not the defaults), e.g. "_keep-sed".
  if (c.intervention) {
    const { mode, projection, rank, lrScale, ...other } = c.intervention;
    const { mode: _m, projection: _p, rank: _r, ...otherDefault } = INTERVENTION_DEFAULTS;
    id += `_${mode}${projection === "update" ? "-update" : ""}${rank === INTERVENTION_DEFAULTS.rank ? "" : `-r${rank}`}`;
    if (lrScale !== undefined) id += `-x${lrScale}`;
    // Grokfast's published α and λ are its defaults: not named.
    for (const k of Object.keys(GROKFAST_DEFAULTS) as (keyof typeof GROKFAST_DEFAULTS)[])
      if (other[k] === GROKFAST_DEFAULTS[k]) delete other[k];
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

/**
 * Write a record. A file already at its path that is not a valid record (corrupt, truncated, another schema) is
 * moved aside to `<id>.json.invalid-<date>` first, never silently overwritten; `log` says so (default stderr).
 */
export function saveRecord(
  r: RunRecord,
  dir = runsDir(),
  log: (msg: string) => void = (m) => console.warn(`sedlab: ${m}`),
): string {
  const path = recordPath(r.id, dir);
  const before = lookupPath(path);
  if (before.status === "invalid") {
    const aside = moveInvalidRecord(path);
    log(`moved the invalid record ${path} aside to ${aside} before writing the new one (${before.error})`);
  }
  writeFileAtomic(path, `${JSON.stringify(r, null, 1)}\n`);
  return path;
}

/** Rename an invalid record to `<file>.invalid-<ISO date>` (kept for inspection; loaders skip it). */
export function moveInvalidRecord(path: string, now = new Date()): string {
  const aside = `${path}.invalid-${now.toISOString().replace(/[:.]/g, "-")}`;
  renameSync(path, aside);
  return aside;
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

/** What is at a record's path: a valid record, nothing, or a file that fails validation (and why). */
export type RecordLookup =
  | { status: "ok"; path: string; record: RunRecord }
  | { status: "missing"; path: string }
  | { status: "invalid"; path: string; error: string };

function lookupPath(path: string): RecordLookup {
  if (!existsSync(path)) return { status: "missing", path };
  try {
    return { status: "ok", path, record: loadRecord(path) };
  } catch (e) {
    return { status: "invalid", path, error: (e as Error).message };
  }
}

/** The record for this exact config: valid, missing, or invalid with the reason. */
export function lookupRecord(c: TrainConfig, dir = runsDir()): RecordLookup {
  return lookupPath(recordPath(runId(c), dir));
}

/** One line for "not cached" lists: the run id, and the reason when a file is there but invalid. */
export function lookupLabel(l: RecordLookup, id: string): string {
  return l.status === "invalid" ? `${id} (invalid: ${l.error})` : id;
}

/**
 * The record for this exact config, if one exists and is valid. An invalid one is not used, and never passes
 * in silence: `onInvalid` hears of it (default: a warning on stderr naming the file and the reason).
 */
export function findRecord(
  c: TrainConfig,
  dir = runsDir(),
  onInvalid: (path: string, error: string) => void = warnInvalid,
): RunRecord | undefined {
  const l = lookupRecord(c, dir);
  if (l.status === "invalid") onInvalid(l.path, l.error);
  return l.status === "ok" ? l.record : undefined;
}

function warnInvalid(path: string, error: string): void {
  console.warn(`sedlab: ignoring invalid run record ${path}: ${error}`);
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
    const l = lookupPath(join(dir, f));
    if (l.status === "ok") records.push(l.record);
    else if (l.status === "invalid") invalid.push({ path: l.path, error: l.error });
  }
  return { records, invalid };
}
