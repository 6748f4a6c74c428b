// Fourier readouts of the model: the residual-stream response Δh to a weight-space direction and its spectra
// (sed/functionalModes), the token embedding's key frequencies (sed/keyFrequencies), and the centroid PCs'
// Fourier R² (sed/centroidPcs): planted signals, finite-difference identities, and tensor bookkeeping. Then the
// x² + y² composition probe read from a record's fields (analysis/readouts).
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import {
  COMPOSITION_GAIN,
  compositionDisplay,
  compositionRows,
  type ModeRow,
  readoutVerdict,
} from "../src/analysis/readouts";
import { makeConfig } from "../src/config/config";
import { allPairs, makeDataset, makeTask, type Pairs } from "../src/data/tasks";
import { batchTensors, disposeBatch, forward, paramTensors } from "../src/model/model";
import { groupRange, initTheta, type Layout, makeLayout, paramView } from "../src/model/params";
import type { CompositionR2, ReadoutResult } from "../src/records/results";
import type { RunRecord } from "../src/records/schema";
import { initBackend } from "../src/runs/backend";
import { centroidMatrix, centroidPcs, pcFourierR2 } from "../src/sed/centroidPcs";
import { centroids, disposeProbes, makeProbes, perProbe } from "../src/sed/centroids";
import { modeDelta, modeField, modeReadout, residualField } from "../src/sed/functionalModes";
import { embeddingPower, keyFrequencies } from "../src/sed/keyFrequencies";
import {
  basisR2,
  compositionBasis,
  compositionR2,
  discreteLog,
  fourierColumns,
  singleFrequencyR2,
} from "../src/util/fourier";
import { Rng } from "../src/util/rng";
import { maxRelErr } from "./helpers";

const TAU = 2 * Math.PI;
const config = makeConfig({ preset: "test" }); // p = 23, d = 32, 1 layer
const P = config.p;

function model(): { layout: Layout; theta: Float32Array } {
  const layout = makeLayout(config);
  return { layout, theta: initTheta(layout, new Rng(1).fork("init")) };
}

function unitDirection(layout: Layout, seed: number): Float32Array {
  const { start, end } = groupRange(layout, "attn");
  const v = new Rng(seed).fillNormal(new Float32Array(end - start));
  let s = 0;
  for (const x of v) s += x * x;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i] *= inv;
  return v;
}

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

function subset(pairs: Pairs, idx: number[]): Pairs {
  return {
    a: Int32Array.from(idx, (i) => pairs.a[i]),
    b: Int32Array.from(idx, (i) => pairs.b[i]),
    y: Int32Array.from(idx, (i) => pairs.y[i]),
  };
}

/** A field over the task's grid from a function of (a, b). */
function planted(task: ReturnType<typeof makeTask>, f: (a: number, b: number) => number): Float64Array {
  const pairs = allPairs(task);
  return Float64Array.from(pairs.a, (a, i) => f(a, pairs.b[i]));
}

/** Runs fn twice (the first warms any lazily created backend state) and asserts no tensor outlives it. */
function assertNoLeak(fn: () => void): void {
  fn();
  const before = tf.memory().numTensors;
  fn();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
}

describe("functional modes, key frequencies and centroid PCs", () => {
  before(async () => {
    await initBackend();
  });

  test("residualField is the pre-LayerNorm residual at position 0: single-pair forwards, chunking, the head", () => {
    const { layout, theta } = model();
    const pairs = allPairs(makeTask({ op: "add", p: P }));
    const d = layout.sizes.d;
    const h = residualField(layout, theta, pairs);
    assert.equal(h.length, pairs.a.length * d);
    // Chunk boundaries (100 does not divide 529) change nothing.
    assert.ok(maxRelErr(residualField(layout, theta, pairs, 100), h) < 1e-6);
    for (const i of [0, 137, pairs.a.length - 1]) {
      const one = residualField(layout, theta, subset(pairs, [i]));
      assert.ok(maxRelErr(one, h.subarray(i * d, (i + 1) * d)) < 1e-5, `pair ${i}`);
    }
    // The head applied to LN_f(h₀) gives the forward pass's logits: h₀ is what the head reads, pre-LayerNorm.
    const idx = [3, 250, 511];
    const sub = subset(pairs, idx);
    const bt = batchTensors(sub.a, sub.b, sub.y, P, { withGradInputs: false });
    const logits = tf.tidy(() => forward(paramTensors(layout, theta), layout, bt).dataSync());
    disposeBatch(bt);
    const g = paramView(layout, theta, "ln_f.g");
    const beta = paramView(layout, theta, "ln_f.b");
    const W = paramView(layout, theta, "head.w"); // [d, p]
    const bias = paramView(layout, theta, "head.b");
    const mine = new Float64Array(idx.length * P);
    idx.forEach((pi, r) => {
      const x = h.subarray(pi * d, (pi + 1) * d);
      let m = 0;
      for (const v of x) m += v / d;
      let va = 0;
      for (const v of x) va += (v - m) ** 2 / d;
      const hf = Array.from(x, (v, j) => ((v - m) / Math.sqrt(va + 1e-5)) * g[j] + beta[j]);
      for (let k = 0; k < P; k++) {
        let z = bias[k];
        for (let j = 0; j < d; j++) z += hf[j] * W[j * P + k];
        mine[r * P + k] = z;
      }
    });
    assert.ok(maxRelErr(mine, logits) < 1e-4, `head on LN_f(h₀) vs logits: ${maxRelErr(mine, logits)}`);
  });

  test("Δh is exactly 0 for v = 0, linear in ε and odd to first order", () => {
    const { layout, theta } = model();
    const pairs = allPairs(makeTask({ op: "add", p: P }));
    const base = residualField(layout, theta, pairs);
    const zero = new Float32Array(unitDirection(layout, 3).length);
    const f0 = modeField(layout, theta, zero, pairs, 0.005, { base });
    assert.equal(f0.length, pairs.a.length);
    assert.ok(
      f0.every((x) => x === 0),
      "v = 0 must give Δh = 0 exactly",
    );

    const v = unitDirection(layout, 7);
    const plus = modeDelta(layout, theta, v, pairs, { base, epsRel: 0.005 });
    const attn = groupRange(layout, "attn");
    assert.ok(Math.abs(plus.eps - 0.005 * norm(theta.subarray(attn.start, attn.end))) < 1e-9 * plus.eps);
    const np = norm(plus.delta);
    assert.ok(np > 0, "a random direction moves the residual stream");
    // Δh(±εv) = ±ε·J v + ½ε²·H[v, v] + O(ε³), so ‖Δh(+) + Δh(−)‖ / ‖Δh(+)‖ = ε‖H[v, v]‖ / ‖J v‖ + O(ε²): the
    // curvature term only, of order ε_rel = 0.005 times an O(1) curvature-to-slope ratio (measured 0.008–0.009
    // for three random v at this θ); float32 rounding of h₀ adds ~1e-7·‖h₀‖/‖Δh‖ ≈ 5e-5 (‖Δh‖/‖h₀‖ ≈ 2e-3).
    // Tolerance 0.05: 6× the measured curvature term, 40× below the ratio 2 of an even (sign-blind) response.
    // And the asymmetry must be that second-order term: it halves with ε (0.5 ± 0.1; rounding is ~1% of it).
    const odd = (e: number) => {
      const p = modeDelta(layout, theta, v, pairs, { base, epsRel: e });
      const m = modeDelta(layout, theta, v, pairs, { base, epsRel: e, sign: -1 });
      return { ratio: norm(p.delta.map((x, i) => x + m.delta[i])) / norm(p.delta), size: norm(p.delta) };
    };
    const full = odd(0.005);
    assert.ok(Math.abs(full.size - np) < 1e-12 * np);
    assert.ok(full.ratio < 0.05, `odd to first order: ‖Δ+ + Δ−‖/‖Δ+‖ = ${full.ratio}`);
    const half = odd(0.0025);
    const shrink = half.ratio / full.ratio;
    assert.ok(
      Math.abs(shrink - 0.5) < 0.1,
      `the even part is O(ε²): ratio ${half.ratio} at ε/2 vs ${full.ratio}`,
    );
    // Linear in ε: halving ε halves Δh (to the same second-order term).
    const lin = half.size / np;
    assert.ok(Math.abs(lin - 0.5) < 0.025, `‖Δh(ε/2)‖/‖Δh(ε)‖ = ${lin}`);
    // The field is ‖Δh‖² per pair; without `base` it recomputes h₀ and agrees; v is normalised first.
    const f = modeField(layout, theta, v, pairs, 0.005, { base });
    const d = layout.sizes.d;
    assert.ok(Math.abs(f[5] - norm(plus.delta.subarray(5 * d, 6 * d)) ** 2) < 1e-12 * (1 + f[5]));
    const scaled = Float32Array.from(v, (x) => 3 * x);
    assert.ok(maxRelErr(modeField(layout, theta, scaled, pairs), f) < 1e-3);
  });

  test("modeReadout recovers a planted (a + b) frequency for add", () => {
    const task = makeTask({ op: "add", p: P });
    const r = modeReadout(
      planted(task, (a, b) => 2 + Math.cos((TAU * 3 * ((a + b) % P)) / P)),
      task,
    );
    for (const prof of [r.answer, r.sum]) {
      assert.equal(prof.peak, 3);
      assert.ok(prof.F > 1 - 1e-9, `F = ${prof.F}`);
      assert.equal(prof.power.length, Math.floor(P / 2));
      assert.ok(Math.abs(prof.power.reduce((s, x) => s + x, 0) - 1) < 1e-9);
      assert.equal(prof.baseline, 1 / Math.floor(P / 2));
    }
    // A function of a + b averages out over a or b alone: flat profiles (F = 0, no power).
    assert.equal(r.a.total, 0);
    assert.equal(r.b.F, 0);
    assert.ok(Math.abs(r.mean - 2) < 1e-12);
    assert.equal(r.log, null);
    assert.match(r.logNote ?? "", /multiplication only/);
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(r)));
    // A field of a alone peaks in the a profile only.
    const ra = modeReadout(
      planted(task, (a) => Math.sin((TAU * 5 * a) / P)),
      task,
    );
    assert.equal(ra.a.peak, 5);
    assert.ok(ra.a.F > 1 - 1e-9);
    assert.equal(ra.sum.total, 0);
  });

  test("modeReadout's discrete-log basis for mul at a prime; a clear note for a non-prime p", () => {
    const task = makeTask({ op: "mul", p: P });
    assert.equal(task.lo, 1);
    const { log } = discreteLog(P);
    const m = P - 1;
    const r = modeReadout(
      planted(task, (a, b) => Math.cos((TAU * 2 * ((log[a] + log[b]) % m)) / m)),
      task,
    );
    assert.ok(r.log);
    assert.equal(r.log.n, m);
    assert.equal(r.log.g, 5);
    assert.equal(r.log.peak, 2);
    assert.ok(r.log.F > 1 - 1e-9, `log F = ${r.log.F}`);
    assert.equal(r.log.power.length, m / 2);
    // The same field grouped by the raw answer a·b mod p spreads over many frequencies.
    assert.ok(r.answer.F < 0.5 * r.log.F, `answer F ${r.answer.F} vs log F ${r.log.F}`);

    // The grid of 1..p−1 must be in allPairs order; a shuffled one is refused.
    const pairs = allPairs(task);
    const swapped = { a: Int32Array.from(pairs.a), b: Int32Array.from(pairs.b), y: Int32Array.from(pairs.y) };
    [swapped.b[0], swapped.b[1]] = [swapped.b[1], swapped.b[0]];
    assert.throws(() => modeReadout(new Float64Array(pairs.a.length), task, swapped), /row-major grid order/);
    assert.throws(() => modeReadout(new Float64Array(10), task), /field has length/);

    // p = 21 is not prime: the log basis is skipped with a note (and the other profiles still read).
    const warn = console.warn;
    console.warn = () => {};
    let t21: ReturnType<typeof makeTask>;
    try {
      t21 = makeTask({ op: "mul", p: 21 });
    } finally {
      console.warn = warn;
    }
    const r21 = modeReadout(
      planted(t21, (a, b) => Math.cos((TAU * ((a * b) % 21)) / 21)),
      t21,
    );
    assert.equal(r21.log, null);
    assert.match(r21.logNote ?? "", /p = 21 is not an odd prime/);
    assert.equal(r21.answer.peak, 1);
    const pc21 = pcFourierR2([planted(t21, (a) => a)], t21);
    assert.equal(pc21.g, null);
    assert.match(pc21.logNote ?? "", /p = 21 is not an odd prime/);
    assert.equal(pc21.pcs[0].log, null);
    assert.equal(pc21.pcs[0].full.log_y, undefined);
  });

  test("embeddingPower puts a planted cos/sin pair's power on its frequency; keyFrequencies picks it", () => {
    const { layout, theta } = model();
    const d = layout.sizes.d;
    const E = paramView(layout, theta, "embed.tok");
    E.fill(0);
    for (let t = 0; t < P; t++) {
      E[t * d + 0] = 3 + Math.cos((TAU * 5 * t) / P); // a DC offset, which must not count
      E[t * d + 7] = Math.sin((TAU * 5 * t) / P);
    }
    const power = embeddingPower(layout, theta);
    assert.equal(power.length, Math.floor(P / 2));
    assert.ok(Math.abs(power.reduce((s, x) => s + x, 0) - 1) < 1e-12, "normalised: sums to 1");
    assert.ok(power[4] > 1 - 1e-9, `share at ω = 5: ${power[4]}`);
    assert.deepEqual(keyFrequencies(power), [5]);
    // Two frequencies, 70% / 30% of the energy: 90% needs both (largest first), 50% only the larger.
    for (let t = 0; t < P; t++) {
      E[t * d + 0] = Math.sqrt(0.7) * Math.cos((TAU * 5 * t) / P);
      E[t * d + 7] = Math.sqrt(0.3) * Math.cos((TAU * 9 * t) / P);
    }
    const two = embeddingPower(layout, theta);
    assert.ok(Math.abs(two[4] - 0.7) < 1e-6 && Math.abs(two[8] - 0.3) < 1e-6, "float32 entries"); // theta is float32
    assert.deepEqual(keyFrequencies(two), [5, 9]);
    assert.deepEqual(keyFrequencies(two, 0.5), [5]);
    assert.deepEqual(keyFrequencies(new Float64Array(11)), []);
    // A flat embedding has no non-DC power at all.
    E.fill(1);
    assert.ok(embeddingPower(layout, theta).every((x) => x === 0));
  });

  test("centroidPcs: a planted rank-1 structure is PC1 (up to sign) with share ≈ 1; shares add up", () => {
    const n = 303; // not a multiple of 4: the scatter matrix's blocked and remainder rows
    const dim = 12;
    const rng = new Rng(5);
    const s = Float64Array.from({ length: n }, () => rng.normal());
    const s2 = Float64Array.from({ length: n }, () => rng.normal());
    const u = Float64Array.from({ length: dim }, (_, i) => (i % 3) - 1 + 0.5);
    const w = Float64Array.from({ length: dim }, (_, i) => (i % 2 ? 1 : -1) * 0.01);
    const off = Float64Array.from({ length: dim }, (_, i) => 10 + i); // a mean, removed by the centring
    const X = new Float64Array(n * dim);
    for (let r = 0; r < n; r++)
      for (let i = 0; i < dim; i++) X[r * dim + i] = off[i] + s[r] * u[i] + s2[r] * w[i];
    const pcs = centroidPcs(X, n, dim, 3);
    assert.equal(pcs.scores.length, 3);
    const sm = s.reduce((a, x) => a + x, 0) / n;
    const expected = Float64Array.from(s, (x) => (x - sm) * norm(u));
    const sign = Math.sign(pcs.scores[0][0] * expected[0]);
    assert.ok(
      maxRelErr(
        pcs.scores[0].map((x) => sign * x),
        expected,
      ) < 1e-4,
    );
    assert.ok(pcs.share[0] > 0.999, `share ${pcs.share[0]}`);
    assert.ok(pcs.share[1] > 0 && pcs.share[1] < 1e-3);
    assert.ok(pcs.share[2] < 1e-12);
    assert.ok(Math.abs(pcs.share.reduce((a, x) => a + x, 0) - 1) < 1e-9);
    // Scores have squared norm λ (U·S: ‖U_j S_j‖² = S_j²).
    assert.ok(Math.abs(norm(pcs.scores[0]) ** 2 - pcs.values[0]) < 1e-8 * pcs.values[0]);
  });

  test("pcFourierR2 recovers a planted (a + b) frequency and equals the author's least-squares fits", () => {
    const task = makeTask({ op: "add", p: P });
    const pairs = allPairs(task);
    const rng = new Rng(9);
    const wave = planted(task, (a, b) => Math.cos((TAU * 4 * (a + b)) / P));
    const noisy = Float64Array.from(wave, (x) => x + 0.3 * rng.normal());
    const res = pcFourierR2([wave, noisy], task);
    assert.equal(res.g, null);
    assert.match(res.logNote ?? "", /is 0 mod p/);
    const [pc, pn] = res.pcs;
    assert.equal(pc.sum.omega, 4);
    assert.ok(pc.sum.r2 > 1 - 1e-9, `R² ${pc.sum.r2}`);
    assert.equal(pc.sum.r2ByOmega.length, Math.floor(P / 2));
    assert.ok(pc.sum.r2ByOmega[0] < 1e-9);
    assert.ok(pc.full.sum > 1 - 1e-9 && pc.full.y > 1 - 1e-9);
    assert.ok(pc.full.a < 1e-9 && pc.full.b < 1e-9 && pc.full.a_b < 1e-9);
    assert.equal(pn.sum.omega, 4);
    assert.ok(pn.sum.r2 > 0.5 && pn.sum.r2 < 0.95);
    // Against basisR2 on the author's design matrices (fourier_readout.py: intercept + cos, sin at ω = 1..⌊p/2⌋).
    const omegas = Array.from({ length: Math.floor(P / 2) }, (_, i) => i + 1);
    const xs = Int32Array.from(pairs.a, (a, i) => a + pairs.b[i]);
    const A = fourierColumns(pairs.a, P, omegas);
    const B = fourierColumns(pairs.b, P, omegas);
    const mixed = Float64Array.from(
      noisy,
      (x, i) => x + Math.sin((TAU * 2 * pairs.a[i]) / P) + (0.5 * pairs.b[i] ** 2) / P,
    );
    const [pm] = pcFourierR2([mixed], task).pcs;
    const close = (x: number, y: number, what: string) =>
      assert.ok(Math.abs(x - y) < 1e-9, `${what}: ${x} vs ${y}`);
    close(pm.full.sum, basisR2(mixed, fourierColumns(xs, P, omegas)), "sum");
    close(pm.full.a, basisR2(mixed, A), "a");
    close(pm.full.b, basisR2(mixed, B), "b");
    close(pm.full.a_b, basisR2(mixed, [...A, ...B]), "a_b");
    close(pm.full.y, basisR2(mixed, fourierColumns(pairs.y, P, omegas)), "y");
    for (const w of [1, 2, 4, 11]) {
      close(pm.sum.r2ByOmega[w - 1], singleFrequencyR2(mixed, xs, P, w), `sum ω=${w}`);
      close(pm.a.r2ByOmega[w - 1], singleFrequencyR2(mixed, pairs.a, P, w), `a ω=${w}`);
      close(pm.b.r2ByOmega[w - 1], singleFrequencyR2(mixed, pairs.b, P, w), `b ω=${w}`);
    }
    assert.equal(pm.a.omega, 2);
    assert.doesNotThrow(() => JSON.stringify(res));
  });

  test("pcFourierR2's log bases for mul: a planted log-frequency and the author's least-squares fits", () => {
    const task = makeTask({ op: "mul", p: P });
    const pairs = allPairs(task);
    const { log } = discreteLog(P);
    const m = P - 1;
    const la = Int32Array.from(pairs.a, (a) => log[a]);
    const lb = Int32Array.from(pairs.b, (b) => log[b]);
    const ly = Int32Array.from(pairs.y, (y) => log[y]);
    const wave = planted(task, (a, b) => Math.cos((TAU * 2 * ((log[a] + log[b]) % m)) / m));
    const rng = new Rng(4);
    const mixed = Float64Array.from(wave, (x, i) => x + 0.4 * rng.normal() + Math.cos((TAU * 3 * la[i]) / m));
    const res = pcFourierR2([wave, mixed], task);
    assert.equal(res.g, 5);
    const [pw, pm] = res.pcs;
    assert.ok(pw.log);
    assert.equal(pw.log.omega, 2);
    assert.ok(pw.log.r2 > 1 - 1e-9);
    assert.equal(pw.log.r2ByOmega.length, m / 2);
    assert.ok((pw.full.log_y ?? 0) > 1 - 1e-9 && (pw.full.y ?? 0) > 1 - 1e-9);
    assert.ok(pw.sum.r2 < 0.5, `the additive single-ω basis misses it: ${pw.sum.r2}`);
    const omegas = Array.from({ length: Math.floor(P / 2) }, (_, i) => i + 1); // the author's, period p − 1
    const LA = fourierColumns(la, m, omegas);
    const LB = fourierColumns(lb, m, omegas);
    const close = (x: number | undefined, y: number, what: string) =>
      assert.ok(x !== undefined && Math.abs(x - y) < 1e-9, `${what}: ${x} vs ${y}`);
    close(pm.full.log_a, basisR2(mixed, LA), "log_a");
    close(pm.full.log_b, basisR2(mixed, LB), "log_b");
    close(pm.full.log_a_b, basisR2(mixed, [...LA, ...LB]), "log_a_b");
    close(pm.full.log_y, basisR2(mixed, fourierColumns(ly, m, omegas)), "log_y");
    const A = fourierColumns(pairs.a, P, omegas);
    const B = fourierColumns(pairs.b, P, omegas);
    close(pm.full.a_b, basisR2(mixed, [...A, ...B]), "a_b on 1..p−1");
    const lsum = Int32Array.from(la, (a, i) => (a + lb[i]) % m);
    close(pm.log?.r2ByOmega[1], singleFrequencyR2(mixed, lsum, m, 2), "log single ω = 2");
  });

  test("centroidMatrix: the logit centroids of every grid pair, [n, 2d] in allPairs order", () => {
    const { layout, theta } = model();
    const task = makeTask({ op: "mul", p: P });
    const pairs = allPairs(task);
    const n = pairs.a.length;
    const d = layout.sizes.d;
    const M = centroidMatrix(layout, theta, task);
    assert.equal(M.length, n * 2 * d);
    const idx = [0, 200, n - 1];
    const probes = makeProbes(subset(pairs, idx), P);
    const rows = perProbe(centroids(layout, theta, probes, "logit"), idx.length, d);
    disposeProbes(probes);
    idx.forEach((i, r) => {
      assert.ok(maxRelErr(M.subarray(i * 2 * d, (i + 1) * 2 * d), rows[r]) < 1e-4, `row ${i}`);
    });
    const pcs = centroidPcs(M, n, 2 * d, 5);
    assert.equal(pcs.scores.length, 5);
    assert.ok(pcs.share.every((x, j) => x >= 0 && (j === 0 || x <= pcs.share[j - 1] + 1e-12)));
    assert.throws(() => centroidMatrix(layout, theta, makeTask({ op: "add", p: 29 })), /task has p = 29/);
  });

  test("no tensor outlives residualField, modeField or centroidMatrix", () => {
    const { layout, theta } = model();
    const task = makeTask({ op: "add", p: P });
    const pairs = allPairs(task);
    const v = unitDirection(layout, 11);
    assertNoLeak(() => residualField(layout, theta, pairs, 200));
    assertNoLeak(() => modeField(layout, theta, v, pairs));
    assertNoLeak(() => centroidMatrix(layout, theta, task));
  });
});

describe("the composition probe on a record's fields (x² + y²)", () => {
  const p = 61; // prime, and N ≈ 1800 held-out pairs against 520 columns: chance R² ≈ 0.3, not 1
  const config = makeConfig({ preset: "test", op: "sq_sum", p, frac: 0.5, seed: 5 });
  const task = makeTask({ op: "sq_sum", p });
  const { log } = discreteLog(p);
  const grid = (g: (s: number, l: number) => number) =>
    planted(task, (a, b) => (a === 0 || b === 0 ? 0 : g((a + b) % p, (log[a] + log[b]) % (p - 1))));
  // Top update-SED direction: a pure cross term, cos(2π·3(a+b)/p)·sin(2π·2ℓ/(p−1)), ℓ = log a + log b; top
  // gradient-SED direction: a pure additive mode. Random directions: a recorded composition (newer runs).
  const cross = grid((q, l) => Math.cos((TAU * 3 * q) / p) * Math.sin((TAU * 2 * l) / (p - 1)));
  const additive = grid((q) => Math.cos((TAU * 5 * q) / p));
  const random = (full: number): CompositionR2 => ({
    sample: "test",
    n: 1,
    add: 0.1,
    mul: 0.05,
    addMul: 0.15,
    cross: 0.2,
    full,
  });
  const readouts = {
    keyFrequencies: [],
    points: [
      {
        step: 900,
        reasons: ["end"],
        randomModes: [0.2, 0.3, 0.4].map((full) => ({ composition: random(full) })),
      },
    ],
    fields: { step: 900, lo: 0, side: p, update: Array.from(cross), gradient: Array.from(additive) },
    seconds: 0,
  } as unknown as ReadoutResult;
  const record = (op: string) =>
    ({ id: `${op}-test`, task: op, config: { ...config, op }, readouts }) as unknown as RunRecord;

  test("fits the run's held-out pairs, beside shuffled fields and the recorded random directions", () => {
    const rows = compositionRows([record("sq_sum"), record("sub")]);
    assert.deepEqual(
      rows.map((r) => [r.op, r.source]),
      [
        ["sq_sum", "update"],
        ["sq_sum", "gradient"],
      ],
      "sub is not one of the author's probed operations",
    );
    const [up, grad] = rows;
    // The pairs are the run's own test split (a·b ≢ 0), and the R² those of the field read there.
    const ds = makeDataset(task, config.frac, config.seed);
    const basis = compositionBasis(ds.testA, ds.testB, p);
    assert.equal(up.n, basis.kept.length);
    const rough = Float64Array.from(ds.testA, (a, i) => Math.sin(a * 7.1 + ds.testB[i] * 0.3)); // not symmetric
    const roughRec = {
      ...record("sq_sum"),
      readouts: {
        ...readouts,
        fields: { ...readouts.fields, update: planted(task, (a, b) => Math.sin(a * 7.1 + b * 0.3)) },
      },
    } as unknown as RunRecord;
    const direct = compositionR2(basis, rough);
    const viaRecord = compositionRows([roughRec], { shuffles: 0 })[0].r2;
    for (const k of ["add", "mul", "addMul", "cross", "full"] as const)
      assert.ok(Math.abs(viaRecord[k] - direct[k]) < 1e-12, `${k}: ${viaRecord[k]} vs ${direct[k]}`);
    // A pure cross term: a large boost over either basis, beyond every shuffle (p = 1/20) and the shuffles' ratio.
    assert.ok(up.r2.full > 0.99 && up.gain > 10, `update: ${JSON.stringify(up)}`);
    assert.ok(up.shuffled.full < 0.5 && up.shuffledGain < up.gain && up.pFull === 1 / 20);
    // A pure additive mode: the cross terms add nothing.
    assert.ok(
      grad.r2.add > 0.99 && grad.gain < 1.05 && grad.crossGain < 1.05,
      `gradient: ${JSON.stringify(grad)}`,
    );
    assert.equal(up.randomFull, 0.3);
    assert.ok(Math.abs((up.randomGain ?? 0) - 0.3 / 0.1) < 1e-12);
    const all = compositionRows([record("sq_sum")], { sample: "all", shuffles: 3 });
    assert.equal(all[0].n, (p - 1) * (p - 1));
    assert.equal(compositionDisplay(rows)[0].author, "4×");
  });

  test("the verdict is computed from the rows: holds, only by column count, or not", () => {
    const rows = compositionRows([record("sq_sum")]); // 19 shuffles: p ≥ 1/20, the rule's 0.05
    const mode = (source: "update" | "gradient"): ModeRow => ({
      op: "sq_sum",
      seed: 5,
      step: 900,
      stage: "end",
      source,
      k: 1,
      answerPeak: 1,
      answerF: 0.1,
      sumPeak: 1,
      sumF: 0.1,
      logPeak: null,
      logF: null,
      nullF: 0.1,
      gainOverNull: 1,
    });
    const modes = [mode("update"), mode("gradient")];
    const lineOf = (text: string, source: string) =>
      text.split("\n").find((l) => l.startsWith(`- **x² + y² (${source}-SED)`)) ?? "";
    const v = readoutVerdict(modes, rows);
    assert.match(lineOf(v, "update"), /Composition probe.*\*Holds\.\*$/);
    assert.match(lineOf(v, "gradient"), /\*Does not hold here\.\*$/);
    // A boost no larger than a shuffled field's is the column count, not structure.
    const counted = rows.map((r) => ({
      ...r,
      gain: COMPOSITION_GAIN + 1,
      shuffledGain: COMPOSITION_GAIN + 3,
    }));
    assert.match(lineOf(readoutVerdict(modes, counted), "update"), /no larger than a shuffled f's/);
    assert.match(lineOf(readoutVerdict(modes), "update"), /No composition probe/);
  });
});
