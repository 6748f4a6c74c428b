// Functional modes of weight-space directions: how the final residual stream responds when the attention
// weights are nudged along a unit direction v (the author's spectral/functional_modes/fourier_functional_view.py
// and fourier_dlog_mul.py in skydancerosel/grokking-integrability):
//   h₀(θ; a, b)   the residual stream at position 0 after the last layer, before the final LayerNorm
//   Δh(a, b)      = h₀(θ + εv; a, b) − h₀(θ; a, b),   ε = ε_rel · ‖θ_attn‖, only θ_attn perturbed
//   f(a, b)       = ‖Δh(a, b)‖²
// and the Fourier readout of f over the pairs grid: grouped by the answer q = op(a, b) (the author's
// fourier_profile), by (a + b) mod p, by a, by b and, for multiplication mod a prime, by
// (log a + log b) mod (p − 1) (discrete-log characters). Pure: plain arrays in, plain objects out.
import * as tf from "@tensorflow/tfjs";
import { allPairs, type Pairs, type Task } from "../data/tasks";
import { batchTensors, disposeBatch, embed, forwardFromEmbedHeads, paramTensors } from "../model/model";
import { groupRange, type Layout } from "../model/params";
import type { CompositionR2, ModeReadout, ProfileRecord } from "../records/results";
import {
  type CompositionBasis,
  type Concentration,
  compositionBasis,
  compositionR2,
  discreteLog,
  fourierProfile,
  isPrime,
} from "../util/fourier";
import { attnNorm } from "./coupling";

export type { ModeReadout, ProfileRecord };

/** Pairs per forward pass: bounds the activations ([chunk, dff] floats per layer) at the paper size. */
const CHUNK = 4096;

/**
 * h₀(θ) for every pair: the final residual stream at position 0 before the final LayerNorm (the author's
 * `return_residual`, fourier_functional_view.py:87-95), [n, d] row-major, from the reference forward pass in
 * batches of `chunk` pairs.
 */
export function residualField(
  layout: Layout,
  theta: Float32Array,
  pairs: Pairs,
  chunk = CHUNK,
): Float32Array {
  const n = pairs.a.length;
  const { d, p } = layout.sizes;
  const out = new Float32Array(n * d);
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const bt = batchTensors(
      pairs.a.subarray(start, end),
      pairs.b.subarray(start, end),
      pairs.y.subarray(start, end),
      p,
      { withGradInputs: false },
    );
    let h: tf.Tensor | undefined;
    try {
      h = tf.tidy(() => {
        const P = paramTensors(layout, theta);
        let h0: tf.Tensor2D | undefined;
        forwardFromEmbedHeads(P, layout, embed(P, bt), {
          onResidual: (x) => {
            h0 = x;
          },
        });
        if (!h0) throw new Error("residualField: the forward pass reported no residual stream");
        return h0;
      });
      out.set(h.dataSync(), start * d);
    } finally {
      if (h) h.dispose();
      disposeBatch(bt);
    }
  }
  return out;
}

export interface ModeOptions {
  /** ε = epsRel · ‖θ_attn‖ (the paper's 0.005: EPS_SCALE, fourier_functional_view.py:53). */
  epsRel?: number;
  /** h₀(θ) from `residualField(layout, theta, pairs)`, to reuse across many directions. */
  base?: Float32Array;
  /** +1 (default) or −1: the step θ − εv instead (finite-difference checks). */
  sign?: 1 | -1;
}

/**
 * Δh = h₀(θ + εv) − h₀(θ) per pair, [n, d] row-major (float64 differences of the float32 fields), and ε.
 * v is a direction over the attention group, normalised here as the author does (v / (‖v‖ + 1e-30),
 * fourier_functional_view.py:170-171; ε from the attention weights' norm, :165-168; Δh at :161-200), so v = 0 gives Δh = 0.
 */
export function modeDelta(
  layout: Layout,
  theta: Float32Array,
  v: ArrayLike<number>,
  pairs: Pairs,
  opts: ModeOptions = {},
): { delta: Float64Array; eps: number } {
  const { start, end } = groupRange(layout, "attn");
  if (v.length !== end - start)
    throw new Error(`modeDelta: direction has ${v.length} entries, the attn group ${end - start}`);
  const n = pairs.a.length;
  const d = layout.sizes.d;
  const base = opts.base ?? residualField(layout, theta, pairs);
  if (base.length !== n * d)
    throw new Error(`modeDelta: base residual has length ${base.length}, expected n·d = ${n * d}`);
  const eps = (opts.epsRel ?? 0.005) * attnNorm(layout, theta);
  let vv = 0;
  for (let i = 0; i < v.length; i++) vv += v[i] * v[i];
  const step = ((opts.sign ?? 1) * eps) / (Math.sqrt(vv) + 1e-30);
  const moved = Float32Array.from(theta);
  for (let i = 0; i < v.length; i++) moved[start + i] = theta[start + i] + step * v[i];
  const pert = residualField(layout, moved, pairs);
  const delta = new Float64Array(n * d);
  for (let i = 0; i < delta.length; i++) delta[i] = pert[i] - base[i];
  return { delta, eps };
}

/**
 * The scalar field f(a, b) = ‖Δh(a, b)‖² per pair (length n), the author's `signal_per_input`
 * (fourier_functional_view.py:219). Pass `{ base }` to skip recomputing h₀(θ) for each direction.
 */
export function modeField(
  layout: Layout,
  theta: Float32Array,
  v: ArrayLike<number>,
  pairs: Pairs,
  epsRel = 0.005,
  opts: Omit<ModeOptions, "epsRel"> = {},
): Float64Array {
  const { delta } = modeDelta(layout, theta, v, pairs, { ...opts, epsRel });
  const d = layout.sizes.d;
  const n = pairs.a.length;
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = i * d; j < (i + 1) * d; j++) s += delta[j] * delta[j];
    f[i] = s;
  }
  return f;
}

/** The grid layout of `pairs` (row-major (a, b) = (lo + i, lo + j)), checked; throws when it differs. */
export function checkGrid(task: Task, pairs: Pairs): { side: number; lo: number } {
  const lo = task.lo;
  const side = task.p - lo;
  const n = pairs.a.length;
  if (n !== side * side || pairs.b.length !== n || pairs.y.length !== n)
    throw new RangeError(
      `expected the ${side}×${side} grid of ${task.name} mod ${task.p} (operands ${lo}..${task.p - 1}), got ${n} pairs`,
    );
  for (let k = 0; k < n; k++) {
    if (pairs.a[k] !== lo + Math.floor(k / side) || pairs.b[k] !== lo + (k % side))
      throw new RangeError(
        `pairs are not in row-major grid order at index ${k}: (${pairs.a[k]}, ${pairs.b[k]}); use allPairs(task)`,
      );
  }
  return { side, lo };
}

/** The answer q = op(a, b) as a grouping key, read from the grid's labels (no op re-implemented). */
export function answerKey(task: Task, pairs: Pairs): (a: number, b: number) => number {
  const { side, lo } = checkGrid(task, pairs);
  return (a, b) => pairs.y[(a - lo) * side + (b - lo)];
}

/** Whether the grid's labels are a·b mod p (the builtin mul or an equivalent expression). */
export function isMultiplicative(task: Task, pairs: Pairs): boolean {
  const p = task.p;
  for (let k = 0; k < pairs.a.length; k++) {
    if (Number((BigInt(pairs.a[k]) * BigInt(pairs.b[k])) % BigInt(p)) !== pairs.y[k]) return false;
  }
  return true;
}

function record(prof: Concentration & { power: Float64Array }, n: number): ProfileRecord {
  const total = prof.total;
  return {
    n,
    power: Array.from(prof.power, (x) => (total > 0 ? x / total : 0)),
    peak: prof.top[0].omega,
    F: prof.F,
    top: prof.top.map((t) => ({ omega: t.omega, share: t.share })),
    baseline: prof.baseline,
    total,
  };
}

/** The composition probe's design over some of the grid's pairs: `idx` are their row-major grid indices. */
export interface CompositionSample {
  basis: CompositionBasis;
  idx: Int32Array;
  sample: CompositionR2["sample"];
}

/**
 * The composition probe over the task's held-out pairs (the author's `test_pairs`), or null where it does not
 * exist (p not an odd prime: no discrete-log features; fewer than 2 held-out pairs with a·b ≢ 0).
 */
export function compositionSample(
  task: Task,
  testA: Int32Array,
  testB: Int32Array,
): CompositionSample | null {
  if (!isPrime(task.p) || task.p < 3) return null;
  let usable = 0;
  for (let i = 0; i < testA.length; i++) if (testA[i] % task.p !== 0 && testB[i] % task.p !== 0) usable++;
  if (usable < 2) return null;
  const side = task.p - task.lo;
  const idx = Int32Array.from(testA, (a, i) => (a - task.lo) * side + (testB[i] - task.lo));
  return { basis: compositionBasis(testA, testB, task.p), idx, sample: "test" };
}

/** The composition probe's R² of a field over the task's grid (see compositionSample). */
export function compositionOf(field: ArrayLike<number>, c: CompositionSample): CompositionR2 {
  const r2 = compositionR2(
    c.basis,
    Float64Array.from(c.idx, (i) => field[i]),
  );
  return { sample: c.sample, n: c.basis.kept.length, ...r2 };
}

/**
 * Fourier readout of a scalar field over the task's whole grid (values[i·side + j] ↔ (lo + i, lo + j), the
 * order of `allPairs(task)`): each grouping's bucket means (empty buckets 0) and their spectrum, peak, F,
 * top-3 and baseline (fourier_functional_view.py:205-247; the discrete-log grouping: fourier_dlog_mul.py's
 * fourier_1d over dlog(a) + dlog(b) mod (p − 1)). `pairs` defaults to allPairs(task) (their labels give q).
 * The author reads Δh on the test split only (run_op's `test_pairs`); we read the whole grid, so every bucket
 * is full and a, b profiles are defined. `composition` adds the composition probe (on its own pairs: the test
 * split, as the author's).
 */
export function modeReadout(
  field: ArrayLike<number>,
  task: Task,
  pairs: Pairs = allPairs(task),
  composition: CompositionSample | null = null,
): ModeReadout {
  const { p, lo } = task;
  const { side } = checkGrid(task, pairs);
  if (field.length !== side * side)
    throw new RangeError(`modeReadout: field has length ${field.length}, the grid ${side}×${side}`);
  let mean = 0;
  for (let i = 0; i < field.length; i++) mean += field[i];
  mean /= field.length;
  const q = answerKey(task, pairs);
  const out: ModeReadout = {
    task: task.name,
    p,
    lo,
    mean,
    answer: record(fourierProfile(field, q, p, lo), p),
    sum: record(
      fourierProfile(field, (a, b) => a + b, p, lo),
      p,
    ),
    a: record(
      fourierProfile(field, (a) => a, p, lo),
      p,
    ),
    b: record(
      fourierProfile(field, (_a, b) => b, p, lo),
      p,
    ),
    log: null,
  };
  if (!isMultiplicative(task, pairs)) {
    out.logNote = `the discrete-log basis is read for multiplication only (task ${task.name})`;
  } else if (!isPrime(p) || p < 3) {
    out.logNote = `p = ${p} is not an odd prime: Z_p^* has no primitive root, so no discrete-log basis`;
  } else {
    const { g, log } = discreteLog(p);
    // a·b ≡ 0 (a or b = 0, only when lo = 0) has no log: skipped, as the author's mul grid starts at 1.
    const key = (a: number, b: number) => (a % p === 0 || b % p === 0 ? null : log[a % p] + log[b % p]);
    out.log = { ...record(fourierProfile(field, key, p - 1, lo), p - 1), g };
  }
  if (composition) out.composition = compositionOf(field, composition);
  return out;
}
