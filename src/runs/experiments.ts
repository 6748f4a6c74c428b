// Running experiments from notebooks and scripts: use the cached record when there is one, train otherwise.
import {
  canonicalJson,
  INTERVENTION_DEFAULTS,
  type InterventionConfig,
  makeConfig,
  overridesOf,
  PRESETS,
  PROJECTION_MODES,
  type PresetName,
  READOUT_DEFAULTS,
  type SedConfig,
  type TrainConfig,
} from "../config/config";
import {
  ATTENTION_CONTROL_GRIDS,
  attentionControlConfigs,
  interventionConfigs,
  MULTITASK,
  multitaskConfigs,
  paperSeeds,
  READOUTS,
  readoutConfigs,
  SED_ABLATIONS,
  sedAblationConditions,
  sedAblationRun,
  sedRunConfigs,
  singleTaskOps,
  sweepCommandFor,
} from "../grids/experiments";
import { findRecord, lookupLabel, lookupRecord, recordPath, runId } from "../records/records";
import type { RunRecord } from "../records/schema";
import type { Progress } from "../util/progress";
import { type TrainRunOptions, trainRun } from "./trainRun";

/** The preset notebooks run at: `SEDLAB_PRESET` (the test suite sets "test"), else `fallback`. */
export function notebookPreset(fallback: PresetName = "quick"): PresetName {
  const p = process.env.SEDLAB_PRESET;
  if (p === undefined || p === "") return fallback;
  if (!PRESETS.includes(p as PresetName))
    throw new Error(`SEDLAB_PRESET="${p}" is not one of ${PRESETS.join(", ")}`);
  return p as PresetName;
}

export interface RunOrLoadOptions extends Pick<TrainRunOptions, "observers" | "signal"> {
  onProgress?: (p: Progress) => void;
  /** Retrain even when a valid cached record exists. */
  force?: boolean;
}

/** True when `SEDLAB_CACHE_ONLY=1`: `runOrLoad` loads cached records and never trains (except `test` runs). */
export function cacheOnly(): boolean {
  return process.env.SEDLAB_CACHE_ONLY === "1";
}

/** The command that creates the record of `config` (`sedlab train` when its flags can say it, else a sweep). */
export function trainCommandFor(config: TrainConfig): string {
  if (config.tasks) {
    // Multitask runs have no `sedlab train` flags: a one-run sweep spec says it.
    const { tasks, ...rest } = overridesOf(config);
    const spec = {
      preset: config.preset,
      seeds: [config.seed],
      base: { tasks: config.tasks ?? tasks, ...rest },
    };
    return `npx sedlab sweep SPEC.json with SPEC.json = ${JSON.stringify(spec)}`;
  }
  const task = config.expr !== undefined ? `--expr ${JSON.stringify(config.expr)}` : `--op ${config.op}`;
  const flags: Record<string, string> = {
    p: "--p",
    frac: "--frac",
    maxSteps: "--steps",
    lr: "--lr",
    weightDecay: "--wd",
    batch: "--batch",
    checkpointEvery: "--checkpoint-every",
  };
  const extra = overridesOf(config);
  const args = [`npx sedlab train ${task} --seed ${config.seed} --preset ${config.preset}`];
  for (const [k, flag] of Object.entries(flags)) {
    if (k in extra) args.push(`${flag} ${(extra as Record<string, unknown>)[k]}`);
    delete (extra as Record<string, unknown>)[k];
  }
  const defaultSed = makeConfig({ preset: config.preset, sed: true }).sed;
  if (config.sed && canonicalJson(config.sed) === canonicalJson(defaultSed)) {
    args.push("--sed");
    delete extra.sed;
  }
  if (config.readouts && canonicalJson(config.readouts) === canonicalJson(READOUT_DEFAULTS)) {
    args.push("--readouts");
    delete extra.readouts;
  }
  const iv = config.intervention;
  if (iv && iv.window === INTERVENTION_DEFAULTS.window) {
    args.push(`--intervention ${iv.mode}`);
    if (iv.projection !== INTERVENTION_DEFAULTS.projection) args.push(`--projection ${iv.projection}`);
    if (iv.rank !== INTERVENTION_DEFAULTS.rank) args.push(`--rank ${iv.rank}`);
    delete extra.intervention;
  }
  if (Object.keys(extra).length === 0) return args.join(" ");
  const spec = {
    preset: config.preset,
    ...(config.expr !== undefined ? { exprs: [config.expr] } : { ops: [config.op] }),
    seeds: [config.seed],
    base: overridesOf(config),
  };
  return `npx sedlab sweep SPEC.json with SPEC.json = ${JSON.stringify(spec)}`;
}

/**
 * The record for `config`: loaded from data/runs when a valid one exists, trained (and cached) otherwise.
 * Runs at the `test` preset exercise code paths only: they are neither cached nor checkpointed.
 * With `SEDLAB_CACHE_ONLY=1` (`npm run report`) a missing record is an error naming the run and the command that
 * makes it, instead of hours of training inside a notebook; `test` runs are still trained (seconds).
 */
export async function runOrLoad(
  config: TrainConfig,
  opts: RunOrLoadOptions = {},
): Promise<{ record: RunRecord; cached: boolean }> {
  const scratch = config.preset === "test";
  if (!opts.force && !scratch) {
    const rec = findRecord(config);
    if (rec) return { record: rec, cached: true };
  }
  if (cacheOnly() && !scratch) {
    const id = runId(config);
    throw new Error(
      `SEDLAB_CACHE_ONLY=1: ${opts.force ? "force retraining was asked for" : "no valid cached record"} for run ${id} ` +
        `(${recordPath(id)}); nothing is trained in cache-only mode. Create it with: ${trainCommandFor(config)}`,
    );
  }
  const record = await trainRun(config, {
    observers: opts.observers,
    signal: opts.signal,
    onProgress: opts.onProgress,
    recordDir: scratch ? null : undefined,
    checkpointDir: scratch ? null : undefined,
  });
  return { record, cached: false };
}

/**
 * The records of `configs`, in order. `cacheOnly`: the cached ones, and the ids of the rest in `missing` (paper-preset
 * runs take minutes to hours each: a sweep makes them). Otherwise each is loaded or trained with `runOrLoad`.
 */
export async function recordsFor(
  configs: readonly TrainConfig[],
  opts: {
    cacheOnly: boolean;
    onProgress?: (p: Progress) => void;
    /** cacheOnly: the folder the records are in (a grid's `out`; default data/runs). */
    dir?: string;
  },
): Promise<{ records: RunRecord[]; missing: string[] }> {
  const records: RunRecord[] = [];
  const missing: string[] = [];
  for (const config of configs) {
    if (opts.cacheOnly) {
      // An invalid file is listed with its reason, beside the ones not made yet.
      const l = lookupRecord(config, opts.dir);
      if (l.status === "ok") records.push(l.record);
      else missing.push(lookupLabel(l, runId(config)));
    } else records.push((await runOrLoad(config, { onProgress: opts.onProgress })).record);
  }
  return { records, missing };
}

/**
 * Records of runs with SED diagnostics for ops × seeds (experiments/sed-main.json). At the paper preset they come
 * from the cache only (`missing` lists what is not there yet: `npx sedlab sweep experiments/sed-main.json` makes
 * them); at the quick and test presets missing runs are trained here.
 */
export async function sedRuns(
  preset: PresetName,
  opts: {
    ops?: readonly string[];
    seeds?: readonly number[];
    sed?: Partial<SedConfig>;
    onProgress?: (p: Progress) => void;
  } = {},
): Promise<{ records: RunRecord[]; missing: string[] }> {
  return recordsFor(sedRunConfigs(preset, opts), {
    cacheOnly: preset === "paper",
    onProgress: opts.onProgress,
  });
}

/** Ablation records by condition name (experiments/sed-ablations.json; cache only at the paper preset). */
export async function sedAblations(
  preset: PresetName,
  onProgress?: (p: Progress) => void,
): Promise<{ records: Record<string, RunRecord>; missing: string[]; command: string }> {
  const records: Record<string, RunRecord> = {};
  const missing: string[] = [];
  const { op, seed } = sedAblationRun();
  for (const [name, sed] of Object.entries(sedAblationConditions(preset))) {
    const { records: rs, missing: m } = await sedRuns(preset, { ops: [op], seeds: [seed], sed, onProgress });
    if (rs[0]) records[name] = rs[0];
    missing.push(...m.map((id) => `${id} [${name}]`));
  }
  return { records, missing, command: sweepCommandFor(SED_ABLATIONS) };
}

/**
 * The multitask records (experiments/multitask.json). At the paper preset from the cache only (`missing` lists
 * the runs not there yet; `command` makes them); at the quick and test presets missing runs are trained here.
 */
export async function multitaskRuns(
  preset: PresetName,
  opts: {
    seeds?: readonly number[];
    spacings?: readonly number[];
    onProgress?: (p: Progress) => void;
  } = {},
): Promise<{ records: RunRecord[]; missing: string[]; command: string }> {
  const { records, missing } = await recordsFor(multitaskConfigs(preset, opts), {
    cacheOnly: preset === "paper",
    onProgress: opts.onProgress,
  });
  return { records, missing, command: sweepCommandFor(MULTITASK) };
}

/**
 * Intervention records. At the paper preset, from the cache only (`missing` lists the rest): every run of the
 * intervention grids in experiments/, and as control (mode A) the plain runs of the same ops and seeds — the SED
 * runs of notebooks 01–02, whose diagnostics never change training. A control hook changes nothing either, so a
 * control run would repeat them step for step (`controlCheck` shows it for the explicit control runs we made).
 * At the quick and test presets: the five modes with gradient projection and the four with update projection,
 * on add with seed 42, trained here when not cached.
 */
export async function interventionRuns(
  preset: PresetName,
  opts: { onProgress?: (p: Progress) => void } = {},
): Promise<{ records: RunRecord[]; missing: string[]; explicitControls: RunRecord[] }> {
  if (preset === "paper") {
    const { controls, runs } = interventionConfigs();
    const got = await recordsFor([...controls, ...runs], { cacheOnly: true });
    return { ...got, explicitControls: explicitControlRecords(preset) };
  }
  const modes: { mode: InterventionConfig["mode"]; projection: "gradient" | "update" }[] = [
    ...PROJECTION_MODES.map((mode) => ({ mode, projection: "gradient" as const })),
    ...PROJECTION_MODES.filter((m) => m !== "control").map((mode) => ({
      mode,
      projection: "update" as const,
    })),
  ];
  const configs = modes.map((m) => makeConfig({ preset, op: "add", seed: 42, intervention: m }));
  const got = await recordsFor(configs, { cacheOnly: false, onProgress: opts.onProgress });
  return { ...got, explicitControls: [] };
}

/** The explicit control runs (mode control: the hook installed, changing nothing) that are cached. */
function explicitControlRecords(preset: PresetName): RunRecord[] {
  const out: RunRecord[] = [];
  for (const seed of paperSeeds()) {
    for (const op of singleTaskOps()) {
      const r = findRecord(makeConfig({ preset, op, seed, intervention: { mode: "control" } }));
      if (r) out.push(r);
    }
  }
  return out;
}

/**
 * The attention-control runs (notebook 07): at the paper preset from the grids' folder only (`missing` lists the
 * rest, `command` makes them); at quick and test the add arms with seed 42, trained here when not cached.
 */
export async function attentionControlRuns(
  preset: PresetName,
  opts: { onProgress?: (p: Progress) => void } = {},
): Promise<{ records: RunRecord[]; missing: string[]; command: string }> {
  const { configs, dir } = attentionControlConfigs(preset);
  const got = await recordsFor(configs, {
    cacheOnly: preset === "paper",
    onProgress: opts.onProgress,
    dir: dir ?? undefined,
  });
  return { ...got, command: ATTENTION_CONTROL_GRIDS.map(sweepCommandFor).join(" && ") };
}

/**
 * The readout runs (notebook 06): at the paper preset from the cache only (`missing` lists the rest, `command`
 * makes them); at quick and test add and mul with seed 42, trained here.
 */
export async function readoutRuns(
  preset: PresetName,
  opts: { onProgress?: (p: Progress) => void } = {},
): Promise<{ records: RunRecord[]; missing: string[]; command: string }> {
  const got = await recordsFor(readoutConfigs(preset), {
    cacheOnly: preset === "paper",
    onProgress: opts.onProgress,
  });
  return { ...got, command: sweepCommandFor(READOUTS) };
}
