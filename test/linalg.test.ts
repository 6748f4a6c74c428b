import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  axpy,
  cholesky,
  choleskySolve,
  dot,
  gram,
  norm,
  orthonormalize,
  principalAngles,
  project,
  randomFrame,
  scale,
  symmetricEigen,
  topEigenpairs,
} from "../src/util/linalg";
import { Rng } from "../src/util/rng";

function randomSymmetric(n: number, rng: Rng): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const x = rng.normal();
      a[i * n + j] = x;
      a[j * n + i] = x;
    }
  }
  return a;
}

/** Random n×n orthogonal matrix (float64): the eigenvectors of a random symmetric matrix. */
function randomOrthogonal(n: number, rng: Rng): Float64Array {
  return symmetricEigen(randomSymmetric(n, rng), n).vectors;
}

/** Q diag(d) Qᵀ. */
function withSpectrum(q: Float64Array, d: number[]): Float64Array {
  const n = d.length;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k] * d[k] * q[j * n + k];
      a[i * n + j] = s;
    }
  }
  return a;
}

/** max |A − UΛUᵀ| and max |UᵀU − I|. */
function eigenErrors(A: Float64Array, n: number): { recon: number; orth: number; values: Float64Array } {
  const { values, vectors: u } = symmetricEigen(A, n);
  let recon = 0;
  let orth = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let o = 0;
      for (let k = 0; k < n; k++) {
        s += u[i * n + k] * values[k] * u[j * n + k];
        o += u[k * n + i] * u[k * n + j];
      }
      recon = Math.max(recon, Math.abs(A[i * n + j] - s));
      orth = Math.max(orth, Math.abs(o - (i === j ? 1 : 0)));
    }
  }
  return { recon, orth, values };
}

function assertDescending(v: ArrayLike<number>): void {
  for (let i = 1; i < v.length; i++)
    assert.ok(v[i - 1] >= v[i], `not descending at ${i}: ${v[i - 1]} < ${v[i]}`);
}

/** Unit vector e_i of length P. */
function basisVec(P: number, i: number): Float32Array {
  const e = new Float32Array(P);
  e[i] = 1;
  return e;
}

describe("symmetricEigen", () => {
  it("reconstructs random symmetric matrices with orthonormal eigenvectors", () => {
    const rng = new Rng(1);
    for (const n of [1, 2, 3, 5, 17, 40, 64]) {
      const A = randomSymmetric(n, rng);
      const { recon, orth, values } = eigenErrors(A, n);
      assert.ok(recon < 1e-13 * Math.max(1, n), `n=${n}: reconstruction error ${recon}`);
      assert.ok(orth < 1e-13, `n=${n}: orthogonality error ${orth}`);
      assertDescending(values);
      // Trace is preserved.
      let tr = 0;
      for (let i = 0; i < n; i++) tr += A[i * n + i];
      assert.ok(Math.abs(values.reduce((s, x) => s + x, 0) - tr) < 1e-12 * n);
    }
  });

  it("recovers a planted spectrum with repeated eigenvalues", () => {
    const rng = new Rng(2);
    const d = [3, 1, -2, 3, 0, 1, 3, 0];
    const A = withSpectrum(randomOrthogonal(d.length, rng), d);
    const { recon, orth, values } = eigenErrors(A, d.length);
    const want = [...d].sort((x, y) => y - x);
    for (let i = 0; i < d.length; i++)
      assert.ok(Math.abs(values[i] - want[i]) < 1e-13, `λ${i} = ${values[i]}`);
    assert.ok(recon < 1e-13 && orth < 1e-13, `recon ${recon}, orth ${orth}`);
  });

  it("handles identity, zero and diagonal matrices", () => {
    const I = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const e = symmetricEigen(I, 3);
    assert.deepEqual(Array.from(e.values), [1, 1, 1]);
    assert.deepEqual(Array.from(e.vectors), Array.from(I));
    const z = symmetricEigen(new Float64Array(4), 2);
    assert.deepEqual(Array.from(z.values), [0, 0]);
    const d = symmetricEigen(new Float64Array([1, 0, 0, 0, 5, 0, 0, 0, -2]), 3);
    assert.deepEqual(Array.from(d.values), [5, 1, -2]);
    assert.deepEqual(Array.from(d.vectors), [0, 1, 0, 1, 0, 0, 0, 0, 1]);
    const empty = symmetricEigen(new Float64Array(0), 0);
    assert.equal(empty.values.length, 0);
  });

  it("solves a 2×2 case exactly, with the sign convention", () => {
    const { values, vectors } = symmetricEigen(new Float64Array([2, 1, 1, 2]), 2);
    assert.ok(Math.abs(values[0] - 3) < 1e-15 && Math.abs(values[1] - 1) < 1e-15);
    const r = Math.SQRT1_2;
    // Column 0 = (1, 1)/√2; column 1 = ±(1, −1)/√2 with the first (tied-largest) entry positive.
    for (const [got, want] of [
      [vectors[0], r],
      [vectors[2], r],
      [vectors[1], r],
      [vectors[3], -r],
    ]) {
      assert.ok(Math.abs(got - want) < 1e-15, `${got} vs ${want}`);
    }
  });

  it("largest-|component| of every eigenvector is positive", () => {
    const rng = new Rng(3);
    const n = 12;
    const { vectors } = symmetricEigen(randomSymmetric(n, rng), n);
    for (let j = 0; j < n; j++) {
      let big = 0;
      for (let i = 1; i < n; i++) if (Math.abs(vectors[i * n + j]) > Math.abs(vectors[big * n + j])) big = i;
      assert.ok(vectors[big * n + j] > 0);
    }
  });

  it("keeps small eigenvalues of a badly scaled PSD Gram matrix accurate", () => {
    const rng = new Rng(4);
    const d = [1e10, 1e4, 1, 1e-3];
    const A = withSpectrum(randomOrthogonal(4, rng), d);
    const { values } = symmetricEigen(A, 4);
    // Absolute error ~ ε‖A‖ = 1e-6 is all one can ask of a rounded input.
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(values[i] - d[i]) < 1e-5 * Math.max(1, d[i] * 1e-9));
  });

  it("rejects a matrix of the wrong size", () => {
    assert.throws(() => symmetricEigen(new Float64Array(5), 2), RangeError);
  });
});

describe("vector kernels", () => {
  it("dot accumulates in float64", () => {
    // In float32 accumulation 1e8 + 1 rounds to 1e8 and the result would be 0.
    const a = new Float32Array([1e4, 1, -1e4]);
    const b = new Float32Array([1e4, 1, 1e4]);
    assert.equal(dot(a, b), 1);
    const rng = new Rng(5);
    const x = rng.fillNormal(new Float32Array(1001));
    const y = rng.fillNormal(new Float32Array(1001));
    let ref = 0;
    for (let i = 0; i < x.length; i++) ref += x[i] * y[i];
    assert.ok(Math.abs(dot(x, y) - ref) < 1e-10);
    assert.equal(dot(x, y), dot(y, x));
    assert.equal(norm(x), Math.sqrt(dot(x, x)));
    assert.throws(() => dot(x, new Float32Array(3)), RangeError);
  });

  it("axpy and scale", () => {
    const y = new Float64Array([1, 2, 3]);
    axpy(2, new Float32Array([1, 1, -1]), y);
    assert.deepEqual(Array.from(y), [3, 4, 1]);
    const out = new Float64Array(3);
    scale(y, 0.5, out);
    assert.deepEqual(Array.from(out), [1.5, 2, 0.5]);
    scale(y, -1);
    assert.deepEqual(Array.from(y), [-3, -4, -1]);
    assert.equal(norm(new Float32Array([3, 4])), 5);
  });

  it("gram equals pairwise dots", () => {
    const rng = new Rng(6);
    const rows = Array.from({ length: 5 }, () => rng.fillNormal(new Float32Array(333)));
    const G = gram(rows);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) assert.equal(G[i * 5 + j], dot(rows[i], rows[j]));
  });
});

describe("orthonormalize / randomFrame", () => {
  it("randomFrame is orthonormal and deterministic", () => {
    const V = randomFrame(20000, 10, new Rng(7));
    assert.equal(V.length, 10);
    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 10; j++) {
        const e = Math.abs(dot(V[i], V[j]) - (i === j ? 1 : 0));
        assert.ok(e < 1e-6, `VᵀV − I at (${i},${j}) = ${e}`);
      }
    }
    assert.deepEqual(randomFrame(500, 3, new Rng(7)), randomFrame(500, 3, new Rng(7)));
    assert.notDeepEqual(randomFrame(500, 3, new Rng(7)), randomFrame(500, 3, new Rng(8)));
  });

  it("preserves the span and drops dependent vectors", () => {
    const rng = new Rng(9);
    const P = 3000;
    const a = rng.fillNormal(new Float32Array(P));
    const b = rng.fillNormal(new Float32Array(P));
    const c = new Float32Array(P);
    for (let i = 0; i < P; i++) c[i] = 2 * a[i] - 3 * b[i];
    const Q = orthonormalize([a, b, c, new Float32Array(P)]);
    assert.equal(Q.length, 2);
    // Each input equals its projection onto span(Q).
    for (const x of [a, b, c]) {
      const r = project(x, Q, "remove");
      assert.ok(norm(r) < 1e-5 * norm(x), `residual ${norm(r) / norm(x)}`);
    }
    // First vector keeps its direction.
    assert.ok(Math.abs(dot(Q[0], a) / norm(a) - 1) < 1e-6);
  });
});

describe("principalAngles", () => {
  const P = 4000;

  it("is 0 for identical spans given in different bases", () => {
    const rng = new Rng(10);
    const A = randomFrame(P, 4, rng);
    const mix = [
      [1, 2, 0, -1],
      [0.5, -1, 3, 0],
      [0, 0, 1, 1],
      [2, 0, 0, 0.1],
    ];
    const B = mix.map((m) => {
      const v = new Float32Array(P);
      m.forEach((c, j) => {
        axpy(c, A[j], v);
      });
      return v;
    });
    const ang = principalAngles(A, B);
    assert.equal(ang.length, 4);
    for (const t of ang) assert.ok(t < 1e-5, `angle ${t}`);
    for (const t of principalAngles(A, A)) assert.ok(t < 1e-6, `self angle ${t}`);
  });

  it("is π/2 for orthogonal spans", () => {
    const rng = new Rng(11);
    const F = randomFrame(P, 6, rng);
    const ang = principalAngles(F.slice(0, 3), F.slice(3));
    assert.equal(ang.length, 3);
    for (const t of ang) assert.ok(Math.abs(t - Math.PI / 2) < 1e-6, `angle ${t}`);
  });

  it("returns known rotation angles, ascending, including a tiny one", () => {
    const rng = new Rng(12);
    const F = randomFrame(P, 8, rng);
    const thetas = [1.2, 0.1, 0.5, 1e-3];
    const A = thetas.map((_, i) => F[2 * i]);
    const B = thetas.map((t, i) => {
      const v = new Float32Array(P);
      axpy(Math.cos(t), F[2 * i], v);
      axpy(Math.sin(t), F[2 * i + 1], v);
      return v;
    });
    const ang = principalAngles(A, B);
    const want = [...thetas].sort((x, y) => x - y);
    for (let i = 0; i < want.length; i++)
      assert.ok(Math.abs(ang[i] - want[i]) < 1e-5, `${ang[i]} vs ${want[i]}`);
    // Same answer when B is scaled and mixed (not orthonormal) and when A and B swap.
    const B2 = [scale(Float32Array.from(B[0]), 7), B[1], B[2], B[3].map((x, i) => x + 0.3 * B[0][i])];
    const ang2 = principalAngles(B2, A);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(ang2[i] - ang[i]) < 1e-5);
  });

  it("resolves a 1e-6 rad angle (sine path, not acos)", () => {
    const n = 50;
    const b = basisVec(n, 0);
    b[1] = 1e-6;
    const ang = principalAngles([basisVec(n, 0)], [b]);
    assert.ok(Math.abs(ang[0] - Math.atan(Math.fround(1e-6))) < 1e-12, `angle ${ang[0]}`);
  });

  it("gives min(k_A, k_B) angles", () => {
    const F = randomFrame(P, 5, new Rng(13));
    const ang = principalAngles(F.slice(0, 2), F);
    assert.equal(ang.length, 2);
    for (const t of ang) assert.ok(t < 1e-6);
    assert.deepEqual(principalAngles([], F), []);
  });
});

describe("project", () => {
  const P = 5000;
  const rng = new Rng(14);
  const V = randomFrame(P, 5, rng);
  const g = rng.fillNormal(new Float32Array(P));

  it("keep is idempotent and keep + remove = g, with remove ⟂ V", () => {
    const k = project(g, V, "keep");
    const r = project(g, V, "remove");
    const kk = project(k, V, "keep");
    for (let i = 0; i < P; i++) {
      assert.ok(Math.abs(kk[i] - k[i]) < 1e-6, `idempotence at ${i}`);
      assert.ok(Math.abs(k[i] + r[i] - g[i]) < 1e-6, `complement at ${i}`);
    }
    for (const v of V) assert.ok(Math.abs(dot(r, v)) < 1e-5 * norm(g), `remove·v = ${dot(r, v)}`);
    assert.ok(norm(project(r, V, "keep")) < 1e-5 * norm(g));
    // Pythagoras, and a random g in P = 5000 has only ~5/5000 of its energy in a 5-dim subspace.
    assert.ok(Math.abs(norm(k) ** 2 + norm(r) ** 2 - norm(g) ** 2) < 1e-3);
    assert.ok(norm(k) < 0.2 * norm(g));
  });

  it("keeps vectors in span(V) and supports in-place output", () => {
    const x = new Float32Array(P);
    axpy(2, V[0], x);
    axpy(-1, V[3], x);
    const k = project(x, V, "keep");
    for (let i = 0; i < P; i++) assert.ok(Math.abs(k[i] - x[i]) < 1e-6);
    const y = Float32Array.from(g);
    const same = project(y, V, "remove", y);
    assert.equal(same, y);
    assert.deepEqual(y, project(g, V, "remove"));
    // Empty V: keep is 0, remove is g; Float64 input gives Float64 output.
    assert.deepEqual(project(g, [], "remove"), g);
    assert.equal(norm(project(g, [], "keep")), 0);
    assert.ok(project(Float64Array.from(g), V, "keep") instanceof Float64Array);
  });
});

describe("topEigenpairs", () => {
  it("topEigenpairs matches the dense Jacobi on Gram matrices, clustered spectrum included", () => {
    const rng = new Rng(9);
    // maxSteps: what the degree-8 Chebyshev filter takes on these seeded matrices (plain iteration: 27, 40, 2;
    // a filter with a wrong recurrence still converges, since every step is checked, but more slowly: 4, 5, 2).
    for (const [n, m, spread, maxSteps] of [
      [60, 80, 1.0, 3],
      [60, 200, 0.02, 4], // nearly flat spectrum: slow convergence
      [50, 5, 1.0, 2], // rank 5 < block: vanishing columns are replaced
    ] as const) {
      const rows = Array.from({ length: n }, () => {
        const r = new Float64Array(m);
        for (let j = 0; j < m; j++) r[j] = rng.normal() * (1 + spread * Math.exp(-j / 2));
        return r;
      });
      const A = gram(rows);
      const ref = symmetricEigen(A, n);
      const got = topEigenpairs(A, n, 3);
      assert.equal(got.method, "subspace");
      assert.ok(got.converged, `n=${n} m=${m}: residual ${got.residual} after ${got.iterations}`);
      assert.ok(got.iterations <= maxSteps, `n=${n} m=${m}: ${got.iterations} Rayleigh–Ritz steps`);
      for (let c = 0; c < 3; c++) {
        assert.ok(Math.abs(got.values[c] - ref.values[c]) < 1e-8 * ref.values[0], `λ_${c + 1}`);
        let align = 0;
        for (let i = 0; i < n; i++) align += got.vectors[c][i] * ref.vectors[i * n + c];
        const gap = (ref.values[c] - ref.values[c + 1]) / ref.values[0];
        assert.ok(Math.abs(align) > 1 - 1e-6, `n=${n} m=${m} u_${c + 1}: ${align} (gap ${gap})`);
      }
    }
    // Plain subspace iteration (degree 1) reaches the same pairs, in more steps.
    const A = gram(Array.from({ length: 40 }, () => Float64Array.from({ length: 60 }, () => rng.normal())));
    const cheb = topEigenpairs(A, 40, 3);
    const plain = topEigenpairs(A, 40, 3, { degree: 1 });
    assert.ok(plain.converged && cheb.converged);
    assert.ok(plain.iterations > cheb.iterations, `${plain.iterations} vs ${cheb.iterations} steps`);
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(plain.values[c] - cheb.values[c]) < 1e-8 * cheb.values[0]);
    // Small n: the whole matrix goes to Jacobi.
    const small = gram(
      Array.from({ length: 8 }, () => Float64Array.from({ length: 20 }, () => rng.normal())),
    );
    const s = topEigenpairs(small, 8, 3);
    assert.equal(s.method, "jacobi");
    assert.deepEqual(s.values, Array.from(symmetricEigen(small, 8).values.subarray(0, 3)));
  });
});

describe("cholesky", () => {
  it("L Lᵀ = A for a random SPD matrix, and choleskySolve inverts it; a non-PD matrix throws", () => {
    const rng = new Rng(17);
    const n = 9;
    const rows = Array.from({ length: n }, () => Float64Array.from({ length: n + 3 }, () => rng.normal()));
    const A = gram(rows);
    const L = cholesky(A, n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        if (j > i) assert.equal(L[i * n + j], 0, "upper triangle is zero");
        let s = 0;
        for (let k = 0; k < n; k++) s += L[i * n + k] * L[j * n + k];
        assert.ok(Math.abs(s - A[i * n + j]) < 1e-12 * (1 + Math.abs(A[i * n + j])), `(LLᵀ)_${i}${j}`);
      }
    const x = Float64Array.from({ length: n }, () => rng.normal());
    const b = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) b[i] += A[i * n + j] * x[j];
    const got = choleskySolve(L, n, b);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(got[i] - x[i]) < 1e-9, `x_${i}: ${got[i]} vs ${x[i]}`);
    const indefinite = Float64Array.from([1, 2, 2, 1]);
    assert.throws(() => cholesky(indefinite, 2), /not positive definite/);
  });
});
