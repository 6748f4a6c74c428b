// What the observers write into a run record (`record.coupling`, `record.intervention`): the typed schema that
// analysis reads without casts. The observers that produce these live in sed/ and intervention/.
import type { InterventionConfig } from "../config/config";

/** Single-task SED sources: AdamW displacements between checkpoints, and loss gradients at a checkpoint. */
export const SOURCES = ["update", "gradient"] as const;
export type Source = (typeof SOURCES)[number];

/** Multitask SED sources: the joint update rows, the summed-loss gradient rows, and each task's own rows. */
export const MULTITASK_SOURCES = ["update", "aggregate", "perTask"] as const;
export type MultitaskSource = (typeof MULTITASK_SOURCES)[number];

/** One measurement of one SED source. */
export interface CurvePoint {
  step: number;
  /** Rows' span: the window covers checkpoints windowStart..windowEnd. */
  windowStart: number;
  windowEnd: number;
  R: number[];
  Rbar: number;
  /** All W singular values, descending. */
  sigma: number[];
  /** Spectral gap: k* = argmax σ_j/σ_{j+1} (1-based) and the ratio. */
  gapIndex: number;
  gapRatio: number;
  /** Median A of the random directions (shared by the sources) and ε. */
  medianRandom: number;
  eps: number;
}

export interface SourceSummary {
  peakRbar: number | null;
  finalRbar: number | null;
  peakR1: number | null;
  curve: CurvePoint[];
}

/** `coupling` field of a single-task run record: per source, and per extra window size for the W ablation. */
export interface CouplingRecord {
  update: SourceSummary;
  gradient: SourceSummary;
  /** W ablation: "update@5", "gradient@5", … (only when config.sed.windows is set). */
  windows?: Record<string, SourceSummary>;
}

/** Principal angles in degrees (ascending), at one measurement. */
export interface AnglePoint {
  step: number;
  /** Per task: between its per-task gradient-SED subspace and the aggregate gradient-SED subspace. */
  aggregate: Record<string, number[]>;
  /** Per task: between its per-task gradient-SED subspace and the update-SED subspace. */
  update: Record<string, number[]>;
  /** Between the aggregate gradient-SED and the update-SED subspaces. */
  aggregateUpdate: number[];
}

/** At one checkpoint: how much the tasks' attention gradients cancel when summed. */
export interface CancellationPoint {
  step: number;
  /** ‖Σ_t g_t‖ / Σ_t ‖g_t‖: 1 when the tasks' gradients point the same way, near 0 when they cancel. */
  ratio: number;
  /** ‖g_t‖ per task. */
  norms: Record<string, number>;
  /** ‖Σ_t g_t‖. */
  aggregateNorm: number;
}

/** `coupling` field of a multitask run record: per source, per task. */
export interface MultitaskCouplingRecord {
  tasks: string[];
  /** One basis from the joint update rows; R_k against each task's centroids. */
  update: Record<string, SourceSummary>;
  /** One basis from the summed-loss gradient rows; R_k against each task's centroids. */
  aggregate: Record<string, SourceSummary>;
  /** Each task's own gradient rows and basis; R_k against its own centroids. */
  perTask: Record<string, SourceSummary>;
  angles: AnglePoint[];
  cancellation: CancellationPoint[];
}

/** Both SED observers write `record.coupling`; a multitask record's has `tasks`, a single-task one's `gradient`. */
export function isMultitaskCoupling(
  c: CouplingRecord | MultitaskCouplingRecord,
): c is MultitaskCouplingRecord {
  return "tasks" in c && Array.isArray(c.tasks);
}

export interface DriftPoint {
  step: number;
  /** Principal angles (degrees, ascending) between the first SED basis and the one the next step uses. */
  anglesDeg: number[];
}

export interface KeptPoint {
  step: number;
  /** Mean over the steps since the previous eval of ‖VVᵀg‖/‖g‖ (the share of the row inside the subspace). */
  keptFraction: number;
}

/** One eval of `record.attention` (intervention runs): where the attention weights and pattern are. */
export interface AttentionPoint {
  step: number;
  /** ‖θ_attn − θ_attn(0)‖ / ‖θ_attn(0)‖ over the attention weight matrices. */
  displacement: number;
  /** Mean |softmax − ½| of the position-0 query's attention over the probe pairs, heads and layers. */
  patternDeviation: number;
  /** The same per layer. */
  byLayer: number[];
}

/** `record.attention`: where attention ends up, at every eval. */
export interface AttentionResult {
  /** Held-out pairs the pattern is averaged over, from the `split` split. */
  pairs: number;
  split: "test";
  points: AttentionPoint[];
}

/** `record.intervention`: what the hook did, for the notebook and the overhead check. */
export interface InterventionResult {
  mode: InterventionConfig["mode"];
  projection: InterventionConfig["projection"];
  rank: number;
  /** First step whose row was projected (after W natural rows), or null. */
  firstProjectedStep: number | null;
  projectedSteps: number;
  /** SED modes: how far the basis moves from the first one (the author's code suggests it freezes). */
  drift: DriftPoint[];
  kept: KeptPoint[];
  /** Seconds spent in the hook (projection, SVD, random frames): the intervention's overhead. */
  hookSeconds: number;
}
