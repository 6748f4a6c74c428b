import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import {
  allPairs,
  BUILTIN_OPS,
  isPrime,
  makeDataset,
  makeTask,
  samplePairs,
  TaskError,
} from "../src/data/tasks";
import { Rng } from "../src/util/rng";

/** Runs fn with console.warn captured; returns the warnings. */
function captureWarnings(fn: () => void): string[] {
  const warn = mock.method(console, "warn", () => {});
  try {
    fn();
    return warn.mock.calls.map((c) => c.arguments.map(String).join(" "));
  } finally {
    warn.mock.restore();
  }
}

function throwsTaskError(fn: () => unknown, ...needles: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TaskError, `expected TaskError, got ${String(e)}`);
    for (const n of needles) {
      if (typeof n === "string") assert.ok(e.message.includes(n), `'${e.message}' should mention '${n}'`);
      else assert.match(e.message, n);
    }
    return true;
  });
}

describe("builtin tasks", () => {
  it("label hand-checked values", () => {
    const add = makeTask({ op: "add", p: 97 });
    assert.equal(add.label(50, 60), 13);
    assert.equal(add.label(96, 1), 0);
    const sub = makeTask({ op: "sub", p: 97 });
    assert.equal(sub.label(3, 5), 95); // -2 mod 97
    assert.equal(sub.label(0, 96), 1);
    assert.equal(sub.label(10, 4), 6);
    const mul = makeTask({ op: "mul", p: 97 });
    assert.equal(mul.label(10, 10), 3); // 100 mod 97
    assert.equal(mul.label(96, 96), 1); // (-1)² mod 97
    const sq = makeTask({ op: "sq_sum", p: 97 });
    assert.equal(sq.label(5, 9), (25 + 81) % 97);
    assert.equal(sq.label(96, 0), 1);
  });

  it("lo is 1 for mul (paper convention) and 0 otherwise; lo can be overridden", () => {
    for (const op of BUILTIN_OPS) assert.equal(makeTask({ op, p: 97 }).lo, op === "mul" ? 1 : 0);
    assert.equal(makeTask({ op: "add", p: 97, lo: 1 }).lo, 1);
    throwsTaskError(() => makeTask({ op: "add", p: 7, lo: 6 }), "lo", "6");
  });

  it("stays exact for p where products exceed 2^53", () => {
    const p = 2_147_483_629; // prime < 2^31, so (p-1)² ≫ 2^53
    const a = p - 2;
    const b = p - 3;
    const mul = makeTask({ op: "mul", p });
    assert.equal(mul.label(a, b), Number((BigInt(a) * BigInt(b)) % BigInt(p)));
    assert.equal(mul.label(a, b), 6); // (-2)(-3)
    assert.equal(makeTask({ op: "sq_sum", p }).label(a, b), 13); // 4 + 9
  });
});

describe("expression tasks", () => {
  it("match the builtins on every pair for p=97", () => {
    const pairs: [string, string][] = [
      ["a+b", "add"],
      ["a - b", "sub"],
      ["a*b", "mul"],
      ["a^2+b^2", "sq_sum"],
    ];
    for (const [expr, op] of pairs) {
      const builtin = makeTask({ op, p: 97 });
      const custom = makeTask({ expr, p: 97, lo: builtin.lo });
      assert.deepEqual(allPairs(custom), allPairs(builtin), `${expr} vs ${op}`);
    }
  });

  it("evaluate user expressions correctly", () => {
    const p = 97;
    const cases: [string, (a: number, b: number) => number][] = [
      ["a^3 + a*b", (a, b) => a ** 3 + a * b],
      ["a^2 + a*b + b^2", (a, b) => a * a + a * b + b * b],
      ["(a - b)^2", (a, b) => (a - b) ** 2],
      ["a*b + 1", (a, b) => a * b + 1],
      ["-a - 3b", (a, b) => -a - 3 * b],
      ["2^(3^2) * a", (a) => 512 * a],
    ];
    for (const [expr, ref] of cases) {
      const t = makeTask({ expr, p });
      for (const [a, b] of [
        [0, 0],
        [1, 96],
        [40, 7],
        [96, 95],
      ]) {
        assert.equal(t.label(a, b), (((ref(a, b) % p) + p) % p) as number, `${expr} at a=${a} b=${b}`);
      }
    }
  });

  it("use the normalised expression as name and default lo=0", () => {
    const t = makeTask({ expr: "a^3+a*b", p: 97 });
    assert.equal(t.name, "a ^ 3 + a * b");
    assert.equal(t.lo, 0);
    assert.equal(makeTask({ expr: "a*b", p: 97, lo: 1 }).lo, 1);
  });

  it("are exact where floating point is not: a^5 * b^5 mod 10007", () => {
    const p = 10007;
    const t = makeTask({ expr: "a^5 * b^5", p });
    const P = BigInt(p);
    const ref = (a: number, b: number) => Number((BigInt(a) ** 5n * BigInt(b) ** 5n) % P);
    const float = (a: number, b: number) => (a ** 5 * b ** 5) % p;
    const rng = new Rng(1);
    let floatWrong = 0;
    for (let i = 0; i < 2000; i++) {
      const a = rng.int(p);
      const b = rng.int(p);
      assert.equal(t.label(a, b), ref(a, b), `a=${a} b=${b}`);
      if (float(a, b) !== ref(a, b)) floatWrong++;
    }
    assert.equal(t.label(p - 1, p - 1), 1);
    assert.ok(floatWrong > 1000, "a float evaluation would have been wrong here");
  });
});

describe("makeTask errors", () => {
  it("unknown op lists the valid ones and suggests --expr", () => {
    throwsTaskError(() => makeTask({ op: "div", p: 97 }), "div", "add, sub, mul, sq_sum", "--expr");
  });

  it("needs exactly one of op and expr", () => {
    throwsTaskError(() => makeTask({ op: "add", expr: "a+b", p: 97 }), "not both");
    throwsTaskError(() => makeTask({ p: 97 }), "exactly one of op");
  });

  it("reports parse errors with mathjs's message", () => {
    throwsTaskError(() => makeTask({ expr: "a +", p: 97 }), "cannot parse", "Unexpected end of expression");
    throwsTaskError(() => makeTask({ expr: "  ", p: 97 }), "non-empty");
  });

  it("names symbols other than a and b", () => {
    throwsTaskError(() => makeTask({ expr: "a + x*c", p: 97 }), "'x'", "'c'", "only a and b");
  });

  it("rejects division, non-integer constants and negative exponents as non-integer", () => {
    throwsTaskError(() => makeTask({ expr: "a / b", p: 97 }), "division", "non-integer");
    throwsTaskError(() => makeTask({ expr: "0.5 * a", p: 97 }), "non-integer constant 0.5");
    throwsTaskError(() => makeTask({ expr: "a^-1", p: 97 }), "negative exponent -1", "non-integer");
  });

  it("rejects non-constant exponents, unsupported functions and operators by name", () => {
    throwsTaskError(() => makeTask({ expr: "a^b", p: 97 }), "exponent", "'b'");
    throwsTaskError(() => makeTask({ expr: "sqrt(a) + b", p: 97 }), "function 'sqrt'");
    throwsTaskError(() => makeTask({ expr: "a mod b", p: 97 }), "'mod'");
    throwsTaskError(() => makeTask({ expr: "a == b", p: 97 }), "'=='");
    throwsTaskError(() => makeTask({ expr: "a; b", p: 97 }), "BlockNode");
  });

  it("rejects non-finite and imprecise constants", () => {
    throwsTaskError(() => makeTask({ expr: "a + Infinity", p: 97 }), "non-finite");
    throwsTaskError(() => makeTask({ expr: "a + 1e400", p: 97 }), "non-finite");
    throwsTaskError(() => makeTask({ expr: "a + 1e30", p: 97 }), "exceeds 2^53");
  });

  it("requires p to be an integer ≥ 3 and says what was given", () => {
    throwsTaskError(() => makeTask({ op: "add", p: 2 }), "p must be an integer ≥ 3", "got 2");
    throwsTaskError(() => makeTask({ op: "add", p: 97.5 }), "got 97.5");
    throwsTaskError(() => makeTask({ expr: "a", p: Number.NaN }), "got NaN");
  });

  it("warns (without throwing) when p is not prime", () => {
    let task: ReturnType<typeof makeTask> | undefined;
    const warnings = captureWarnings(() => {
      task = makeTask({ op: "mul", p: 100 });
    });
    assert.equal(task?.label(12, 12), 44);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /p=100 is not prime/);
    assert.match(warnings[0], /prime/);
    assert.deepEqual(
      captureWarnings(() => makeTask({ op: "mul", p: 97 })),
      [],
    );
  });

  it("isPrime", () => {
    const primes = [2, 3, 5, 7, 11, 13, 97, 113, 10007, 2_147_483_629];
    for (const n of primes) assert.ok(isPrime(n), `${n}`);
    for (const n of [-7, 0, 1, 4, 9, 15, 25, 91, 10001, 2.5]) assert.ok(!isPrime(n), `${n}`);
  });
});

describe("datasets", () => {
  const key = (a: number, b: number) => `${a},${b}`;

  it("allPairs is the whole domain in row-major order", () => {
    const t = makeTask({ op: "mul", p: 5 });
    const { a, b, y } = allPairs(t);
    assert.deepEqual([...a], [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]);
    assert.deepEqual([...b], [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
    assert.deepEqual([...y], [1, 2, 3, 4, 2, 4, 1, 3, 3, 1, 4, 2, 4, 3, 2, 1]);
  });

  it("splits ⌊frac·N⌋ / rest, covering every pair exactly once", () => {
    const t = makeTask({ op: "add", p: 97 });
    const n = 97 * 97;
    for (const frac of [0.3, 0.5, 0.77]) {
      const ds = makeDataset(t, frac, 0);
      const nTrain = Math.floor(frac * n);
      assert.equal(ds.trainA.length, nTrain);
      assert.equal(ds.trainB.length, nTrain);
      assert.equal(ds.trainY.length, nTrain);
      assert.equal(ds.testA.length, n - nTrain);
      assert.equal(ds.testY.length, n - nTrain);
      const seen = new Set<string>();
      const add = (A: Int32Array, B: Int32Array, Y: Int32Array) => {
        for (let i = 0; i < A.length; i++) {
          seen.add(key(A[i], B[i]));
          assert.equal(Y[i], (A[i] + B[i]) % 97);
        }
      };
      add(ds.trainA, ds.trainB, ds.trainY);
      add(ds.testA, ds.testB, ds.testY);
      assert.equal(seen.size, n, "no pair repeated or missing");
    }
  });

  it("is deterministic per seed and differs across seeds", () => {
    const t = makeTask({ op: "sub", p: 31 });
    const a = makeDataset(t, 0.4, 123);
    assert.deepEqual(makeDataset(t, 0.4, 123), a);
    const b = makeDataset(t, 0.4, 124);
    assert.notDeepEqual([...b.trainA], [...a.trainA]);
  });

  it("mul excludes 0 from both operands", () => {
    const t = makeTask({ op: "mul", p: 13 });
    const ds = makeDataset(t, 0.5, 1);
    assert.equal(ds.trainA.length + ds.testA.length, 12 * 12);
    for (const arr of [ds.trainA, ds.trainB, ds.testA, ds.testB])
      assert.ok(arr.every((v) => v >= 1 && v < 13));
    assert.ok(
      ds.trainY.every((v) => v !== 0),
      "a·b ≠ 0 mod a prime",
    );
  });

  it("validates frac and non-empty splits", () => {
    const t = makeTask({ op: "add", p: 7 });
    for (const frac of [0, 1, -0.1, 1.5, Number.NaN]) {
      throwsTaskError(() => makeDataset(t, frac, 0), "open interval (0, 1)", `got ${frac}`);
    }
    throwsTaskError(() => makeDataset(t, 0.01, 0), "0 train", "non-empty"); // ⌊0.49⌋ = 0
  });

  it("samplePairs draws n in-domain pairs with replacement, deterministically", () => {
    const t = makeTask({ op: "mul", p: 11 });
    const s = samplePairs(t, 5000, new Rng(4).fork("probe"));
    assert.equal(s.a.length, 5000);
    assert.ok(s.a.every((v) => v >= 1 && v < 11) && s.b.every((v) => v >= 1 && v < 11));
    for (let i = 0; i < 50; i++) assert.equal(s.y[i], (s.a[i] * s.b[i]) % 11);
    const distinct = new Set(Array.from(s.a, (a, i) => key(a, s.b[i])));
    assert.equal(distinct.size, 100, "all 10×10 pairs appear");
    assert.deepEqual(samplePairs(t, 5000, new Rng(4).fork("probe")), s);
    assert.equal(samplePairs(t, 0, new Rng(0)).a.length, 0);
  });
});
