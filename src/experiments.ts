// Running experiments from notebooks and scripts: use the cached record when there is one, train otherwise.
import { PRESETS, type PresetName, type TrainConfig } from "./config";
import { findRecord, type RunRecord } from "./records";
import { type Progress, type TrainOptions, train } from "./train";

/** The preset notebooks run at: `SEDLAB_PRESET` (the test suite sets "test"), else `fallback`. */
export function notebookPreset(fallback: PresetName = "quick"): PresetName {
  const p = process.env.SEDLAB_PRESET;
  if (p === undefined || p === "") return fallback;
  if (!PRESETS.includes(p as PresetName))
    throw new Error(`SEDLAB_PRESET="${p}" is not one of ${PRESETS.join(", ")}`);
  return p as PresetName;
}

export interface RunOrLoadOptions extends Pick<TrainOptions, "observers" | "signal"> {
  onProgress?: (p: Progress) => void;
  /** Retrain even when a valid cached record exists. */
  force?: boolean;
}

/**
 * The record for `config`: loaded from data/runs when a valid one exists, trained (and cached) otherwise.
 * Runs at the `test` preset exercise code paths only: they are neither cached nor checkpointed.
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
  const record = await train(config, {
    observers: opts.observers,
    signal: opts.signal,
    onProgress: opts.onProgress,
    recordDir: scratch ? null : undefined,
    checkpointDir: scratch ? null : undefined,
  });
  return { record, cached: false };
}
