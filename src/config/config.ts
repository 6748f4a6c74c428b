// Training configuration: one record with defaults, named presets and validation (the one place for it).

import { BUILTIN_OPS, makeTask, type Task } from "../data/tasks";
import { rejectUnknownKeys } from "./keys";

/** AdamW's settings, as torch.optim.AdamW, plus global gradient-norm clipping (train/optim.ts runs it). */
export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Max global gradient norm; 0 or Infinity disables clipping. */
  clip: number;
}

export const PRESETS = ["paper", "quick", "test"] as const;

/**
 * SED diagnostics (spectral edge dynamics of the attention weights and their coupling to linear centroids).
 * Paper defaults: W 20, K 3, ε_rel 0.005, 1024 probes, 20 random directions, gradient batch 512.
 */
export interface SedConfig {
  /** Rolling window W, in checkpoints (rows are taken every `checkpointEvery` steps). */
  window: number;
  /** Top-K singular directions. */
  k: number;
  /** Perturbation size relative to ‖θ_attn‖. */
  epsRel: number;
  /** Probe pairs, drawn once from the whole domain. */
  probes: number;
  /** Random directions for the baseline, fresh at each measurement. */
  randomDirs: number;
  /** Fixed gradient batch (pairs from the whole domain, with replacement). */
  gradBatch: number;
  /** Steps between measurements (a multiple of checkpointEvery), once the window is full; one more at the end. */
  measureEvery: number;
  centroid: "logit" | "full";
  /** trailing: rows t−W+1..t (our default, as the paper's text); leading: rows t..t+W−1 (the author's scripts). */
  windowMode: "trailing" | "leading";
  /** Subtract the row mean before the SVD. */
  center: boolean;
  /** Extra window sizes measured from the same buffer (ablation), e.g. [1, 2, 5, 10, 20, 40]. */
  windows: number[];
}

export const SED_DEFAULTS: SedConfig = {
  window: 20,
  k: 3,
  epsRel: 0.005,
  probes: 1024,
  randomDirs: 20,
  gradBatch: 512,
  measureEvery: 200,
  centroid: "logit",
  windowMode: "trailing",
  center: false,
  windows: [],
};

/**
 * What the SED directions are (issue #18): readouts computed during a `--sed` run by the readout observer —
 * key-frequency power of the token embedding at every eval; and at chosen points (init, the first SED
 * measurement, the first measurement after the grok step, the end) the functional modes of the top SED
 * directions and of random ones, the centroid PCs in the Fourier basis, and the per-example gradient SVD.
 */
export interface ReadoutConfig {
  /** Random directions whose functional modes give the null distribution of F, per readout point. */
  randomModes: number;
  /** Centroid principal components read out in the Fourier basis. */
  pcs: number;
}

export const READOUT_DEFAULTS: ReadoutConfig = { randomModes: 4, pcs: 5 };

/** Small diagnostics for the `test` preset (code paths only). */
const SED_TEST: Partial<SedConfig> = {
  window: 4,
  probes: 48,
  randomDirs: 6,
  gradBatch: 64,
  measureEvery: 50,
};
export type PresetName = (typeof PRESETS)[number];

/** The paper's projections (§5): keep or remove a rank-k SED or random subspace of the attention gradient. */
export const PROJECTION_MODES = [
  "control",
  "remove-sed",
  "keep-sed",
  "remove-random",
  "keep-random",
] as const;

/**
 * Controls that ask whether attention needs to learn at all (issue #15), on the same attention group:
 * - freeze-attention: after W natural steps the attention weights stop changing (no gradient step, no decay);
 *   freeze-attention-at-init: from step 1;
 * - zero-attention-gradient: after W steps attention gets no gradient step, only AdamW's decay θ ← (1 − lr·wd)θ;
 * - scale-attention-lr: after W steps the attention displacement (decay included) is multiplied by `lrScale`;
 * - keep-random-norm-matched: keep-random with the kept part rescaled to the clipped gradient's norm;
 * - grokfast / grokfast-attention: Lee et al. 2024's EMA gradient filter g ← g + λ·EMA_α(g) from step 1, on all
 *   parameters or on attention only (after clipping, before AdamW: the hook's place).
 */
export const ATTENTION_CONTROL_MODES = [
  "freeze-attention",
  "freeze-attention-at-init",
  "zero-attention-gradient",
  "scale-attention-lr",
  "keep-random-norm-matched",
  "grokfast",
  "grokfast-attention",
] as const;

export const INTERVENTION_MODES = [...PROJECTION_MODES, ...ATTENTION_CONTROL_MODES] as const;
export type InterventionMode = (typeof INTERVENTION_MODES)[number];

/**
 * Causal intervention on the attention group (paper §5): each step, keep or remove the rank-k component of its
 * clipped gradient (projection "gradient", the paper's proper method) or of its AdamW displacement ("update",
 * the original method, moments untouched), in the SED subspace of the last W applied rows or a fresh random one;
 * or one of the ATTENTION_CONTROL_MODES.
 */
export interface InterventionConfig {
  mode: InterventionMode;
  projection: "gradient" | "update";
  /** k, the subspace's rank. */
  rank: number;
  /** W: rows in the SED buffer, and natural (unprojected) steps before the first projection. */
  window: number;
  /** scale-attention-lr only: the factor on the attention displacement. */
  lrScale?: number;
  /** grokfast modes only: the EMA's decay α and amplification λ (Grokfast's defaults 0.98 and 2). */
  grokfastAlpha?: number;
  grokfastLambda?: number;
}

export const INTERVENTION_DEFAULTS: InterventionConfig = {
  mode: "control",
  projection: "gradient",
  rank: 3,
  window: 20,
};

/** Settings only some modes take, with an example of each (its type) and the modes that take it. */
export const INTERVENTION_MODE_SETTINGS: Record<
  "lrScale" | "grokfastAlpha" | "grokfastLambda",
  { like: number; modes: readonly InterventionMode[] }
> = {
  lrScale: { like: 1, modes: ["scale-attention-lr"] },
  grokfastAlpha: { like: 0.98, modes: ["grokfast", "grokfast-attention"] },
  grokfastLambda: { like: 2, modes: ["grokfast", "grokfast-attention"] },
};

/** Grokfast's published defaults (ironjr/grokfast, gradfilter_ema). */
export const GROKFAST_DEFAULTS = { grokfastAlpha: 0.98, grokfastLambda: 2 } as const;

export const isGrokfastMode = (m: InterventionMode): boolean =>
  m === "grokfast" || m === "grokfast-attention";

export interface TrainConfig extends AdamWConfig {
  preset: PresetName;
  /** Built-in operation (add, sub, mul, sq_sum) or undefined when `expr` is given. */
  op?: string;
  /** User operation as a mathjs expression in a and b, evaluated exactly mod p. */
  expr?: string;
  /**
   * Multitask: two or more built-in operations learned at once by one shared trunk with one linear head per
   * task (then op and expr are absent). Pairs a, b ∈ 1..p−1 for every task, one split shared by the tasks, each
   * step one batch carrying every task's label, loss = the sum of the tasks' mean cross-entropies; training
   * stops once every task has had test accuracy ≥ 0.98 at `stopAfterEvals` evals. Absent: a single-task run
   * (`tasks: [op]` is the same as `op`). See MULTITASK_PRESET_VALUES for the defaults it changes.
   */
  tasks?: string[];
  p: number;
  /** Fraction of all pairs used for training. */
  frac: number;
  seed: number;
  // Model sizes.
  d: number;
  nHeads: number;
  dff: number;
  layers: number;
  /** Start every encoder layer from the same weights, as nn.TransformerEncoder's deep copy does. */
  copyLayerInit: boolean;
  // Optimisation (AdamW settings come from AdamWConfig).
  batch: number;
  maxSteps: number;
  /** Eval/checkpoint spacing c in steps (the SED row spacing too). */
  checkpointEvery: number;
  /** Stop once test accuracy ≥ 0.98 has been seen at this many evals (not necessarily consecutive; multitask:
   * every task, each counting its own evals). */
  stopAfterEvals: number;
  /** Write a resumable checkpoint every this many steps (0: never). */
  saveEvery: number;
  /** SED diagnostics; absent = off. */
  sed?: SedConfig;
  /** Readouts of what the SED directions are (needs `sed`); absent = off. */
  readouts?: ReadoutConfig;
  /** Causal intervention on the attention gradient or update; absent = none. */
  intervention?: InterventionConfig;
}

const PAPER: Omit<TrainConfig, "op" | "expr" | "seed"> = {
  preset: "paper",
  p: 97,
  frac: 0.5,
  d: 128,
  nHeads: 4,
  dff: 256,
  layers: 2,
  copyLayerInit: true,
  batch: 512,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.98,
  eps: 1e-8,
  weightDecay: 1.0,
  clip: 1.0,
  maxSteps: 8000,
  checkpointEvery: 25,
  stopAfterEvals: 20,
  saveEvery: 500,
};

/**
 * `quick`: the paper's model and optimiser with a larger train fraction (0.8), which groks in a few hundred
 * steps instead of thousands; `test`: a tiny model for exercising code paths in tests, not for science.
 */
const PRESET_VALUES: Record<PresetName, Partial<TrainConfig>> = {
  paper: {},
  quick: { preset: "quick", frac: 0.8, maxSteps: 3000, saveEvery: 250 },
  test: {
    preset: "test",
    p: 23,
    frac: 0.8,
    d: 32,
    nHeads: 4,
    dff: 64,
    layers: 1,
    batch: 128,
    lr: 3e-3,
    maxSteps: 150,
    stopAfterEvals: 5,
    saveEvery: 50,
  },
};

/**
 * What a multitask config changes in its preset, unless the overrides set it: the paper preset runs up to
 * 50,000 steps and checkpoints every c = 200 steps (the author's published multi-task trainer's spacing);
 * `quick` every 50 steps up to 10,000; `test` (tiny, code paths only) up to 200. The SED diagnostics then
 * measure at every 8th checkpoint (every 2nd at `test`) unless `sed.measureEvery` is given.
 */
export const MULTITASK_PRESET_VALUES: Record<PresetName, Partial<TrainConfig>> = {
  paper: { maxSteps: 50_000, checkpointEvery: 200 },
  quick: { maxSteps: 10_000, checkpointEvery: 50 },
  test: { maxSteps: 200 },
};

/** Checkpoints between SED measurements of a multitask run (see MULTITASK_PRESET_VALUES). */
export function multitaskMeasureCheckpoints(preset: PresetName): number {
  return preset === "test" ? 2 : 8;
}

export type ConfigOverrides = Omit<Partial<TrainConfig>, "sed" | "intervention" | "readouts"> & {
  /** true: the readouts with their defaults (and `sed` on); an object: those defaults overridden. */
  readouts?: boolean | Partial<ReadoutConfig>;
  preset?: PresetName;
  /** true: diagnostics with the preset's defaults; an object: those defaults overridden. */
  sed?: boolean | Partial<SedConfig>;
  /** true: the defaults (mode control); an object: those defaults overridden, e.g. {mode: "keep-sed"}. */
  intervention?: boolean | Partial<InterventionConfig>;
};

/** A full, validated config: paper defaults, then the preset, then the overrides. */
export function makeConfig(overrides: ConfigOverrides = {}): TrainConfig {
  const preset = overrides.preset ?? "paper";
  if (!PRESETS.includes(preset))
    throw new Error(`unknown preset "${preset}"; choose one of ${PRESETS.join(", ")}`);
  const { sed, intervention, readouts, ...rest } = overrides;
  // A typo (say `weightdecay`) would otherwise be ignored by training yet still change the run id.
  rejectUnknownKeys(rest, [...Object.keys(PAPER), "op", "expr", "tasks", "seed", "preset"], "config");
  if (sed && sed !== true) rejectUnknownKeys(sed, Object.keys(SED_DEFAULTS), "config.sed");
  if (readouts && readouts !== true)
    rejectUnknownKeys(readouts, Object.keys(READOUT_DEFAULTS), "config.readouts");
  if (readouts && sed === false)
    throw new Error("config.readouts needs the SED diagnostics (sed), which were turned off");
  if (intervention && intervention !== true) {
    rejectUnknownKeys(
      intervention,
      [...Object.keys(INTERVENTION_DEFAULTS), ...Object.keys(INTERVENTION_MODE_SETTINGS)],
      "config.intervention",
    );
  }
  const defined: Partial<TrainConfig> = Object.fromEntries(
    Object.entries(rest).filter(([, v]) => v !== undefined),
  );
  // One task is the single-task model.
  if (Array.isArray(defined.tasks) && defined.tasks.length === 1) {
    const [only] = defined.tasks;
    if (defined.op !== undefined && defined.op !== only)
      throw new Error(`config.tasks ["${only}"] and config.op "${defined.op}" disagree: give one of them`);
    if (defined.expr !== undefined) throw new Error("give either tasks or expr, not both");
    defined.op = only;
    delete defined.tasks;
  }
  const multi = defined.tasks !== undefined;
  const cfg = {
    seed: 42,
    ...PAPER,
    ...PRESET_VALUES[preset],
    ...(multi ? MULTITASK_PRESET_VALUES[preset] : {}),
    ...defined,
    preset,
  } as TrainConfig;
  if (Array.isArray(cfg.tasks)) cfg.tasks = [...cfg.tasks];
  delete cfg.sed;
  delete cfg.readouts;
  delete cfg.intervention;
  if (sed || readouts) {
    const given = Object.fromEntries(
      Object.entries(typeof sed === "object" ? sed : {}).filter(([, v]) => v !== undefined),
    );
    const measure = multi ? { measureEvery: multitaskMeasureCheckpoints(preset) * cfg.checkpointEvery } : {};
    cfg.sed = { ...SED_DEFAULTS, ...(preset === "test" ? SED_TEST : {}), ...measure, ...given };
  }
  if (readouts) {
    const given = Object.fromEntries(
      Object.entries(readouts === true ? {} : readouts).filter(([, v]) => v !== undefined),
    );
    cfg.readouts = { ...READOUT_DEFAULTS, ...given };
  }
  if (intervention) {
    const given = intervention === true ? {} : intervention;
    const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
    cfg.intervention = { ...INTERVENTION_DEFAULTS, ...defined };
    if (isGrokfastMode(cfg.intervention.mode))
      cfg.intervention = { ...GROKFAST_DEFAULTS, ...cfg.intervention };
  }
  if (!multi && cfg.op === undefined && cfg.expr === undefined) cfg.op = "add";
  validateConfig(cfg);
  return cfg;
}

/** Checks every field; returns the config's tasks (one for a single-task run). */
export function validateConfig(c: TrainConfig): Task[] {
  const posInt = [
    "d",
    "nHeads",
    "dff",
    "layers",
    "batch",
    "maxSteps",
    "checkpointEvery",
    "stopAfterEvals",
  ] as const;
  for (const k of posInt) {
    if (!Number.isInteger(c[k]) || c[k] < 1)
      throw new Error(`config.${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.d % c.nHeads !== 0)
    throw new Error(`config.d (${c.d}) must be divisible by config.nHeads (${c.nHeads})`);
  if (!Number.isInteger(c.seed)) throw new Error(`config.seed must be an integer, got ${c.seed}`);
  if (!Number.isInteger(c.saveEvery) || c.saveEvery < 0) {
    throw new Error(`config.saveEvery must be an integer ≥ 0, got ${c.saveEvery}`);
  }
  for (const k of ["lr", "eps"] as const) {
    if (!(c[k] > 0) || !Number.isFinite(c[k]))
      throw new Error(`config.${k} must be a positive number, got ${c[k]}`);
  }
  for (const k of ["beta1", "beta2"] as const) {
    if (!(c[k] >= 0 && c[k] < 1)) throw new Error(`config.${k} must be in [0, 1), got ${c[k]}`);
  }
  if (!(c.weightDecay >= 0)) throw new Error(`config.weightDecay must be ≥ 0, got ${c.weightDecay}`);
  if (!(c.clip >= 0)) throw new Error(`config.clip must be ≥ 0 (0 disables clipping), got ${c.clip}`);
  if (c.op !== undefined && c.expr !== undefined) throw new Error("give either op or expr, not both");
  if (!(c.frac > 0 && c.frac < 1)) {
    throw new Error(`config.frac (train fraction) must be strictly between 0 and 1, got ${c.frac}`);
  }
  if (c.sed) validateSed(c.sed, c.checkpointEvery);
  if (c.readouts) {
    if (!c.sed) throw new Error("config.readouts needs config.sed: the readouts read the SED directions");
    if (c.tasks)
      throw new Error("config.readouts is for single-task runs (a multitask model has no single answer)");
    for (const k of ["randomModes", "pcs"] as const)
      if (!Number.isInteger(c.readouts[k]) || c.readouts[k] < 1)
        throw new Error(`config.readouts.${k} must be a positive integer, got ${c.readouts[k]}`);
  }
  if (c.intervention) validateIntervention(c.intervention);
  if (c.tasks !== undefined) return validateTasks(c);
  return [makeTask({ op: c.op, expr: c.expr, p: c.p })];
}

function validateTasks(c: TrainConfig): Task[] {
  const tasks = c.tasks as unknown;
  if (!Array.isArray(tasks) || tasks.length < 2 || !tasks.every((t) => typeof t === "string")) {
    throw new Error(
      `config.tasks must list two or more built-in operations (${BUILTIN_OPS.join(", ")}), got ${JSON.stringify(tasks)}`,
    );
  }
  if (new Set(tasks).size !== tasks.length)
    throw new Error(`config.tasks lists an operation twice: ${tasks.join(", ")}`);
  if (c.op !== undefined || c.expr !== undefined) {
    throw new Error(
      `give either tasks (a multitask run) or op/expr (a single-task run), not both (tasks ${tasks.join(", ")}, ${c.op !== undefined ? `op ${c.op}` : `expr ${c.expr}`})`,
    );
  }
  for (const t of tasks) {
    if (!(BUILTIN_OPS as readonly string[]).includes(t)) {
      throw new Error(
        `config.tasks: unknown operation "${t}"; multitask runs take built-in operations (${BUILTIN_OPS.join(", ")})`,
      );
    }
  }
  if (c.sed && (c.sed.windowMode !== "trailing" || c.sed.windows.length > 0)) {
    throw new Error(
      "multitask SED diagnostics support the trailing window only, without extra window sizes (config.sed.windowMode, config.sed.windows)",
    );
  }
  // Operands 1..p−1 for every task (zero excluded everywhere, as the author's multi-task trainer does).
  return tasks.map((op) => makeTask({ op, p: c.p, lo: 1 }));
}

function validateSed(s: SedConfig, checkpointEvery: number): void {
  for (const k of ["window", "k", "probes", "randomDirs", "gradBatch", "measureEvery"] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1)
      throw new Error(`config.sed.${k} must be a positive integer, got ${s[k]}`);
  }
  if (s.measureEvery % checkpointEvery !== 0) {
    throw new Error(
      `config.sed.measureEvery (${s.measureEvery}) must be a multiple of checkpointEvery (${checkpointEvery})`,
    );
  }
  if (!(s.epsRel > 0 && s.epsRel < 1))
    throw new Error(`config.sed.epsRel must be in (0, 1), got ${s.epsRel}`);
  if (s.centroid !== "logit" && s.centroid !== "full") {
    throw new Error(`config.sed.centroid must be "logit" or "full", got ${JSON.stringify(s.centroid)}`);
  }
  if (s.windowMode !== "trailing" && s.windowMode !== "leading") {
    throw new Error(
      `config.sed.windowMode must be "trailing" or "leading", got ${JSON.stringify(s.windowMode)}`,
    );
  }
  if (!Array.isArray(s.windows) || s.windows.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new Error(
      `config.sed.windows must be a list of positive integers, got ${JSON.stringify(s.windows)}`,
    );
  }
}

function validateIntervention(v: InterventionConfig): void {
  if (!INTERVENTION_MODES.includes(v.mode)) {
    throw new Error(
      `config.intervention.mode must be one of ${INTERVENTION_MODES.join(", ")}, got ${JSON.stringify(v.mode)}`,
    );
  }
  if (v.projection !== "gradient" && v.projection !== "update") {
    throw new Error(
      `config.intervention.projection must be "gradient" or "update", got ${JSON.stringify(v.projection)}`,
    );
  }
  for (const k of ["rank", "window"] as const) {
    if (!Number.isInteger(v[k]) || v[k] < 1)
      throw new Error(`config.intervention.${k} must be a positive integer, got ${v[k]}`);
  }
  for (const [k, s] of Object.entries(INTERVENTION_MODE_SETTINGS)) {
    const x = (v as unknown as Record<string, unknown>)[k];
    if (x === undefined) continue;
    if (!s.modes.includes(v.mode))
      throw new Error(`config.intervention.${k} applies only to mode ${s.modes.join(" or ")}, not ${v.mode}`);
    if (typeof x !== "number" || !Number.isFinite(x))
      throw new Error(`config.intervention.${k} must be a finite number, got ${JSON.stringify(x)}`);
  }
  if (v.mode === "scale-attention-lr" && !(v.lrScale !== undefined && v.lrScale > 0))
    throw new Error(
      `config.intervention.lrScale must be a positive number for mode scale-attention-lr, got ${v.lrScale}`,
    );
  if (v.projection === "update" && (ATTENTION_CONTROL_MODES as readonly string[]).includes(v.mode))
    throw new Error(
      `config.intervention.projection "update" applies to the projection modes (${PROJECTION_MODES.join(", ")}), not ${v.mode}`,
    );
  if (isGrokfastMode(v.mode)) {
    const { grokfastAlpha: a, grokfastLambda: l } = v;
    if (!(a !== undefined && a >= 0 && a < 1))
      throw new Error(`config.intervention.grokfastAlpha must be in [0, 1), got ${a}`);
    if (!(l !== undefined && l >= 0))
      throw new Error(`config.intervention.grokfastLambda must be ≥ 0, got ${l}`);
  }
  if (v.mode.endsWith("-sed") && v.rank > v.window) {
    throw new Error(
      `config.intervention.rank (${v.rank}) cannot exceed its window (${v.window}): a window of W rows spans at most W directions`,
    );
  }
}

/** Config fields that differ from the preset's defaults (names a run whose config was customised). */
export function overridesOf(c: TrainConfig): Partial<TrainConfig> {
  const base = makeConfig({ preset: c.preset, op: c.op, expr: c.expr, tasks: c.tasks, seed: c.seed });
  const out: Partial<TrainConfig> = {};
  for (const k of Object.keys(c) as (keyof TrainConfig)[]) {
    if (canonicalJson(c[k]) !== canonicalJson(base[k])) (out as Record<string, unknown>)[k] = c[k];
  }
  return out;
}

/** JSON with object keys sorted: equal configs give equal strings whatever order their keys were set in. */
export function canonicalJson(x: unknown): string {
  return JSON.stringify(x, (_k, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
}
