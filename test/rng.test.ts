import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng, type RngState } from "../src/util/rng";

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.next());
}

/** Pearson chi-square statistic of observed counts against a uniform expectation. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((s, c) => s + c, 0);
  const expected = total / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

// 99.999th percentile of chi-square with 9 degrees of freedom: a fair generator fails ~1e-5 of the time.
const CHI2_9DOF_BOUND = 37.3;

function intCounts(sample: () => number, k: number, n: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) counts[sample()]++;
  return counts;
}

describe("Rng", () => {
  it("is deterministic per seed", () => {
    assert.deepEqual(draws(new Rng(42), 100), draws(new Rng(42), 100));
    const a = new Rng(7);
    const b = new Rng(7);
    for (let i = 0; i < 100; i++) assert.equal(a.normal(), b.normal());
  });

  it("gives different streams for different (even adjacent) seeds", () => {
    const seeds = [0, 1, 2, -1, 2 ** 31, 123456789];
    const firsts = seeds.map((s) => draws(new Rng(s), 4).join(","));
    assert.equal(new Set(firsts).size, seeds.length);
  });

  it("rejects non-integer seeds", () => {
    assert.throws(() => new Rng(1.5), /integer/);
    assert.throws(() => new Rng(Number.NaN), /integer/);
  });

  it("next() is in [0,1) with mean ≈ 1/2", () => {
    const xs = draws(new Rng(3), 100_000);
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.005, `mean ${mean}`); // sd of mean ≈ 0.0009
  });

  it("round-trips state mid-stream, including a pending normal spare", () => {
    const rng = new Rng(99);
    draws(rng, 17);
    rng.normal(); // leaves the second Box–Muller deviate cached
    const st = rng.state();
    assert.notEqual(st.spare, null);
    const restored = Rng.fromState(JSON.parse(JSON.stringify(st)) as RngState);
    for (let i = 0; i < 50; i++) {
      assert.equal(restored.normal(), rng.normal());
      assert.equal(restored.next(), rng.next());
      assert.equal(restored.int(1000), rng.int(1000));
    }
    assert.deepEqual(restored.state(), rng.state());
    // Forks depend on the seed, which is part of the state.
    assert.deepEqual(draws(restored.fork("x"), 5), draws(rng.fork("x"), 5));
  });

  it("fromState rejects malformed states with a clear error", () => {
    const good = new Rng(1).state();
    const cases: unknown[] = [
      null,
      42,
      { ...good, kind: "mt19937" },
      { ...good, s: [1, 2, 3] },
      { ...good, s: [1, 2, 3, -4] },
      { ...good, s: [0, 0, 0, 0] },
      { ...good, seed: 1.5 },
      { ...good, spare: "0.3" },
      { ...good, spare: Number.NaN },
    ];
    for (const c of cases) {
      assert.throws(() => Rng.fromState(c as RngState), /Rng\.fromState: invalid state/, JSON.stringify(c));
    }
  });

  it("int(n) stays in range and is uniform (chi-square)", () => {
    const rng = new Rng(5);
    const counts = intCounts(() => rng.int(10), 10, 100_000);
    assert.ok(
      counts.every((c) => c > 0),
      "every value occurs",
    );
    const chi2 = chiSquare(counts);
    assert.ok(chi2 < CHI2_9DOF_BOUND, `chi2 ${chi2}`);
    for (let i = 0; i < 1000; i++) {
      const x = rng.int(3);
      assert.ok(Number.isInteger(x) && x >= 0 && x < 3);
    }
    assert.equal(rng.int(1), 0);
    assert.throws(() => rng.int(0), RangeError);
    assert.throws(() => rng.int(2.5), RangeError);
  });

  it("the chi-square bound does reject a biased generator", () => {
    const rng = new Rng(5);
    // Mildly skewed toward small values: a broken int() of this kind must not pass.
    const counts = intCounts(() => Math.floor(rng.next() ** 1.05 * 10), 10, 100_000);
    assert.ok(chiSquare(counts) > CHI2_9DOF_BOUND);
  });

  it("int(n) has no modulo bias for large n", () => {
    // With n = 3·2^30, naive u32 % n would put half the mass (not a third) below 2^30.
    const rng = new Rng(11);
    const n = 3 * 2 ** 30;
    let below = 0;
    const trials = 30_000;
    for (let i = 0; i < trials; i++) if (rng.int(n) < 2 ** 30) below++;
    assert.ok(Math.abs(below / trials - 1 / 3) < 0.02, `fraction ${below / trials}`);
  });

  it("normal() has mean ≈ 0, variance ≈ 1 and normal tails over 1e5 draws", () => {
    const rng = new Rng(2024);
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    let within1 = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      sum += z;
      sumSq += z * z;
      if (Math.abs(z) < 1) within1++;
    }
    const mean = sum / n;
    const variance = sumSq / n - mean * mean;
    assert.ok(Math.abs(mean) < 0.015, `mean ${mean}`); // sd of mean ≈ 0.0032
    assert.ok(Math.abs(variance - 1) < 0.03, `variance ${variance}`); // sd ≈ 0.0045
    assert.ok(Math.abs(within1 / n - 0.6827) < 0.01, `P(|z|<1) ${within1 / n}`);
  });

  it("fillNormal and fillUniform fill the whole buffer with the requested law", () => {
    const rng = new Rng(8);
    const z = rng.fillNormal(new Float32Array(20_000), 0.1);
    const mean = z.reduce((s, x) => s + x, 0) / z.length;
    const sd = Math.sqrt(z.reduce((s, x) => s + x * x, 0) / z.length);
    assert.ok(Math.abs(mean) < 0.005 && Math.abs(sd - 0.1) < 0.005, `mean ${mean} sd ${sd}`);
    const u = rng.fillUniform(new Float32Array(20_000), -2, 3);
    assert.ok(u.every((x) => x >= -2 && x <= 3));
    assert.ok(Math.min(...u) < -1.99 && Math.max(...u) > 2.99);
  });

  it("shuffle is a permutation, for arrays and Int32Array", () => {
    const rng = new Rng(13);
    const arr = Array.from({ length: 100 }, (_, i) => i);
    rng.shuffle(arr);
    assert.notDeepEqual(
      arr,
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.deepEqual(
      [...arr].sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i),
    );
    const ia = Int32Array.from({ length: 1000 }, (_, i) => i);
    rng.shuffle(ia);
    assert.deepEqual(
      [...ia].sort((x, y) => x - y),
      Array.from({ length: 1000 }, (_, i) => i),
    );
  });

  it("shuffle draws all 6 permutations of 3 items equally often", () => {
    const rng = new Rng(21);
    const counts = new Map<string, number>();
    for (let i = 0; i < 60_000; i++) {
      const a = ["x", "y", "z"];
      rng.shuffle(a);
      counts.set(a.join(""), (counts.get(a.join("")) ?? 0) + 1);
    }
    assert.equal(counts.size, 6);
    // 99.999th percentile of chi-square with 5 degrees of freedom ≈ 28.
    assert.ok(chiSquare([...counts.values()]) < 28);
  });

  it("fork() is deterministic, position-independent and label-specific", () => {
    const parent = new Rng(77);
    const early = draws(parent.fork("init"), 10);
    draws(parent, 1000);
    assert.deepEqual(draws(parent.fork("init"), 10), early, "independent of parent position");
    assert.deepEqual(draws(new Rng(77).fork("init"), 10), early, "deterministic");
    const streams = [
      early,
      draws(new Rng(77).fork("batches"), 10),
      draws(new Rng(77).fork(0), 10),
      draws(new Rng(77).fork(1), 10),
      draws(new Rng(78).fork("init"), 10),
      draws(new Rng(77), 10),
    ].map((d) => d.join(","));
    assert.equal(new Set(streams).size, streams.length);
    assert.throws(() => parent.fork(0.5), RangeError);
  });
});
