// The SIMD kernels of the SED windows and the random frames (src/util/kernels/rows.wat, polar.wat) against the
// JavaScript they replace: bitwise the same values, on odd sizes and zero coefficients too. (Where a kernel ends
// in float32 — combineInto, the deviates — that rounding hides most float64 differences, so those are checked on
// many inputs; the float64 results, dots and dot, show any change of order at once.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { projectOnGaussian, projectOnWindow } from "../src/intervention/projection";
import { RowWindow } from "../src/sed/rollingSvd";
import { frame3KernelFor, normalBuffer } from "../src/util/frameBuffer";
import { POLAR_WASM_BASE64 } from "../src/util/kernels/polarWasm";
import { Rng } from "../src/util/rng";
import { RowStore } from "../src/util/rowStore";
import { kernelWithMemory } from "../src/util/wasm";

/** Bitwise equality of two float arrays (NaN payloads and signed zeros included). */
function sameBits(a: Float32Array | Float64Array, b: Float32Array | Float64Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  const ua = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const ub = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const i = ua.findIndex((x, k) => x !== ub[k]);
  assert.equal(i, -1, `${what}: first difference at element ${Math.floor(i / a.BYTES_PER_ELEMENT)}`);
}

/** Two stores of the same rows: one on the kernel, one on linalg's JavaScript. */
function stores(capacity: number, P: number, rng: Rng): [RowStore, RowStore] {
  const k = new RowStore(capacity, P);
  const js = new RowStore(capacity, P, { kernel: false });
  for (let s = 0; s < capacity; s++) {
    rng.fillNormal(k.rows[s]);
    // a spread of magnitudes and exact zeros, so that rounding differences would show
    for (let i = 0; i < P; i += 7) k.rows[s][i] *= 10 ** ((i % 9) - 4);
    if (P > 3) k.rows[s][3] = 0;
    js.rows[s].set(k.rows[s]);
  }
  return [k, js];
}

describe("rows kernel (RowStore)", () => {
  for (const [capacity, P] of [
    [1, 1],
    [3, 5],
    [5, 1001],
    [9, 4099],
    [20, 2048],
  ]) {
    it(`dots, dot and combineInto equal linalg's bitwise (capacity ${capacity}, P ${P})`, () => {
      const rng = new Rng(capacity * 1000 + P);
      const [k, js] = stores(capacity, P, rng);
      assert.notEqual(k.rows[0].buffer, js.rows[0].buffer);
      const x = rng.fillNormal(new Float32Array(P));
      const slots = Array.from({ length: capacity }, (_, s) => (s * 7) % capacity); // any order, repeats allowed
      sameBits(k.dots(slots, x), js.dots(slots, x), "dots");
      sameBits(k.dot(slots, x), js.dot(slots, x), "dot");
      sameBits(k.dot(slots, k.rows[0]), js.dot(slots, js.rows[0]), "dot with a stored row");
      const coefs = slots.map((_, t) => (t % 3 === 1 ? 0 : rng.normal()));
      for (const mode of ["keep", "remove"] as const) {
        const outK = new Float32Array(P);
        const outJ = new Float32Array(P);
        assert.ok(
          Object.is(k.combineInto(slots, coefs, x, mode, outK), js.combineInto(slots, coefs, x, mode, outJ)),
        );
        sameBits(outK, outJ, `combineInto ${mode}`);
        // in place (out aliasing g)
        const gK = x.slice();
        const gJ = x.slice();
        k.combineInto(slots, coefs, gK, mode, gK);
        js.combineInto(slots, coefs, gJ, mode, gJ);
        sameBits(gK, outJ, `combineInto ${mode} in place`);
        sameBits(gJ, outJ, `combineInto ${mode} in place (JavaScript)`);
      }
      const zeros = new Float32Array(P);
      k.combineInto(slots, new Float64Array(capacity), x, "keep", zeros);
      sameBits(zeros, new Float32Array(P), "all-zero coefficients keep nothing");
    });
  }

  it("names a length mismatch", () => {
    const st = new RowStore(2, 8);
    assert.throws(() => st.dots([0], new Float32Array(7)), /RowStore\.dots: length 7, expected 8/);
  });
});

describe("RowWindow on the rows kernel", () => {
  it("keeps bitwise the Gram matrix, SVD and projections of the JavaScript window over 30 pushes", () => {
    const P = 1037;
    const rng = new Rng(5);
    const wk = new RowWindow(8, P);
    const wj = new RowWindow(8, P, { kernel: false });
    for (let step = 0; step < 30; step++) {
      const g = rng.fillNormal(new Float32Array(P));
      if (step < 8 || step % 3 === 0) {
        wk.push(g);
        wj.push(g);
      } else {
        const mode = step % 2 ? "keep" : "remove";
        const gk = g.slice();
        const gj = g.slice();
        const pk = projectOnWindow(wk, 3, gk, mode);
        const pj = projectOnWindow(wj, 3, gj, mode);
        sameBits(gk, gj, `projection at step ${step}`);
        sameBits(pk.beta, pj.beta, "β");
        sameBits(pk.applied.dots, pj.applied.dots, "applied dots");
        assert.ok(Object.is(pk.applied.self, pj.applied.self));
        assert.ok(Object.is(pk.keptFraction, pj.keptFraction));
        wk.push(gk, pk.applied);
        wj.push(gj, pj.applied);
      }
      sameBits(wk.gram(), wj.gram(), `Gram after push ${step + 1}`);
    }
    const [a, b] = [wk.svd(3), wj.svd(3)];
    assert.deepEqual(a.sigma, b.sigma);
    a.basis.forEach((v, j) => {
      sameBits(v, b.basis[j], `v_${j + 1}`);
    });
    sameBits(wk.dots(wk.rows()[2]), wj.dots(wj.rows()[2]), "dots");
    // restore without a saved Gram recomputes it through the kernel: still the JavaScript window's
    const st = wj.state();
    const again = RowWindow.fromState({ json: st.json, arrays: { rows: st.arrays.rows } });
    const fresh = new RowWindow(8, P, { kernel: false });
    fresh.restore({ json: st.json, arrays: { rows: st.arrays.rows } });
    sameBits(again.gram(), fresh.gram(), "restored Gram");
  });
});

describe("polar kernel (Rng.fillNormalPolar into a normalBuffer)", () => {
  it("draws bitwise the JavaScript loop's deviates and leaves the same state, for every size", () => {
    const a = new Rng(11);
    const b = new Rng(11);
    for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 63, 1023, 1024, 1025, 3 * 4099]) {
      const buf = normalBuffer(n);
      a.fillNormalPolar(buf);
      const plain = b.fillNormalPolar(new Float32Array(n));
      sameBits(buf, plain, `n = ${n}`);
      assert.deepEqual(a.state(), b.state(), `state after n = ${n}`);
    }
    // a subarray of the buffer runs on the kernel too
    const buf = normalBuffer(100);
    a.fillNormalPolar(buf.subarray(10, 57));
    sameBits(buf.subarray(10, 57), b.fillNormalPolar(new Float32Array(47)), "subarray");
  });

  it("matches over 4M deviates, fdlibm's rare |f| < 2^-20 log path included", () => {
    const n = 4_000_000;
    const seed = 2024;
    // Count the accepted s of this stream that take fdlibm's short path, to know the test reaches it.
    const probe = new Rng(seed);
    let made = 0;
    let short = 0;
    const f64 = new Float64Array(1);
    const hi = new Int32Array(f64.buffer, 4, 1);
    while (made < n) {
      const x = (probe.u32() >>> 8) * 2 ** -23 - 1;
      const y = (probe.u32() >>> 8) * 2 ** -23 - 1;
      const s = x * x + y * y;
      if (s >= 1 || s === 0) continue;
      f64[0] = s;
      if ((0x000fffff & (2 + (hi[0] & 0x000fffff))) < 3) short++;
      made += 2;
    }
    assert.ok(short >= 1, `the stream reaches the short path (${short} times)`);
    const buf = normalBuffer(n);
    new Rng(seed).fillNormalPolar(buf);
    sameBits(buf, new Rng(seed).fillNormalPolar(new Float32Array(n)), "4M deviates");
  });

  it("its log is V8's Math.log (fdlibm) bitwise, specials included", () => {
    const k = kernelWithMemory<{ log(x: number): number }>(POLAR_WASM_BASE64, 65536);
    assert.ok(k);
    const rng = new Rng(3);
    const f64 = new Float64Array(1);
    const words = new Uint32Array(f64.buffer);
    const specials = [0, -0, 1, 2, 0.5, 0.75, Math.SQRT2, Math.SQRT1_2, 5e-324, 2.2250738585072014e-308];
    for (const x of [...specials, 1.7976931348623157e308, Number.POSITIVE_INFINITY, -1]) {
      assert.ok(Object.is(k.kernel.log(x), Math.log(x)) || Number.isNaN(Math.log(x)), `log(${x})`);
    }
    assert.ok(Number.isNaN(k.kernel.log(Number.NaN)));
    let bad = 0;
    for (let i = 0; i < 1_000_000; i++) {
      words[0] = rng.u32();
      words[1] = i % 2 ? rng.u32() >>> 1 : 0x3fe00000 + (rng.u32() % 0x00200000); // any positive double, or near 1
      const x = f64[0];
      if (!Object.is(k.kernel.log(x), Math.log(x)) && !Number.isNaN(x)) bad++;
    }
    assert.equal(bad, 0);
  });

  it("projects onto a frame in its memory (k = 3) bitwise as the JavaScript does, keep and remove, odd P", () => {
    const P = 5003;
    const z = normalBuffer(3 * P, P);
    assert.ok(frame3KernelFor(z, P), "the frame has room to stage g: the kernel runs");
    assert.equal(frame3KernelFor(normalBuffer(3 * P), P), undefined, "no stage: the JavaScript runs");
    new Rng(9).fillNormalPolar(z);
    const zj = new Rng(9).fillNormalPolar(new Float32Array(3 * P));
    const g = new Rng(1).fillNormal(new Float32Array(P));
    for (const mode of ["keep", "remove"] as const) {
      const [gk, gj] = [g.slice(), g.slice()];
      assert.ok(Object.is(projectOnGaussian(z, 3, gk, mode), projectOnGaussian(zj, 3, gj, mode)), mode);
      sameBits(gk, gj, `projected gradient (${mode})`);
    }
  });
});
