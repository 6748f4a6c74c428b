// The paper's experiments as configs, read from their one definition: the grids in experiments/*.json. At the
// grid's own preset (paper) the configs are exactly the sweep's; at a smaller preset (quick, test: minutes or
// seconds, to exercise the notebooks) the same shape is scaled down by the rules stated at each function.
import { makeConfig, type PresetName, type SedConfig, type TrainConfig } from "../config/config";
import { gridOutDir, gridRuns, loadGrid } from "./load";

/** The grid behind notebooks 01–02 (every op × seed with SED diagnostics). */
export const SED_MAIN = "sed-main";
export const SED_ABLATIONS = "sed-ablations";
export const MULTITASK = "multitask";
/** The paper-preset intervention grids (notebook 04). */
export const INTERVENTION_GRIDS = [
  "interventions",
  "interventions-update",
  "interventions-ablations",
  "interventions-new-ops",
] as const;

/** The attention-control grids (notebook 07, issue #15); their records live in the grids' own folder. */
export const ATTENTION_CONTROL_GRIDS = ["attention-controls", "attention-controls-new-ops"] as const;

/** The readout grid (notebook 06, issue #18): the four ops and the author's two extra operations. */
export const READOUTS = "readouts";

/** The command that makes a grid's records. */
export function sweepCommandFor(grid: string): string {
  return `npx sedlab sweep experiments/${grid}.json`;
}

/** The single-task ops of sed-main (add, sub, mul, sq_sum). */
export function singleTaskOps(): string[] {
  return loadGrid(SED_MAIN).ops ?? [];
}

/** The seeds of sed-main (42, 137, 2024). */
export function paperSeeds(): number[] {
  return loadGrid(SED_MAIN).seeds;
}

/** At the grid's preset all its seeds; at a smaller preset only the first (small runs exercise code paths). */
function seedsAt(preset: PresetName, grid: { preset?: unknown; seeds: number[] }): number[] {
  return preset === (grid.preset ?? "paper") ? grid.seeds : grid.seeds.slice(0, 1);
}

/** sed-main's configs at `preset`: ops × seeds (defaults: the grid's; see seedsAt), `sed` overriding its SED settings. */
export function sedRunConfigs(
  preset: PresetName,
  opts: { ops?: readonly string[]; seeds?: readonly number[]; sed?: Partial<SedConfig> } = {},
): TrainConfig[] {
  const spec = loadGrid(SED_MAIN);
  const ops = opts.ops ?? spec.ops ?? [];
  const seeds = opts.seeds ?? seedsAt(preset, spec);
  const sed = opts.sed ?? spec.base?.sed ?? true;
  return ops.flatMap((op) => seeds.map((seed) => makeConfig({ ...spec.base, preset, op, seed, sed })));
}

/**
 * sed-ablations' conditions as named SED overrides. At a smaller preset the W ablation keeps only the window
 * sizes a run of that preset has rows for (maxSteps ÷ checkpointEvery).
 */
export function sedAblationConditions(preset: PresetName): Record<string, Partial<SedConfig>> {
  const spec = loadGrid(SED_ABLATIONS);
  const rows = (() => {
    const c = makeConfig({ preset });
    return Math.floor(c.maxSteps / c.checkpointEvery);
  })();
  const out: Record<string, Partial<SedConfig>> = {};
  for (const [name, cond] of Object.entries(spec.conditions ?? {})) {
    const sed = { ...(typeof cond.sed === "object" ? cond.sed : {}) };
    if (sed.windows && preset !== (spec.preset ?? "paper"))
      sed.windows = sed.windows.filter((w) => w <= rows);
    out[name] = sed;
  }
  return out;
}

/** The op and seed the ablations run on (sed-ablations: add, 42). */
export function sedAblationRun(): { op: string; seed: number } {
  const spec = loadGrid(SED_ABLATIONS);
  return { op: (spec.ops ?? ["add"])[0], seed: spec.seeds[0] };
}

/** The multitask grid's checkpoint spacings c, by condition; smaller presets compare shorter spacings. */
export function multitaskSpacings(preset: PresetName): number[] {
  const spec = loadGrid(MULTITASK);
  if (preset === (spec.preset ?? "paper")) {
    return Object.values(spec.conditions ?? {}).map(
      (c) => c.checkpointEvery ?? makeConfig({ preset }).checkpointEvery,
    );
  }
  // Scaled down: test runs are 200 steps (spacings 25 and 50), quick runs compare one spacing (50).
  return preset === "test" ? [25, 50] : [50];
}

/** The tasks of the multitask grid (add, sub, mul, sq_sum). */
export function multitaskTasks(): string[] {
  return [...(loadGrid(MULTITASK).base?.tasks ?? [])];
}

/** The multitask configs: spacings × seeds (at the grid's preset exactly the grid's runs). */
export function multitaskConfigs(
  preset: PresetName,
  opts: { seeds?: readonly number[]; spacings?: readonly number[]; tasks?: readonly string[] } = {},
): TrainConfig[] {
  const spec = loadGrid(MULTITASK);
  const seeds = opts.seeds ?? seedsAt(preset, spec);
  const spacings = opts.spacings ?? multitaskSpacings(preset);
  const tasks = [...(opts.tasks ?? multitaskTasks())];
  return spacings.flatMap((checkpointEvery) =>
    seeds.map((seed) => makeConfig({ ...spec.base, preset, tasks, seed, checkpointEvery })),
  );
}

/**
 * The paper-preset intervention configs: every run of the intervention grids, and as control (mode A) the plain
 * SED runs of the same ops and seeds at weight decay 1 (their diagnostics never change training).
 */
export function interventionConfigs(): { controls: TrainConfig[]; runs: TrainConfig[] } {
  const runs = INTERVENTION_GRIDS.flatMap((name) => gridRuns(name).map((r) => r.config));
  const plainKeys = new Set(
    runs.filter((c) => c.weightDecay === 1).map((c) => `${c.op ?? c.expr}|${c.seed}`),
  );
  const controls = [...plainKeys].map((k) => {
    const [op, seed] = k.split("|");
    return makeConfig({ preset: "paper", op, seed: Number(seed), sed: true });
  });
  return { controls, runs };
}

/**
 * The attention-control configs and the folder their records live in. At the paper preset, every run of the
 * grids (one folder, the grids' `out`); at quick and test, the add arms with seed 42 (default records folder).
 */
export function attentionControlConfigs(preset: PresetName): { configs: TrainConfig[]; dir: string | null } {
  if (preset === "paper") {
    const dirs = [...new Set(ATTENTION_CONTROL_GRIDS.map((g) => gridOutDir(loadGrid(g))))];
    if (dirs.length !== 1)
      throw new Error(`the attention-control grids must share one out folder, got ${dirs.join(", ")}`);
    return {
      configs: ATTENTION_CONTROL_GRIDS.flatMap((g) => gridRuns(g).map((r) => r.config)),
      dir: dirs[0],
    };
  }
  const configs = gridRuns(ATTENTION_CONTROL_GRIDS[0], { preset })
    .map((r) => r.config)
    .filter((c) => c.op === "add" && c.seed === 42);
  return { configs, dir: null };
}

/**
 * The readout configs (notebook 06): at the paper preset the grid's runs; at quick and test, add and mul with
 * seed 42 (the grid's shape scaled down, enough to exercise every readout).
 */
export function readoutConfigs(preset: PresetName): TrainConfig[] {
  if (preset === "paper") return gridRuns(READOUTS).map((r) => r.config);
  return gridRuns(READOUTS, { preset })
    .map((r) => r.config)
    .filter((c) => (c.op === "add" || c.op === "mul") && c.seed === 42);
}
