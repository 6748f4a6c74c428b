// Training a run in Node: the loop (train/train.ts) with the observers the config asks for, its checkpoint
// file under checkpoints/, its record under data/runs/, stamped with the backend, package version and commit.
import type { TrainConfig } from "../config/config";
import { runId, saveRecord } from "../records/records";
import type { RunRecord } from "../records/schema";
import type { TrainObserver } from "../train/observer";
import { train } from "../train/train";
import { checkpointsDir, packageVersion } from "../util/paths";
import type { Progress } from "../util/progress";
import { gitCommit } from "../util/provenance";
import { initBackend } from "./backend";
import { activeBlas } from "./blas";
import { fileCheckpointStore } from "./checkpointFile";
import { observersFor } from "./observers";

export interface TrainRunOptions {
  /** Observers besides those the config asks for (a test's probe, a notebook's live view). */
  observers?: TrainObserver[];
  onProgress?: (p: Progress) => void;
  /** Aborting saves a checkpoint (when enabled) and rejects with TrainingInterrupted. */
  signal?: AbortSignal;
  /** Folder for resumable checkpoints; null disables them. Default: checkpoints/. */
  checkpointDir?: string | null;
  /** Folder to save the run record in; null: do not save. Default: data/runs. */
  recordDir?: string | null;
  /** Stop (as if interrupted, after checkpointing) once this step is reached; for tests of resumption. */
  stopAtStep?: number;
  /** Warnings (a resume across commits or backends, an invalid record moved aside); default stderr. */
  warn?: (msg: string) => void;
  /** The commit to stamp (default: this checkout's, from git); tests fake a change of code with it. */
  commit?: () => string;
}

/**
 * Train one run and return its record (also saved unless `recordDir` is null). Resumes from a checkpoint of
 * the same config when one exists; the resumed run ends with the same record as an uninterrupted one.
 */
export async function trainRun(config: TrainConfig, opts: TrainRunOptions = {}): Promise<RunRecord> {
  const backend = await initBackend();
  const id = runId(config);
  const blas = backend.name === "wasm" ? activeBlas() : null;
  const ckDir = opts.checkpointDir === undefined ? checkpointsDir() : opts.checkpointDir;
  const warn = opts.warn ?? ((m: string) => console.warn(`sedlab: ${m}`));
  return train(config, {
    env: {
      id,
      backend: backend.name,
      // Asked now, not at start-up: the bench and tests switch the BLAS path within one process.
      blas,
      sedlabVersion: packageVersion(),
      commit: opts.commit ?? gitCommit,
    },
    observers: observersFor(config, opts.observers),
    onProgress: opts.onProgress,
    signal: opts.signal,
    stopAtStep: opts.stopAtStep,
    checkpoints: ckDir ? fileCheckpointStore(ckDir, id) : null,
    warn,
    saveRecord: opts.recordDir === null ? undefined : (r) => saveRecord(r, opts.recordDir ?? undefined, warn),
  });
}
