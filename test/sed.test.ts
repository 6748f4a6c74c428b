import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RowWindow, rollingSvd, spectralGap } from "../src/sed/rollingSvd";
import { axpy, dot, gram, norm, principalAngles, randomFrame, symmetricEigen } from "../src/util/linalg";
import { Rng } from "../src/util/rng";

function randomRows(w: number, P: number, rng: Rng): Float32Array[] {
  return Array.from({ length: w }, () => rng.fillNormal(new Float32Array(P)));
}

/** Rows R = U diag(s) Vᵀ with U (W×W) orthogonal and V (P×W) orthonormal columns. */
function constructed(s: number[], P: number, rng: Rng): { rows: Float32Array[]; V: Float32Array[] } {
  const w = s.length;
  const sym = new Float64Array(w * w);
  for (let i = 0; i < w; i++) {
    for (let j = i; j < w; j++) {
      const x = rng.normal();
      sym[i * w + j] = x;
      sym[j * w + i] = x;
    }
  }
  const U = symmetricEigen(sym, w).vectors;
  const V = randomFrame(P, w, rng);
  const rows = Array.from({ length: w }, (_, t) => {
    const r = new Float64Array(P);
    for (let j = 0; j < w; j++) axpy(U[t * w + j] * s[j], V[j], r);
    return Float32Array.from(r);
  });
  return { rows, V };
}

/** Planted rank-3 rows: Σ_k c_tk v_k + noise, c_tk ~ N(0, scales_k²). */
function planted(P: number, w: number, noise: number, rng: Rng): { rows: Float32Array[]; V: Float32Array[] } {
  const V = randomFrame(P, 3, rng);
  const scales = [3, 2, 1];
  const rows = Array.from({ length: w }, () => {
    const r = rng.fillNormal(new Float32Array(P), noise);
    scales.forEach((sc, k) => {
      axpy(sc * rng.normal(), V[k], r);
    });
    return r;
  });
  return { rows, V };
}

function isFiniteAll(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

function assertOrthonormal(B: Float32Array[], tol = 1e-6): void {
  for (let i = 0; i < B.length; i++) {
    for (let j = 0; j < B.length; j++) {
      const e = Math.abs(dot(B[i], B[j]) - (i === j ? 1 : 0));
      assert.ok(e < tol, `basis not orthonormal at (${i},${j}): ${e}`);
    }
  }
}

describe("rollingSvd", () => {
  it("recovers the singular values and vectors of a constructed U diag(s) Vᵀ", () => {
    const rng = new Rng(1);
    const s = [10, 5, 3, 2, 1, 0.5, 0.1, 0.01];
    const { rows, V } = constructed(s, 300, rng);
    const { sigma, basis } = rollingSvd(rows, 8);
    assert.equal(sigma.length, 8);
    for (let j = 0; j < 8; j++)
      assert.ok(Math.abs(sigma[j] - s[j]) < 1e-5, `σ${j + 1} = ${sigma[j]} vs ${s[j]}`);
    assert.equal(basis.length, 8);
    for (let j = 0; j < 8; j++) {
      const c = Math.abs(dot(basis[j], V[j]));
      assert.ok(c > 1 - 1e-5, `|⟨v${j + 1}, V${j + 1}⟩| = ${c}`);
    }
    assertOrthonormal(basis);
  });

  it("matches the eigen-decomposition of RᵀR (direct SVD) including signs", () => {
    const rng = new Rng(2);
    const w = 6;
    const P = 12;
    const rows = randomRows(w, P, rng);
    const RtR = new Float64Array(P * P);
    for (let a = 0; a < P; a++) {
      for (let b = 0; b < P; b++) {
        let x = 0;
        for (const r of rows) x += r[a] * r[b];
        RtR[a * P + b] = x;
      }
    }
    const direct = symmetricEigen(RtR, P);
    const { sigma, basis } = rollingSvd(rows, w);
    for (let j = 0; j < w; j++) {
      assert.ok(Math.abs(sigma[j] - Math.sqrt(direct.values[j])) < 1e-10, `σ${j + 1}`);
      // Both use "largest-|component| positive", so the vectors agree without sign fixing.
      for (let i = 0; i < P; i++) {
        assert.ok(Math.abs(basis[j][i] - direct.vectors[i * P + j]) < 1e-6, `v${j + 1}[${i}]`);
      }
    }
    // The remaining P − W eigenvalues of RᵀR are zero.
    for (let j = w; j < P; j++) assert.ok(Math.abs(direct.values[j]) < 1e-10);
  });

  it("handles rank deficiency without NaN", () => {
    const rng = new Rng(3);
    const P = 400;
    const [a, b] = randomRows(2, P, rng);
    const rows = [1, 2, 3, 4, 5].map((t) => {
      const r = new Float32Array(P);
      axpy(t, a, r);
      axpy(t % 2 === 0 ? 1 : -1, b, r);
      return r;
    });
    const { sigma, basis } = rollingSvd(rows, 4);
    assert.equal(sigma.length, 5);
    assert.ok(sigma[0] > 0 && sigma[1] > 0);
    assert.deepEqual(sigma.slice(2), [0, 0, 0]);
    assert.equal(basis.length, 2);
    for (const v of basis) assert.ok(isFiniteAll(v));
    assertOrthonormal(basis);
    // Basis spans {a, b}.
    for (const t of principalAngles(basis, [a, b])) assert.ok(t < 1e-5);

    const zeros = rollingSvd([new Float32Array(P), new Float32Array(P)], 3);
    assert.deepEqual(zeros, { sigma: [0, 0], basis: [] });
    const dup = rollingSvd([a, a, a], 3);
    assert.equal(dup.basis.length, 1);
    assert.ok(Math.abs(dup.sigma[0] - Math.sqrt(3) * norm(a)) < 1e-9 * norm(a));
    assert.deepEqual(dup.sigma.slice(1), [0, 0]);
    assert.deepEqual(rollingSvd([], 3), { sigma: [], basis: [] });
  });

  it("W = 1 gives the normalised row (sign: largest |component| positive)", () => {
    const row = new Float32Array([0.5, -3, 1, 2]);
    const { sigma, basis } = rollingSvd([row], 5);
    assert.ok(Math.abs(sigma[0] - norm(row)) < 1e-12);
    assert.equal(basis.length, 1);
    const n = norm(row);
    // Largest |component| is −3, so the basis vector is −row/‖row‖.
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(basis[0][i] + row[i] / n) < 1e-7);
    const neg = rollingSvd([row.map((x) => -x)], 1);
    assert.deepEqual(neg.basis, basis);
    assert.deepEqual(rollingSvd([row], 1, { center: true }), { sigma: [0], basis: [] });
  });

  it("center = SVD of the explicitly centred rows", () => {
    const rng = new Rng(4);
    const P = 2000;
    const w = 10;
    const mean = rng.fillNormal(new Float32Array(P), 5);
    const dev = randomRows(w, P, rng);
    const rows = dev.map((d) => d.map((x, i) => x + mean[i]));
    const centred = rows.map((r) => {
      const c = new Float64Array(P);
      for (let i = 0; i < P; i++) {
        let m = 0;
        for (const q of rows) m += q[i];
        c[i] = r[i] - m / w;
      }
      return c;
    });
    const got = rollingSvd(rows, 3, { center: true });
    const want = rollingSvd(centred, 3);
    for (let j = 0; j < w; j++)
      assert.ok(Math.abs(got.sigma[j] - want.sigma[j]) < 1e-6 * want.sigma[0], `σ${j}`);
    assert.equal(got.sigma[w - 1], 0, "centring removes one dimension");
    for (let j = 0; j < 3; j++) assert.ok(dot(got.basis[j], want.basis[j]) > 1 - 1e-6);
    // Uncentred, the mean dominates v1.
    const raw = rollingSvd(rows, 1);
    assert.ok(Math.abs(dot(raw.basis[0], mean)) / norm(mean) > 0.99);
  });

  it("recovers a planted rank-3 subspace from noisy rows (P = 5000, W = 20)", () => {
    const rng = new Rng(5);
    const { rows, V } = planted(5000, 20, 0.002, rng);
    const { sigma, basis } = rollingSvd(rows, 3);
    const ang = principalAngles(basis, V);
    console.log(`  planted rank 3, low noise: angles ${ang.map((a) => a.toFixed(4)).join(", ")} rad`);
    for (const a of ang) assert.ok(a < 0.05, `angle ${a}`);
    const gap = spectralGap(sigma);
    assert.equal(gap.index, 3);
    assert.ok(gap.ratio > 2, `gap ratio ${gap.ratio}`);
  });

  it("fails to recover the subspace when noise dominates (sanity)", () => {
    const rng = new Rng(6);
    const { rows, V } = planted(5000, 20, 1, rng);
    const ang = principalAngles(rollingSvd(rows, 3).basis, V);
    console.log(`  planted rank 3, noise-dominated: angles ${ang.map((a) => a.toFixed(3)).join(", ")} rad`);
    for (const a of ang) assert.ok(a > 1, `angle ${a}`);
  });

  it("rejects bad arguments", () => {
    assert.throws(() => rollingSvd([new Float32Array(3), new Float32Array(4)], 1), RangeError);
    assert.throws(() => rollingSvd([new Float32Array(3)], -1), RangeError);
    assert.throws(() => rollingSvd([new Float32Array(3)], 1.5), RangeError);
  });
});

describe("spectralGap", () => {
  it("finds the largest consecutive ratio", () => {
    assert.deepEqual(spectralGap([10, 9, 1, 0.9]), { ratio: 9, index: 2 });
    assert.deepEqual(spectralGap([5, 4, 3, 2, 1]), { ratio: 2, index: 4 });
    assert.deepEqual(spectralGap([4, 2, 1]), { ratio: 2, index: 1 }); // tie → smallest index
    assert.deepEqual(spectralGap([8, 1, 0.5]), { ratio: 8, index: 1 });
  });

  it("ignores numerically zero σ_{j+1} instead of returning Infinity", () => {
    assert.deepEqual(spectralGap([3, 1, 1e-13]), { ratio: 3, index: 1 });
    assert.deepEqual(spectralGap([3, 1, 0, 0]), { ratio: 3, index: 1 });
    assert.deepEqual(spectralGap([3, 0, 0]), { ratio: 1, index: 0 });
    assert.deepEqual(spectralGap([0, 0]), { ratio: 1, index: 0 });
    assert.deepEqual(spectralGap([7]), { ratio: 1, index: 0 });
    assert.deepEqual(spectralGap([]), { ratio: 1, index: 0 });
    assert.deepEqual(spectralGap([3, 1, 1e-13], { floor: 1e-15 }), { ratio: 1e13, index: 2 });
  });

  it("respects maxIndex", () => {
    assert.deepEqual(spectralGap([10, 5, 4, 1], { maxIndex: 2 }), { ratio: 2, index: 1 });
    assert.deepEqual(spectralGap([10, 5, 4, 1]), { ratio: 4, index: 3 });
  });
});

describe("RowWindow", () => {
  it("keeps the last `capacity` rows in order and its Gram equals a fresh one after wrapping", () => {
    const rng = new Rng(7);
    const P = 50;
    const win = new RowWindow(7, P);
    const pushed: Float32Array[] = [];
    for (let t = 0; t < 23; t++) {
      const r = rng.fillNormal(new Float32Array(P));
      pushed.push(Float32Array.from(r));
      win.push(r);
      r.fill(99); // the window copied the row
      const n = Math.min(t + 1, 7);
      assert.equal(win.size, n);
      assert.deepEqual(win.rows(), pushed.slice(-n));
      assert.deepEqual(win.gram(), gram(pushed.slice(-n)));
    }
    assert.equal(win.pushes, 23);
    assert.deepEqual(win.rows(3), pushed.slice(-3));
    assert.deepEqual(win.gram(3), gram(pushed.slice(-3)));
    assert.deepEqual(win.rows(100), pushed.slice(-7), "last > size means all rows");
    assert.deepEqual(win.rows(0), []);
    assert.throws(() => win.rows(-1), RangeError);
    assert.throws(() => win.push(new Float32Array(P + 1)), RangeError);
  });

  it("Gram stays exact over many pushes (P = 4096, capacity 40, 137 pushes)", () => {
    const rng = new Rng(8);
    const win = new RowWindow(40, 4096);
    for (let t = 0; t < 137; t++) win.push(rng.fillNormal(new Float32Array(4096)));
    assert.deepEqual(win.gram(), gram(win.rows()));
  });

  it("svd(k, {last}) serves several window lengths from one buffer, equal to rollingSvd", () => {
    const rng = new Rng(9);
    const P = 3000;
    const { rows } = planted(P, 45, 0.01, rng);
    const win = new RowWindow(40, P);
    for (const r of rows) win.push(r);
    for (const w of [1, 2, 5, 10, 20, 40]) {
      for (const center of [false, true]) {
        const got = win.svd(3, { last: w, center });
        assert.deepEqual(got, rollingSvd(rows.slice(-w), 3, { center }), `W=${w} center=${center}`);
        assert.equal(got.sigma.length, w);
      }
    }
    // W = 1: the normalised latest row, up to the sign convention.
    const last = rows[rows.length - 1];
    const v = win.svd(1, { last: 1 }).basis[0];
    assert.ok(Math.abs(Math.abs(dot(v, last)) / norm(last) - 1) < 1e-6);
  });

  it("state()/restore() round-trips exactly, also mid-stream", () => {
    const rng = new Rng(10);
    const P = 1000;
    const a = new RowWindow(10, P);
    for (let t = 0; t < 13; t++) a.push(rng.fillNormal(new Float32Array(P)));
    const st = a.state();
    assert.equal(st.arrays.rows.length, 10 * P);
    const json = JSON.parse(JSON.stringify(st.json));
    const b = RowWindow.fromState({ json, arrays: { rows: Float32Array.from(st.arrays.rows) } });
    assert.equal(b.size, 10);
    assert.equal(b.pushes, 13);
    assert.deepEqual(b.gram(), a.gram());
    assert.deepEqual(b.svd(4), a.svd(4));
    assert.deepEqual(b.svd(4, { last: 5, center: true }), a.svd(4, { last: 5, center: true }));
    // Both continue identically.
    for (let t = 0; t < 6; t++) {
      const r = rng.fillNormal(new Float32Array(P));
      a.push(r);
      b.push(r);
    }
    assert.deepEqual(b.rows(), a.rows());
    assert.deepEqual(b.svd(3, { last: 7 }), a.svd(3, { last: 7 }));
    // The snapshot was a copy: the pushes above did not change it.
    assert.deepEqual(RowWindow.fromState(st).svd(4), RowWindow.fromState({ json, arrays: st.arrays }).svd(4));
    assert.notDeepEqual(RowWindow.fromState(st).rows(), a.rows());
  });

  it("restores a partially filled window and rejects mismatched states", () => {
    const rng = new Rng(11);
    const a = new RowWindow(8, 64);
    for (let t = 0; t < 3; t++) a.push(rng.fillNormal(new Float32Array(64)));
    const st = a.state();
    assert.equal(st.arrays.rows.length, 3 * 64);
    const b = new RowWindow(8, 64);
    b.push(rng.fillNormal(new Float32Array(64))); // overwritten by restore
    b.restore(st);
    assert.deepEqual(b.rows(), a.rows());
    assert.deepEqual(b.svd(2), a.svd(2));
    for (let t = 0; t < 9; t++) {
      const r = rng.fillNormal(new Float32Array(64));
      a.push(r);
      b.push(r);
    }
    assert.deepEqual(b.gram(), a.gram());
    assert.throws(() => new RowWindow(9, 64).restore(st), TypeError);
    assert.throws(() => new RowWindow(8, 65).restore(st), TypeError);
    assert.throws(
      () => new RowWindow(8, 64).restore({ json: st.json, arrays: { rows: new Float32Array(5) } }),
      TypeError,
    );
    const empty = RowWindow.fromState(new RowWindow(4, 16).state());
    assert.equal(empty.size, 0);
    assert.deepEqual(empty.svd(3), { sigma: [], basis: [] });
  });

  it("measures push and svd cost at P = 131072, capacity 40", () => {
    const P = 131072;
    const rng = new Rng(12);
    const win = new RowWindow(40, P);
    const src = Array.from({ length: 8 }, () => rng.fillNormal(new Float32Array(P)));
    for (let t = 0; t < 40; t++) win.push(src[t % 8]);
    win.svd(10); // warm up the JIT so the timings below are steady-state
    const reps = 40;
    let t0 = performance.now();
    for (let t = 0; t < reps; t++) win.push(src[t % 8]);
    const push = (performance.now() - t0) / reps;
    const svdMs: string[] = [];
    for (const [w, center] of [
      [40, false],
      [20, false],
      [40, true],
    ] as const) {
      t0 = performance.now();
      const { sigma, basis } = win.svd(10, { last: w, center });
      svdMs.push(
        `W=${w}${center ? " centred" : ""} k=${basis.length}: ${(performance.now() - t0).toFixed(1)} ms`,
      );
      assert.ok(sigma.every(Number.isFinite));
    }
    console.log(`  RowWindow P=${P} cap=40: push ${push.toFixed(2)} ms; svd(10) ${svdMs.join("; ")}`);
    // Rank of the window is 8 (rows cycle through 8 sources), so at most 8 basis vectors.
    assert.equal(win.svd(10).basis.length, 8);
  });
});
