// Fourier readout over Z_p and Z_p × Z_p: DFTs against direct sums, spectra of planted signals, the
// discrete-log basis for multiplication, least-squares R² on Fourier bases, and the x² + y² composition probe.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  basisR2,
  bestFrequency,
  COMPOSITION_SETS,
  compositionBasis,
  compositionR2,
  concentration,
  dft,
  dft2,
  discreteLog,
  fourierColumns,
  fourierProfile,
  groupBy,
  isPrime,
  logReindex,
  powerSpectrum,
  primitiveRoot,
  singleFrequencyR2,
} from "../src/util/fourier";
import { Rng } from "../src/util/rng";

const P = 97;
const TAU = 2 * Math.PI;

function noise(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n }, () => rng.normal());
}

/** f(x) for x in 0..n−1. */
function onZn(n: number, f: (x: number) => number): Float64Array {
  return Float64Array.from({ length: n }, (_, x) => f(x));
}

/** Row-major field over pairs (a, b) = (lo + i, lo + j). */
function field(side: number, lo: number, f: (a: number, b: number) => number): Float64Array {
  const out = new Float64Array(side * side);
  for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) out[i * side + j] = f(lo + i, lo + j);
  return out;
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

describe("DFT", () => {
  test("dft equals the direct O(n²) sum on random input, prime and composite n", () => {
    for (const n of [1, 2, 12, 96, 97]) {
      const f = noise(n, n);
      const { re, im } = dft(f);
      for (let k = 0; k < n; k++) {
        let sr = 0;
        let si = 0;
        for (let x = 0; x < n; x++) {
          sr += f[x] * Math.cos((TAU * k * x) / n);
          si -= f[x] * Math.sin((TAU * k * x) / n);
        }
        close(re[k], sr, 1e-10, `n=${n} Re F(${k})`);
        close(im[k], si, 1e-10, `n=${n} Im F(${k})`);
      }
    }
  });

  test("dft2 equals the direct 2-D sum for a small p", () => {
    const p = 7;
    const f = noise(p * p, 3);
    const { re, im } = dft2(f, p);
    for (let k1 = 0; k1 < p; k1++) {
      for (let k2 = 0; k2 < p; k2++) {
        let sr = 0;
        let si = 0;
        for (let a = 0; a < p; a++) {
          for (let b = 0; b < p; b++) {
            const t = (TAU * (k1 * a + k2 * b)) / p;
            sr += f[a * p + b] * Math.cos(t);
            si -= f[a * p + b] * Math.sin(t);
          }
        }
        close(re[k1 * p + k2], sr, 1e-10, `Re F(${k1},${k2})`);
        close(im[k1 * p + k2], si, 1e-10, `Im F(${k1},${k2})`);
      }
    }
  });

  test("Parseval: Σ|F|² = n·Σf² (1-D and 2-D), and the non-DC power sums to the variance", () => {
    for (const n of [96, 97]) {
      const f = noise(n, 10 + n);
      const { re, im } = dft(f);
      let energy = 0;
      let sq = 0;
      let mean = 0;
      for (let k = 0; k < n; k++) energy += re[k] ** 2 + im[k] ** 2;
      for (const v of f) {
        sq += v * v;
        mean += v / n;
      }
      close(energy, n * sq, 1e-9 * energy, `n=${n} Parseval`);
      const total = powerSpectrum(f).reduce((s, v) => s + v, 0);
      // Catches a missing ×2 off the Nyquist, or the Nyquist counted twice for even n.
      close(total, sq / n - mean * mean, 1e-12, `n=${n} Σ P(ω) = variance`);
    }
    const p = 11;
    const g = noise(p * p, 5);
    const G = dft2(g, p);
    let e2 = 0;
    for (let i = 0; i < p * p; i++) e2 += G.re[i] ** 2 + G.im[i] ** 2;
    close(e2, p * p * g.reduce((s, v) => s + v * v, 0), 1e-9 * e2, "2-D Parseval");
  });
});

describe("spectrum and concentration", () => {
  test("a planted cos(2π·7x/97) has F ≈ 1 at ω = 7", () => {
    const c = concentration(powerSpectrum(onZn(P, (x) => 5 + Math.cos((TAU * 7 * x) / P))));
    close(c.F, 1, 1e-12, "F");
    assert.equal(c.top[0].omega, 7);
    close(c.baseline, 1 / 48, 0, "baseline");
  });

  test("a planted mixture gives the top-3 in order of amplitude, with shares a_i² / Σa²", () => {
    const f = onZn(
      P,
      (x) =>
        1 * Math.cos((TAU * 33 * x) / P + 0.4) +
        3 * Math.cos((TAU * 7 * x) / P) +
        2 * Math.sin((TAU * 20 * x) / P),
    );
    const c = concentration(powerSpectrum(f));
    assert.deepEqual(
      c.top.map((t) => t.omega),
      [7, 20, 33],
    );
    for (const [i, t] of c.top.entries()) close(t.share, [9, 4, 1][i] / 14, 1e-12, `share of ω=${t.omega}`);
    close(c.F, 9 / 14, 1e-12, "F");
  });

  test("a constant function has no non-DC power and F = 0", () => {
    const power = powerSpectrum(onZn(P, () => 3.7));
    assert.equal(power.length, 48);
    assert.ok(
      power.every((v) => v === 0),
      "non-DC power of a constant",
    );
    // A genuine component far below the DC but above rounding is still seen.
    const small = concentration(powerSpectrum(onZn(P, (x) => 1e6 + 1e-3 * Math.cos((TAU * 13 * x) / P))));
    assert.equal(small.top[0].omega, 13);
    close(small.F, 1, 1e-6, "F of a small mode on a large DC");
    assert.equal(concentration(power).F, 0);
  });

  test("white noise gives F of the order of the 1/48 baseline", () => {
    // For Gaussian noise on Z_97 the 48 powers are i.i.d. exponential, so the normalised spectrum is uniform on
    // the simplex (uniform spacings) and E[F] = E[largest spacing] = H_48 / 48 ≈ 0.093 ≈ 4.5× the baseline —
    // the top of 48 draws, not the baseline itself. Per draw sd(F) ≈ 0.027, so the mean of 50 seeded draws has
    // sd ≈ 0.004; ±20% is ~5 sd. Each single draw's F stays below 0.3 (P(F > 0.3) < 48·0.7^47 ≈ 1e-5).
    const h48 = Array.from({ length: 48 }, (_, i) => 1 / (i + 1)).reduce((s, v) => s + v, 0);
    let sumF = 0;
    for (let seed = 0; seed < 50; seed++) {
      const c = concentration(powerSpectrum(noise(P, 1000 + seed)));
      assert.ok(c.F < 0.3, `noise seed ${seed}: F = ${c.F}`);
      sumF += c.F;
    }
    close(sumF / 50, h48 / 48, 0.2 * (h48 / 48), "mean F of noise");
  });

  test("the Nyquist of an even period (the dlog basis, n = 96) is one frequency", () => {
    const c = concentration(powerSpectrum(onZn(96, (x) => (x % 2 ? -1 : 1))));
    assert.equal(c.top[0].omega, 48);
    close(c.top[0].power, 1, 1e-12, "power of (−1)^x");
  });
});

describe("groupBy", () => {
  test("groups a p×p field by the answer q = (a+b) mod p, and by a alone", () => {
    const h = noise(P, 77);
    const u = noise(P, 78);
    const f = field(P, 0, (a, b) => h[(a + b) % P] + u[b]);
    const byQ = groupBy(f, (a, b) => a + b, P);
    const uMean = u.reduce((s, v) => s + v, 0) / P;
    // Each q meets every b exactly once, so u averages to its mean.
    for (const [q, v] of byQ.entries()) close(v, h[q] + uMean, 1e-12, `bucket q=${q}`);
    const byA = groupBy(f, (a) => a, P);
    const hMean = h.reduce((s, v) => s + v, 0) / P;
    for (const [a, v] of byA.entries()) close(v, hMean + uMean, 1e-12, `bucket a=${a}`);
  });

  test("mul grid 1..p−1: lo = 1 maps rows to a = 1.., null skips pairs, empty buckets are 0", () => {
    const p = 7;
    const f = field(p - 1, 1, (a, b) => 10 * a + b);
    const byA = groupBy(f, (a) => a, p, 1);
    assert.deepEqual(Array.from(byA), [0, 13.5, 23.5, 33.5, 43.5, 53.5, 63.5]);
    const skip = groupBy(f, (a, b) => (b === 1 ? null : a), p, 1);
    assert.equal(skip[1], 14);
    assert.throws(() => groupBy(new Float64Array(5), (a) => a, p), /square/);
  });

  test("fourierProfile of a field in q = a+b reads the planted frequency", () => {
    const f = field(P, 0, (a, b) => Math.cos((TAU * 11 * (a + b)) / P) + 0.5 * Math.sin((TAU * 3 * a) / P));
    const prof = fourierProfile(f, (a, b) => a + b, P);
    // The a-only term averages out within each answer bucket.
    assert.equal(prof.top[0].omega, 11);
    close(prof.F, 1, 1e-12, "F");
  });
});

describe("discrete log", () => {
  test("isPrime and the smallest primitive root, checked against the orbit definition", () => {
    assert.deepEqual([1, 2, 3, 4, 9, 91, 96, 97, 9973, 10007, 10009 * 10007].map(isPrime), [
      false,
      true,
      true,
      false,
      false,
      false,
      false,
      true,
      true,
      true,
      false,
    ]);
    assert.equal(primitiveRoot(97), 5);
    assert.equal(primitiveRoot(7), 3);
    assert.equal(primitiveRoot(10007), 5);
    // The author's definition: the least g whose powers visit all of 1..p−1.
    for (const p of [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 41, 43, 71, 97, 101, 191]) {
      let g = 2;
      for (; ; g++) {
        const seen = new Set<number>();
        for (let k = 0, x = 1; k < p - 1; k++, x = (x * g) % p) seen.add(x);
        if (seen.size === p - 1) break;
      }
      assert.equal(primitiveRoot(p), g, `p = ${p}`);
    }
  });

  test("g^{dlog(x)} ≡ x for every x in 1..p−1", () => {
    for (const p of [5, 7, 11, 13, 97, 101, 9973, 10007]) {
      const { g, log, exp } = discreteLog(p);
      assert.equal(log[0], -1);
      assert.equal(exp.length, p - 1);
      for (let x = 1; x < p; x++) {
        const k = log[x];
        assert.ok(k >= 0 && k < p - 1, `p=${p}: log[${x}] = ${k}`);
        assert.equal(exp[k], x);
        let y = 1; // independent square-and-multiply, so a wrong table cannot agree with itself
        for (let e = k, b = g; e > 0; e >>= 1, b = (b * b) % p) if (e & 1) y = (y * b) % p;
        assert.equal(y, x, `p=${p}: ${g}^${k} ≢ ${x}`);
      }
    }
  });

  test("a non-prime or too small modulus throws, naming p", () => {
    for (const p of [96, 1, 91, 2, 0]) {
      assert.throws(
        () => discreteLog(p),
        (e: Error) => {
          assert.match(e.message, new RegExp(`p = ${p} `));
          assert.match(e.message, /prime modulus/);
          return true;
        },
      );
    }
  });

  test("logReindex turns a function of a·b mod p into one of (log a + log b) mod (p−1)", () => {
    const { log } = discreteLog(P);
    const m = P - 1;
    const h = noise(m, 9); // an arbitrary function on Z_{p−1}
    const f = field(m, 1, (a, b) => h[log[(a * b) % P]]);
    const r = logReindex(f, P);
    for (let k = 0; k < m; k++) for (let l = 0; l < m; l++) assert.equal(r[k * m + l], h[(k + l) % m]);
    // The full p×p grid gives the same reordering.
    const full = field(P, 0, (a, b) => (a * b === 0 ? Number.NaN : h[log[(a * b) % P]]));
    assert.deepEqual(Array.from(logReindex(full, P)), Array.from(r));

    // A single dlog frequency: sharp after re-indexing, smeared when grouped by the raw product.
    const w = 5;
    const g = field(m, 1, (a, b) => Math.cos((TAU * w * log[(a * b) % P]) / m));
    const dlogProf = fourierProfile(logReindex(g, P), (k, l) => k + l, m);
    assert.equal(dlogProf.top[0].omega, w);
    close(dlogProf.F, 1, 1e-12, "F in the dlog basis");
    const rawProf = fourierProfile(g, (a, b) => (a * b) % P, P, 1);
    assert.ok(rawProf.F < 0.5, `F by the raw product = ${rawProf.F}`);
  });
});

describe("least-squares R²", () => {
  const pairs = field(P, 0, () => 0).length;
  const a = Int32Array.from({ length: pairs }, (_, i) => Math.floor(i / P));
  const b = Int32Array.from({ length: pairs }, (_, i) => i % P);
  const q = Int32Array.from({ length: pairs }, (_, i) => (a[i] + b[i]) % P);

  test("singleFrequencyR2 is 1 on an exact single frequency plus intercept, ≈ 0 at another ω", () => {
    const y = Float64Array.from(q, (x) => 2 + 3 * Math.cos((TAU * 7 * x) / P) - Math.sin((TAU * 7 * x) / P));
    close(singleFrequencyR2(y, q, P, 7), 1, 1e-12, "R² at ω = 7");
    close(singleFrequencyR2(y, q, P, 8), 0, 1e-12, "R² at ω = 8");
    // Unreduced a + b gives the same angles.
    close(
      singleFrequencyR2(
        y,
        Int32Array.from(q, (_, i) => a[i] + b[i]),
        P,
        7,
      ),
      1,
      1e-12,
      "R² with a+b",
    );
    // The a-only basis cannot see a function of a + b.
    close(singleFrequencyR2(y, a, P, 7), 0, 1e-12, "a-only R²");
    const best = bestFrequency(y, q, P);
    assert.equal(best.omega, 7);
    close(best.r2, 1, 1e-12, "best R²");
    assert.equal(best.r2ByOmega.length, 48);
  });

  test("singleFrequencyR2 of noise plus a weak mode matches 1 − SS_res/SS_tot of the explicit fit", () => {
    const e = noise(pairs, 21);
    const y = Float64Array.from(q, (x, i) => 0.3 * Math.sin((TAU * 4 * x) / P) + e[i]);
    // On the full grid cos and sin at ω are orthogonal to 1 and to each other, so the fit is two projections.
    const [c, s] = fourierColumns(q, P, [4]);
    const mean = y.reduce((t, v) => t + v, 0) / pairs;
    let yc = 0;
    let ys = 0;
    let cc = 0;
    let ss = 0;
    let tot = 0;
    for (let i = 0; i < pairs; i++) {
      yc += (y[i] - mean) * c[i];
      ys += (y[i] - mean) * s[i];
      cc += c[i] * c[i];
      ss += s[i] * s[i];
      tot += (y[i] - mean) ** 2;
    }
    close(singleFrequencyR2(y, q, P, 4), (yc * yc) / cc / tot + (ys * ys) / ss / tot, 1e-10, "R²");
  });

  test("basisR2 is 1 when y is in the span of the a & b basis, and tolerates dependent columns", () => {
    const y = Float64Array.from(
      a,
      (x, i) => 1 + 2 * Math.cos((TAU * 3 * x) / P) + 3 * Math.sin((TAU * 9 * b[i]) / P),
    );
    const ab = [...fourierColumns(a, P, [3, 5]), ...fourierColumns(b, P, [9])];
    close(basisR2(y, ab), 1, 1e-12, "a & b basis");
    close(basisR2(y, [...ab, ab[0], new Float64Array(pairs).fill(4)]), 1, 1e-12, "with duplicates");
    const aOnly = basisR2(y, fourierColumns(a, P, [3, 5]));
    close(aOnly, 4 / (4 + 9), 1e-12, "a-only share of the variance");
    // ω = n/2 on an even period: the zero sin column is dropped, not divided by.
    const x = Int32Array.from({ length: 96 }, (_, i) => i);
    close(
      singleFrequencyR2(
        onZn(96, (t) => (t % 2 ? 1 : 0)),
        x,
        96,
        48,
      ),
      1,
      1e-12,
      "Nyquist",
    );
    assert.ok(Number.isNaN(basisR2(new Float64Array(10).fill(2), [])), "constant y has no R²");
  });
});

describe("composition probe (x² + y²)", () => {
  /** Every pair (a, b) ∈ 0..p−1 squared, row-major. */
  const grid = (p: number) => ({
    a: Int32Array.from({ length: p * p }, (_, i) => Math.floor(i / p)),
    b: Int32Array.from({ length: p * p }, (_, i) => i % p),
  });

  /**
   * The reference: the author's columns written out with Math.cos/sin (x2y2_composition_test.py:167-263), an
   * explicit centred ridge solved by Gauss–Jordan, and R² from the residual vector.
   */
  function referenceR2(
    a: Int32Array,
    b: Int32Array,
    y: ArrayLike<number>,
    p: number,
    c: number,
    alpha: number,
  ) {
    const { log } = discreteLog(p);
    const rows: number[][] = [];
    const ys: number[] = [];
    for (let i = 0; i < a.length; i++) {
      if (a[i] % p === 0 || b[i] % p === 0) continue;
      const s = (a[i] + b[i]) % p;
      const l = (log[a[i] % p] + log[b[i] % p]) % (p - 1);
      const add: number[] = [];
      const mul: number[] = [];
      for (let w = 1; w <= Math.floor(p / 2); w++)
        add.push(Math.cos((TAU * w * s) / p), Math.sin((TAU * w * s) / p));
      for (let w = 1; w <= Math.floor((p - 1) / 2); w++)
        mul.push(Math.cos((TAU * w * l) / (p - 1)), Math.sin((TAU * w * l) / (p - 1)));
      const cross: number[] = [];
      for (let wa = 1; wa <= c; wa++)
        for (let wm = 1; wm <= c; wm++) {
          const [ca, sa] = [Math.cos((TAU * wa * s) / p), Math.sin((TAU * wa * s) / p)];
          const [cm, sm] = [Math.cos((TAU * wm * l) / (p - 1)), Math.sin((TAU * wm * l) / (p - 1))];
          cross.push(ca * cm, ca * sm, sa * cm, sa * sm);
        }
      rows.push([...add, ...mul, ...cross]);
      ys.push(y[i]);
    }
    const A = 2 * Math.floor(p / 2);
    const M = 2 * Math.floor((p - 1) / 2);
    const sets: Record<string, [number, number]> = {
      add: [0, A],
      mul: [A, A + M],
      addMul: [0, A + M],
      cross: [A + M, rows[0].length],
      full: [0, rows[0].length],
    };
    const out: Record<string, number> = {};
    const N = ys.length;
    const ym = ys.reduce((t, v) => t + v, 0) / N;
    for (const [set, [lo, hi]] of Object.entries(sets)) {
      const m = hi - lo;
      const X = rows.map((r) => r.slice(lo, hi));
      const mean = Array.from({ length: m }, (_, j) => X.reduce((t, r) => t + r[j], 0) / N);
      const Xc = X.map((r) => r.map((v, j) => v - mean[j]));
      // [XcᵀXc + αI | Xcᵀy], reduced to [I | w].
      const Aug = Array.from({ length: m }, (_, j) => {
        const row = Array.from({ length: m + 1 }, () => 0);
        for (let k = 0; k < m; k++) for (let i = 0; i < N; i++) row[k] += Xc[i][j] * Xc[i][k];
        row[j] += alpha;
        for (let i = 0; i < N; i++) row[m] += Xc[i][j] * (ys[i] - ym);
        return row;
      });
      for (let j = 0; j < m; j++) {
        const piv = Aug[j][j];
        for (let k = j; k <= m; k++) Aug[j][k] /= piv;
        for (let r = 0; r < m; r++) {
          if (r === j) continue;
          const f = Aug[r][j];
          if (f !== 0) for (let k = j; k <= m; k++) Aug[r][k] -= f * Aug[j][k];
        }
      }
      let res = 0;
      let tot = 0;
      for (let i = 0; i < N; i++) {
        let fit = 0;
        for (let j = 0; j < m; j++) fit += Xc[i][j] * Aug[j][m];
        res += (ys[i] - ym - fit) ** 2;
        tot += (ys[i] - ym) ** 2;
      }
      out[set] = Math.max(0, 1 - res / tot);
    }
    return out;
  }

  test("compositionR2 equals an explicit ridge fit on the author's columns, at several c and α", () => {
    const p = 13;
    const { a, b } = grid(p);
    const y = noise(a.length, 31);
    for (const [c, alpha] of [
      [6, 1], // c capped at ⌊(p−1)/2⌋ = 6: more columns (168) than pairs (144), so the ridge matters
      [3, 1],
      [2, 0.01],
    ] as const) {
      const basis = compositionBasis(a, b, p, { crossOmegas: c, alpha });
      assert.equal(basis.crossOmegas, c);
      assert.deepEqual(basis.columns, {
        add: 12,
        mul: 12,
        addMul: 24,
        cross: 4 * c * c,
        full: 24 + 4 * c * c,
      });
      const got = compositionR2(basis, y);
      const ref = referenceR2(a, b, y, p, c, alpha);
      for (const set of COMPOSITION_SETS) close(got[set], ref[set], 1e-9, `c = ${c}, α = ${alpha}: ${set}`);
    }
    assert.equal(compositionBasis(a, b, p).crossOmegas, 6, "the author's c = 10, capped at 6 for p = 13");
  });

  test("planted fields: additive, discrete-log and cross terms are each fitted by their own columns only", () => {
    const p = 61;
    const { a, b } = grid(p);
    const { log } = discreteLog(p);
    const basis = compositionBasis(a, b, p);
    assert.equal(basis.kept.length, (p - 1) * (p - 1), "pairs with a·b ≡ 0 are left out");
    const ell = (i: number) => (log[a[i]] + log[b[i]]) % (p - 1);
    const f = (g: (s: number, l: number) => number) =>
      Float64Array.from(a, (x, i) => (x === 0 || b[i] === 0 ? 1e6 : g((x + b[i]) % p, ell(i)))); // 1e6 never fitted
    const chance = basis.columns.full / basis.kept.length; // what N columns fit of noise, roughly
    const additive = compositionR2(
      basis,
      f((s) => 2 + Math.cos((TAU * 5 * s) / p)),
    );
    assert.ok(additive.add > 0.999 && additive.full > 0.999, `additive: ${JSON.stringify(additive)}`);
    assert.ok(additive.mul < 0.1 && additive.cross < chance, `additive: ${JSON.stringify(additive)}`);
    const multiplicative = compositionR2(
      basis,
      f((_s, l) => Math.sin((TAU * 4 * l) / (p - 1))),
    );
    assert.ok(
      multiplicative.mul > 0.999 && multiplicative.add < 0.1,
      `mul: ${JSON.stringify(multiplicative)}`,
    );
    // cos(2π·3(a+b)/p)·sin(2π·2ℓ/(p−1)): only the cross terms hold it, so the boost over either basis is large.
    const cross = compositionR2(
      basis,
      f((s, l) => Math.cos((TAU * 3 * s) / p) * Math.sin((TAU * 2 * l) / (p - 1))),
    );
    assert.ok(cross.cross > 0.999 && cross.full > 0.999, `cross: ${JSON.stringify(cross)}`);
    assert.ok(cross.add < 0.1 && cross.mul < 0.1 && cross.addMul < 0.15, `cross: ${JSON.stringify(cross)}`);
    assert.ok(cross.full / Math.max(cross.add, cross.mul) > 10);
    // The author's cross terms use the first ten frequencies of each basis, not the strongest: ω_a = 11 is missed.
    const past = compositionR2(
      basis,
      f((s, l) => Math.cos((TAU * 11 * s) / p) * Math.cos((TAU * 2 * l) / (p - 1))),
    );
    assert.ok(past.cross < chance && past.full < 0.5, `ω_a = 11: ${JSON.stringify(past)}`);
  });

  test("no discrete log, no probe: a non-prime p throws naming it; a constant field has no R²", () => {
    assert.throws(() => compositionBasis([1, 2], [3, 5], 12), /p = 12 is not prime/);
    const { a, b } = grid(7);
    const r = compositionR2(compositionBasis(a, b, 7), new Float64Array(49).fill(3));
    for (const set of COMPOSITION_SETS) assert.ok(Number.isNaN(r[set]), set);
    assert.throws(() => compositionBasis(a, b, 7, { alpha: 0 }), /alpha must be > 0/);
  });
});
