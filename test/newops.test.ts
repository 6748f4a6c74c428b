import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TaskError } from "../src/data/tasks";
import { expressionError, newOpPreset, operationConfig, operationSample } from "../src/runs/newops";

describe("new operations", () => {
  it("samples the operation exactly mod p", () => {
    const s = operationSample("a^3 + a*b", 97);
    for (const r of s) assert.equal(r["a ∘ b mod p"], Number((BigInt(r.a) ** 3n + BigInt(r.a * r.b)) % 97n));
  });

  it("bad expressions and moduli give errors naming the problem", () => {
    assert.match(expressionError("a / b", 97) ?? "", /division/);
    assert.match(expressionError("a + c", 97) ?? "", /unknown symbol/);
    assert.equal(expressionError("a^2 + a*b + b^2", 97), null);
    assert.throws(() => operationSample("a +", 97), TaskError);
    assert.throws(() => operationConfig("a + b", { p: 2 }), /p must be an integer ≥ 3/);
  });

  it("runs at the quick preset, or the test preset under SEDLAB_PRESET=test, with SED diagnostics", () => {
    const saved = process.env.SEDLAB_PRESET;
    try {
      process.env.SEDLAB_PRESET = "paper";
      assert.equal(newOpPreset(), "quick");
      process.env.SEDLAB_PRESET = "test";
      assert.equal(newOpPreset(), "test");
      const c = operationConfig("a^3 + a*b", { p: 31, seed: 5 });
      assert.equal(c.preset, "test");
      assert.equal(c.p, 31);
      assert.equal(c.seed, 5);
      assert.ok(c.sed);
    } finally {
      if (saved === undefined) delete process.env.SEDLAB_PRESET;
      else process.env.SEDLAB_PRESET = saved;
    }
  });
});
