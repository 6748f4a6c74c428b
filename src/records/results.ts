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

// --- #18 readouts: the functional modes, centroid PCs and per-example SVD of the readout observer ---

/** One grouping's spectrum, JSON-able: `power` is the author's power_norm (shares, index ω − 1). */
export interface ProfileRecord {
  /** Period of the grouping key (p, or p − 1 for the discrete-log basis). */
  n: number;
  /** Share of the non-DC power per ω = 1..⌊n/2⌋ (sums to 1; all 0 for a flat profile). */
  power: number[];
  /** Peak frequency and its share F (top-1 / total). */
  peak: number;
  F: number;
  top: { omega: number; share: number }[];
  /** F of a uniform spectrum, 1 / ⌊n/2⌋. */
  baseline: number;
  /** Non-DC power of the bucket means (their population variance). */
  total: number;
}

/**
 * The author's composition probe for x² + y² (util/fourier compositionR2): in-sample ridge R² of f on additive,
 * discrete-log and cross-term Fourier features, fitted on `sample` (the run's held-out pairs, a·b ≢ 0; n of them).
 */
export interface CompositionR2 {
  sample: "test" | "all";
  n: number;
  add: number;
  mul: number;
  addMul: number;
  cross: number;
  full: number;
}

export interface ModeReadout {
  task: string;
  p: number;
  lo: number;
  /** Mean of f over the grid (the DC the spectra leave out). */
  mean: number;
  /** Grouped by the answer q = op(a, b) (the task's labels), mod p: the author's fourier_profile. */
  answer: ProfileRecord;
  /** Grouped by (a + b) mod p, by a, by b. */
  sum: ProfileRecord;
  a: ProfileRecord;
  b: ProfileRecord;
  /** Multiplication mod a prime: grouped by (log_g a + log_g b) mod (p − 1), g the smallest primitive root. */
  log: (ProfileRecord & { g: number }) | null;
  /** Why `log` is null (not a multiplicative task, or p not prime). */
  logNote?: string;
  /** The composition probe (runs since it was added; p prime). */
  composition?: CompositionR2;
}

/** Single-ω fits of one position key: the best ω (lowest on ties), its R², and R² at every ω (index ω − 1). */
export interface SingleOmega {
  omega: number;
  r2: number;
  r2ByOmega: number[];
}

export interface PcFourier {
  /** Single-ω fits s ≈ c0 + c1 cos(2πω(a+b)/p) + c2 sin(·), ω = 1..⌊p/2⌋ (fourier_R2_per_omega "sum"). */
  sum: SingleOmega;
  /** The same single-ω fits on a alone and on b alone (the author's R2_a_o, R2_b_o controls). */
  a: SingleOmega;
  b: SingleOmega;
  /**
   * Full-basis R² (intercept + cos, sin at every ω = 1..⌊p/2⌋; fourier_R2_full_basis): of a + b, a, b,
   * a & b (both sets of columns), the answer y; and, where the log basis applies, of log a, log b,
   * log a & log b and log y, with period p − 1 and the same ω = 1..⌊p/2⌋.
   */
  full: {
    sum: number;
    a: number;
    b: number;
    a_b: number;
    y: number;
    log_a?: number;
    log_b?: number;
    log_a_b?: number;
    log_y?: number;
  };
  /** Single-ω fits over (log a + log b) mod (p − 1), ω = 1..⌊(p−1)/2⌋; null where the log basis does not apply. */
  log: SingleOmega | null;
}

export interface PcFourierReadout {
  p: number;
  lo: number;
  /** The primitive root of the discrete logs, or null with `logNote` saying why there is no log basis. */
  g: number | null;
  logNote?: string;
  pcs: PcFourier[];
}

/** A random direction's functional mode, kept short: peak ω and F per grouping (the null distribution of F). */
export interface ModePeak {
  peak: number;
  F: number;
}
export interface RandomModeSummary {
  answer: ModePeak;
  sum: ModePeak;
  a: ModePeak;
  b: ModePeak;
  log: ModePeak | null;
  /** The composition probe on the random direction's f: its weight-space null (runs since it was added). */
  composition?: CompositionR2;
}

/** The per-example gradient SVD at a readout point (the paper's §C6). */
export interface PerExampleReadout {
  /** Examples (the SED gradient batch) and σ_k of their centred attention gradients. */
  B: number;
  sigma: number[];
  /** σ_k² over the centred gradients' total variance. */
  share: number[];
  /** Coupling of the top directions to the centroids (the SED probes; a random baseline of the SED's size). */
  R: number[];
  Rbar: number;
  medianRandom: number;
  /** |cos| of each direction with the batch's mean gradient (the paper: 0.05–0.35 for the top one). */
  cosMean: number[];
  meanGradNorm: number;
}

/** What was read out at one step, and why then. */
export interface ReadoutPoint {
  step: number;
  reasons: ("init" | "first measurement" | "post-grok" | "end")[];
  /** Functional modes of the top SED directions (k = 1..K per source); absent at init (no SED basis yet). */
  modes?: Partial<Record<"update" | "gradient", ModeReadout[]>>;
  randomModes: RandomModeSummary[];
  /** Centroid PCs: explained-variance shares and their Fourier R². */
  centroidPcs: PcFourierReadout & { share: number[] };
  perExample: PerExampleReadout;
  seconds: number;
}

/** `record.readouts`: key-frequency power at every eval, and the readout points. */
export interface ReadoutResult {
  /** Share of the token embedding's non-DC power per ω = 1..⌊p/2⌋ (index ω − 1), 4 significant digits. */
  keyFrequencies: { step: number; power: number[] }[];
  points: ReadoutPoint[];
  /** f(a, b) = ‖Δh‖² of the top update- and gradient-SED direction at the last point with SED modes, row-major
   * over the grid (operands lo..p−1), 4 significant digits. */
  fields?: { step: number; lo: number; side: number; update?: number[]; gradient?: number[] };
  /** Seconds spent in the readouts (their overhead). */
  seconds: number;
}
