// The run record's schema: what a record holds, and its validation. Pure (no I/O): the training loop builds
// records with it and analysis reads them; records.ts stores and finds them.
import type { TrainConfig } from "../config/config";
import type {
  AttentionResult,
  CouplingRecord,
  InterventionResult,
  MultitaskCouplingRecord,
  ReadoutResult,
} from "./results";

export const RECORD_SCHEMA = "sedlab.run";
/** Bump when a change makes old records unreadable; loading then says so instead of misreading them. */
export const RECORD_VERSION = 1;

export interface MetricPoint {
  step: number;
  /** Train loss (multitask: the sum of the tasks' mean cross-entropies, the training objective). */
  loss: number;
  /** Accuracies (multitask: the lowest over the tasks). */
  trainAcc: number;
  testAcc: number;
  /** Multitask only: each task's own numbers. */
  tasks?: Record<string, TaskMetrics>;
}

export interface TaskMetrics {
  loss: number;
  trainAcc: number;
  testAcc: number;
}

export interface RunRecord {
  schema: typeof RECORD_SCHEMA;
  schemaVersion: number;
  id: string;
  config: TrainConfig;
  /** Task label, e.g. "add" or the normalised expression. */
  task: string;
  backend: string;
  /** The BLAS that ran the backend's matrix products (absent: the backend's own, e.g. wasm's kernel). */
  blas?: string;
  sedlabVersion: string;
  commit: string;
  date: string;
  wallSeconds: number;
  steps: number;
  stopReason: "converged" | "maxSteps";
  metrics: MetricPoint[];
  /** First eval step with test accuracy ≥ 0.5 (the paper's grokking step; multitask: of every task at once). */
  grokStep: number | null;
  firstTest98Step: number | null;
  final: MetricPoint;
  /** Multitask only: each task's grok step (its first eval with test accuracy ≥ 0.5) and first ≥ 0.98. */
  grokSteps?: Record<string, number | null>;
  firstTest98Steps?: Record<string, number | null>;
  /** The SED observer's result (single-task or multitask: `isMultitaskCoupling` tells which). */
  coupling?: CouplingRecord | MultitaskCouplingRecord;
  /** The intervention observer's result. */
  intervention?: InterventionResult;
  /** Intervention runs: where the attention weights and pattern are at each eval (issue #15's controls). */
  attention?: AttentionResult;
  /** `--sed --readouts` runs: what the SED directions are (key frequencies, functional modes, PCs, per-example SVD). */
  readouts?: ReadoutResult;
  /**
   * Where a resumed run's steps came from: one entry per stretch trained on one commit and backend (a run
   * trained in one go has one). Absent in records written before segments were recorded.
   */
  segments?: Segment[];
  /** Other observers' results, keyed by observer name. */
  [extra: string]: unknown;
}

/** What computes, as segments name it: the backend, plus the BLAS running its matmuls, e.g. "wasm + OpenBLAS …". */
export function computePathOf(backend: string, blas?: string | null): string {
  return blas ? `${backend} + ${blas}` : backend;
}

/** A stretch of a run trained on one commit and backend: steps fromStep+1 onwards, until the next segment. */
export interface Segment {
  fromStep: number;
  commit: string;
  backend: string;
  sedlabVersion?: string;
}

export class RecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordError";
  }
}

/** A record as data/runs stores it (and the explorer downloads it). */
export function recordText(r: RunRecord): string {
  return `${JSON.stringify(r, null, 1)}\n`;
}

/** Parse and validate a record's text; errors name `where` (a file) and what is wrong. */
export function parseRecord(text: string, where: string): RunRecord {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new RecordError(
      `run record ${where} is corrupt (not valid JSON: ${(e as Error).message}); delete it and rerun`,
    );
  }
  validateRecord(obj, where);
  return obj;
}

export function validateRecord(obj: unknown, where = "run record"): asserts obj is RunRecord {
  const fail = (msg: string): never => {
    throw new RecordError(`${where}: ${msg}`);
  };
  if (typeof obj !== "object" || obj === null) fail("not a JSON object");
  const r = obj as Record<string, unknown>;
  if (r.schema !== RECORD_SCHEMA) fail(`not a sedlab run record (schema ${JSON.stringify(r.schema)})`);
  if (r.schemaVersion !== RECORD_VERSION) {
    fail(
      `written by an incompatible sedlab version (record schema v${r.schemaVersion}, this sedlab reads v${RECORD_VERSION}); regenerate it`,
    );
  }
  for (const k of ["id", "task", "backend", "commit", "date", "stopReason"]) {
    if (typeof r[k] !== "string") fail(`field "${k}" missing or not a string`);
  }
  for (const k of ["wallSeconds", "steps"]) {
    if (typeof r[k] !== "number" || !Number.isFinite(r[k])) fail(`field "${k}" missing or not a number`);
  }
  if (typeof r.config !== "object" || r.config === null) fail(`field "config" missing`);
  const c = r.config as Record<string, unknown>;
  for (const k of ["p", "seed", "d", "layers", "maxSteps", "checkpointEvery"]) {
    if (typeof c[k] !== "number") fail(`config.${k} missing or not a number`);
  }
  if (!Array.isArray(r.metrics) || r.metrics.length === 0) fail(`field "metrics" missing or empty`);
  for (const m of r.metrics as unknown[]) {
    const mm = m as Record<string, unknown>;
    if (!["step", "loss", "trainAcc", "testAcc"].every((k) => typeof mm?.[k] === "number")) {
      fail("a metrics entry lacks step/loss/trainAcc/testAcc numbers");
    }
  }
  if (r.segments !== undefined) {
    const ok =
      Array.isArray(r.segments) &&
      r.segments.length > 0 &&
      r.segments.every(
        (g) =>
          typeof g?.fromStep === "number" && typeof g?.commit === "string" && typeof g?.backend === "string",
      );
    if (!ok) fail(`field "segments" must be a non-empty list of {fromStep, commit, backend}`);
  }
  for (const k of ["grokStep", "firstTest98Step"]) {
    if (r[k] !== null && typeof r[k] !== "number") fail(`field "${k}" must be a number or null`);
  }
}

/** First eval step with test accuracy ≥ threshold (0.5: the paper's grok step), or null. */
export function grokStepOf(metrics: MetricPoint[], threshold = 0.5): number | null {
  return metrics.find((m) => m.testAcc >= threshold)?.step ?? null;
}

/** A multitask run's grok step of one task (its first eval with test accuracy ≥ threshold). */
export function taskGrokStepOf(metrics: MetricPoint[], task: string, threshold = 0.5): number | null {
  return metrics.find((m) => (m.tasks?.[task]?.testAcc ?? -1) >= threshold)?.step ?? null;
}
