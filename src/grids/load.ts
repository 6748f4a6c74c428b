// Reading experiment grids: a spec file (JSON or YAML), or a named grid of the checkout's experiments/ folder.
import { readFileSync } from "node:fs";
import { basename, extname, isAbsolute, join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { PresetName } from "../config/config";
import { closestKey } from "../config/keys";
import { repoRoot, runsDir } from "../util/paths";
import { expandRuns, SpecError, type SweepRun, type SweepSpec, validateSpec } from "./spec";

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

/** The file of a named grid: experiments/<name>.json at the repository root. */
export function gridPath(name: string): string {
  return join(repoRoot(), "experiments", `${name}.json`);
}

/** The validated spec of experiments/<name>.json, e.g. loadGrid("sed-main"). */
export function loadGrid(name: string): SweepSpec {
  return loadSpec(gridPath(name));
}

/**
 * Where a checked-in grid's records live: its `out` (relative to the repository root, where the README runs the
 * sweep from), or the records folder.
 */
export function gridOutDir(spec: SweepSpec): string {
  if (spec.out === undefined) return runsDir();
  return isAbsolute(spec.out) ? spec.out : join(repoRoot(), spec.out);
}

export interface GridRunsOptions {
  /** Only the runs of these conditions (a name or a list); an unknown name is an error. */
  condition?: string | readonly string[];
  /** Every run at this preset instead of the grid's own, e.g. a paper grid's shape at preset test. */
  preset?: PresetName;
}

/** The runs of experiments/<name>.json in `expandRuns` order, optionally filtered by condition or re-preset. */
export function gridRuns(name: string, opts: GridRunsOptions = {}): SweepRun[] {
  const spec = loadGrid(name);
  const runs = expandRuns(opts.preset === undefined ? spec : { ...spec, preset: opts.preset });
  if (opts.condition === undefined) return runs;
  const wanted = typeof opts.condition === "string" ? [opts.condition] : opts.condition;
  const known = Object.keys(spec.conditions ?? {});
  for (const c of wanted) {
    if (!known.includes(c)) {
      const near = closestKey(c, known);
      throw new SpecError(
        `grid ${name}: no condition "${c}"${near === undefined ? "" : `; did you mean "${near}"?`} ` +
          `(${known.length ? `conditions: ${known.join(", ")}` : "it has no conditions"})`,
      );
    }
  }
  return runs.filter((r) => r.condition !== null && wanted.includes(r.condition));
}
