// Run records: one JSON file per run under data/runs/, the only thing analysis, notebooks and reports read.
import { existsSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import type { TrainConfig } from "../config/config";
import { writeFileAtomic } from "../util/atomic";
import { runsDir } from "../util/paths";
import { runId } from "./ids";
import { parseRecord, RecordError, type RunRecord, recordText } from "./schema";

export { runId } from "./ids";

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
  writeFileAtomic(path, recordText(r));
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
  return parseRecord(text, path);
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
