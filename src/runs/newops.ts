// New operations (notebook 05): a researcher's own a ∘ b mod p, trained with SED diagnostics and readouts at the
// quick preset and compared with the built-in operations at the same preset.
import { join } from "node:path";
import { makeConfig, type PresetName, type TrainConfig } from "../config/config";
import { makeTask, TaskError } from "../data/tasks";
import { loadSpec } from "../grids/load";
import { expandSpec } from "../grids/spec";
import { findRecord, runId } from "../records/records";
import type { RunRecord } from "../records/schema";
import { repoRoot } from "../util/paths";
import type { Progress } from "../util/progress";
import { recordsFor, runOrLoad, trainCommandFor } from "./experiments";

/** The spec behind the cached comparison runs: the built-ins and the author's two extra operations. */
export const NEW_OPERATIONS_SPEC = "new-operations";

/** The author's own extra operations (cached as worked examples). */
export const WORKED_EXAMPLES = ["a^2 + a*b + b^2", "a^3 + a*b"] as const;

/**
 * New operations run at the quick preset (train fraction 0.8: a few minutes per run on one core), or at the test
 * preset when SEDLAB_PRESET=test (the test suite); any other SEDLAB_PRESET still means quick here, since a
 * paper-preset run of a new operation is a job for `npx sedlab train --expr … --sed`, not for a notebook cell.
 */
export function newOpPreset(): PresetName {
  return process.env.SEDLAB_PRESET === "test" ? "test" : "quick";
}

/**
 * The config of a new-operation run with SED diagnostics and (unless `readouts: false`) notebook 06's readouts; a
 * bad expression or p throws the TaskError that names it.
 */
export function operationConfig(
  expr: string,
  opts: { p?: number; seed?: number; preset?: PresetName; readouts?: boolean } = {},
): TrainConfig {
  const preset = opts.preset ?? newOpPreset();
  return makeConfig({
    preset,
    expr,
    seed: opts.seed ?? 42,
    sed: true,
    ...(opts.readouts === false ? {} : { readouts: true }),
    ...(opts.p === undefined ? {} : { p: opts.p }),
  });
}

/** A few labelled pairs of the operation, to check it is the one meant. Throws TaskError on a bad expression. */
export function operationSample(
  expr: string,
  p: number,
  n = 6,
): { a: number; b: number; "a ∘ b mod p": number }[] {
  const task = makeTask({ expr, p });
  const pts: [number, number][] = [
    [0, 0],
    [1, 2],
    [2, 3],
    [p - 1, p - 1],
    [Math.floor(p / 2), 5 % p],
    [7 % p, Math.floor(p / 3)],
  ];
  return pts.slice(0, n).map(([a, b]) => ({ a, b, "a ∘ b mod p": task.label(a, b) }));
}

/** The message of a bad expression, or null when it is valid: for showing the error in a cell without stopping it. */
export function expressionError(expr: string, p: number): string | null {
  try {
    makeTask({ expr, p });
    return null;
  } catch (e) {
    if (e instanceof TaskError) return e.message;
    throw e;
  }
}

/** Train (or load from the cache) one operation with SED diagnostics. */
export async function operationRun(
  expr: string,
  opts: { p?: number; seed?: number; onProgress?: (p: Progress) => void } = {},
): Promise<{ record: RunRecord; cached: boolean }> {
  return runOrLoad(operationConfig(expr, opts), { onProgress: opts.onProgress });
}

/**
 * The paper-preset readout record of an operation (seed 42 unless given), from the cache only: a paper run is ~10
 * minutes, not a notebook cell's job. Without one, `note` says so and how to make it (the worked examples are in
 * experiments/readouts.json).
 */
export function paperReadoutRecord(
  expr: string,
  opts: { p?: number; seed?: number } = {},
): { record: RunRecord | null; id: string; note: string } {
  const config = operationConfig(expr, { ...opts, preset: "paper" });
  const id = runId(config);
  const record = findRecord(config) ?? null;
  const worked = (WORKED_EXAMPLES as readonly string[]).includes(expr) && config.p === 97;
  const make = worked
    ? `it is one of experiments/readouts.json's runs, still to be trained: \`npx sedlab sweep experiments/readouts.json\``
    : `make it with \`${trainCommandFor(config)}\` (about 10 minutes on one core)`;
  return {
    record,
    id,
    note: record
      ? `${id}: loaded from the cache`
      : `No paper-preset readout record of ${expr} mod ${config.p} (seed ${config.seed}, ${id}) in data/runs yet; ${make}.`,
  };
}

/**
 * The comparison runs of experiments/new-operations.json at `preset` (built-ins and worked examples, seed 42):
 * loaded from the cache, trained when missing (quick: a few minutes each; test: seconds).
 */
export async function comparisonRuns(
  preset: PresetName = newOpPreset(),
  opts: { onProgress?: (p: Progress) => void; cacheOnly?: boolean } = {},
): Promise<{ records: RunRecord[]; missing: string[] }> {
  const spec = loadSpec(join(repoRoot(), "experiments", `${NEW_OPERATIONS_SPEC}.json`));
  return recordsFor(expandSpec({ ...spec, preset }), {
    cacheOnly: opts.cacheOnly ?? false,
    onProgress: opts.onProgress,
  });
}
