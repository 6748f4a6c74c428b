// Experiment grids (the sweep specs of experiments/*.json): presets × ops/exprs × conditions × seeds. Their
// validation, expansion into runs and sharding, all pure (reading a spec file is load.ts's).
import {
  type ConfigOverrides,
  INTERVENTION_DEFAULTS,
  INTERVENTION_MODE_SETTINGS,
  makeConfig,
  PRESETS,
  type PresetName,
  READOUT_DEFAULTS,
  SED_DEFAULTS,
  type TrainConfig,
} from "../config/config";
import { checkKey, type UnknownKey } from "../config/keys";
import { runId } from "../records/records";

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

/** The spec wording of an unknown key: `[where: ]unknown <noun> "k"; did you mean "x"? (<nouns>: …)`. */
const unknownKey =
  (noun: string, plural: string) =>
  (u: UnknownKey): SpecError =>
    new SpecError(
      `${u.where ? `${u.where}: ` : ""}unknown ${noun} "${u.key}"` +
        `${u.suggestion === undefined ? "" : `; did you mean "${u.suggestion}"?`} (${plural}: ${u.known.join(", ")})`,
    );

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Config fields that are absent (off) by default, with their settings' defaults: `true` turns one on with
 * those defaults, an object overrides some of them. Fields with a default need no entry: the default config
 * lists them.
 */
const OPTIONAL_FIELDS: Record<string, Record<string, unknown>> = {
  sed: SED_DEFAULTS as unknown as Record<string, unknown>,
  readouts: READOUT_DEFAULTS as unknown as Record<string, unknown>,
  intervention: {
    ...INTERVENTION_DEFAULTS,
    // Settings only some modes take (config.ts checks which), by an example of their type.
    ...Object.fromEntries(Object.entries(INTERVENTION_MODE_SETTINGS).map(([k, s]) => [k, s.like])),
  },
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
        checkKey(sk, names, `${where}.${k}`, unknownKey("setting", "settings"));
        checkType(sx, settings[sk], `${where}.${k}.${sk}`);
      }
      continue;
    }
    checkKey(k, known, where, unknownKey("config field", "fields"));
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

function validatePreset(preset: unknown): SweepSpec["preset"] {
  const list = Array.isArray(preset) ? preset : [preset];
  if (list.length === 0) throw new SpecError(`field "preset" must not be an empty list`);
  for (const p of list) {
    if (!PRESETS.includes(p as PresetName)) {
      throw new SpecError(
        `field "preset": unknown preset ${JSON.stringify(p)}; choose from ${PRESETS.join(", ")}`,
      );
    }
  }
  return preset as SweepSpec["preset"];
}

/** Multitask grids name their tasks in base (or in every condition) instead of an operation axis. */
function isMultitask(obj: Record<string, unknown>): boolean {
  const hasTasks = (o: unknown) => isObject(o) && o.tasks !== undefined;
  return (
    hasTasks(obj.base) ||
    (isObject(obj.conditions) &&
      Object.keys(obj.conditions).length > 0 &&
      Object.values(obj.conditions).every(hasTasks))
  );
}

function validateSeeds(seeds: unknown): number[] {
  if (seeds === undefined) throw new SpecError(`field "seeds" is required (e.g. [42, 137])`);
  if (!Array.isArray(seeds) || seeds.length === 0 || !seeds.every((s) => Number.isInteger(s))) {
    throw new SpecError(`field "seeds" must be a non-empty list of integers, got ${JSON.stringify(seeds)}`);
  }
  return seeds as number[];
}

function validateConditions(conditions: unknown): Record<string, SpecOverrides> {
  if (!isObject(conditions) || Object.keys(conditions).length === 0) {
    throw new SpecError(`field "conditions" must be a non-empty mapping of name → config overrides`);
  }
  const out: Record<string, SpecOverrides> = {};
  for (const [name, c] of Object.entries(conditions)) out[name] = validateOverrides(c, `conditions.${name}`);
  return out;
}

/** Validate a parsed spec; errors name the field (`where` prefixes them, e.g. the file). */
export function validateSpec(obj: unknown, where = "sweep spec"): SweepSpec {
  try {
    if (!isObject(obj)) throw new SpecError("must be an object (a mapping of fields)");
    for (const k of Object.keys(obj)) checkKey(k, SPEC_KEYS, "", unknownKey("field", "fields"));
    const spec: SweepSpec = { seeds: [] };
    if (obj.name !== undefined) {
      if (typeof obj.name !== "string" || obj.name === "")
        throw new SpecError(`field "name" must be a non-empty string`);
      spec.name = obj.name;
    }
    if (obj.preset !== undefined) spec.preset = validatePreset(obj.preset);
    if (obj.ops !== undefined) spec.ops = stringList(obj.ops, "ops");
    if (obj.exprs !== undefined) spec.exprs = stringList(obj.exprs, "exprs");
    if (spec.ops === undefined && spec.exprs === undefined && !isMultitask(obj)) {
      throw new SpecError(
        `give the operations to run: field "ops" (e.g. ["add", "sub"]) and/or "exprs", or "tasks" in base for multitask runs`,
      );
    }
    spec.seeds = validateSeeds(obj.seeds);
    if (obj.base !== undefined) spec.base = validateOverrides(obj.base, "base");
    if (obj.conditions !== undefined) spec.conditions = validateConditions(obj.conditions);
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
