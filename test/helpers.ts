// Shared by the tests: numerical comparisons, and when a test whose prerequisites are missing may skip.
import { AssertionError } from "node:assert";
import { groupRange, type Layout } from "../src/model/params";
import type { RunRecord } from "../src/records/schema";
import { computePathEnv } from "../src/runs/backend";
import type { GradHookContext } from "../src/train/optim";
import { norm } from "../src/util/linalg";

/**
 * Whether this is a CI run (`CI` set, other than "", "0" or "false"; .ci/run sets CI=true). Tests that need
 * something installed (Slurm, Chromium, Jupyter) skip only outside CI when it is absent; under CI its absence, like
 * any failure to start it, is a failure.
 */
export function inCI(): boolean {
  const v = (process.env.CI ?? "").trim().toLowerCase();
  return v !== "" && v !== "0" && v !== "false";
}

/**
 * A record without the fields that legitimately differ between two trainings of one config (date, wall time),
 * nor the `also` fields a test says differ too (e.g. the commit of another build).
 */
export function comparable(r: RunRecord, ...also: (keyof RunRecord)[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...r };
  for (const k of ["date", "wallSeconds", ...also]) delete out[k];
  return out;
}

/**
 * Environment for a child `sedlab` that takes this process's compute path (computePathEnv, as a sweep gives its
 * workers). Tests that compare the records of separate processes bit for bit need one path: the start-up timing
 * can flip on a loaded 2-core machine, and the records then differ in float rounding (saying so in `blas` and
 * `segments`).
 */
export const samePathEnv = computePathEnv;

/** Max |x − y| relative to the reference's largest magnitude. */
export function maxRelErr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`length ${x.length} vs ${y.length}`);
  let num = 0;
  let scale = 1e-12;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return num / scale;
}

/** The largest |x_i| (0 for an empty array). */
export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

export interface Tolerance {
  /** Relative part: entry i may differ by rtol·|expected_i| … */
  rtol: number;
  /** … plus this absolute part (for entries near zero, where the relative part vanishes). */
  atol: number;
}

export interface Closeness {
  /** Entries outside atol + rtol·|expected| (a NaN counts as outside). */
  outside: number;
  /** The entry with the largest |a − b| / (atol + rtol·|b|), and that ratio (≤ 1 when all are close). */
  worst: { index: number; actual: number; expected: number; ratio: number };
}

/** How close `actual` is to `expected` elementwise, against |a − b| ≤ atol + rtol·|b|. */
export function closeness(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): Closeness {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let outside = 0;
  let worst = { index: -1, actual: Number.NaN, expected: Number.NaN, ratio: 0 };
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    const allowed = tol.atol + tol.rtol * Math.abs(b);
    const err = Math.abs(a - b);
    let ratio = allowed > 0 ? err / allowed : err > 0 ? Number.POSITIVE_INFINITY : 0;
    if (Number.isNaN(err)) ratio = Number.POSITIVE_INFINITY;
    if (!(err <= allowed)) outside++;
    if (ratio > worst.ratio || worst.index < 0) worst = { index: i, actual: a, expected: b, ratio };
  }
  return { outside, worst };
}

/**
 * Asserts |actual_i − expected_i| ≤ atol + rtol·|expected_i| for every i (numpy's allclose). Unlike maxRelErr, a
 * small entry gets a small tolerance. The failure names how many entries are outside, the worst one and its values.
 */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  label = "values",
): void {
  const { outside, worst } = closeness(actual, expected, tol);
  if (outside === 0) return;
  const w = worst;
  const err = Math.abs(w.actual - w.expected);
  throw new AssertionError({
    message:
      `${label}: ${outside} of ${actual.length} entries outside |a − b| ≤ ${tol.atol.toExponential(2)} + ` +
      `${tol.rtol.toExponential(2)}·|b|; worst [${w.index}]: actual ${w.actual}, expected ${w.expected}, ` +
      `|a − b| ${err.toExponential(3)} = ${w.ratio.toPrecision(3)}× its tolerance`,
    actual: w.actual,
    expected: w.expected,
    operator: "allClose",
  });
}

/** A gradient hook's context over `grad` (theta's layout) at `step`, as adamwStep builds it (no setGrad). */
export function gradContext(layout: Layout, grad: Float32Array, step: number): GradHookContext {
  return {
    step,
    layout,
    gradNorm: norm(grad),
    all: grad,
    grad: (g) => {
      const r = groupRange(layout, g);
      return grad.subarray(r.start, r.end);
    },
    setGrad: () => {
      throw new Error("unused");
    },
  };
}
