import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { READOUT_DEFAULTS } from "../src/config/config";
import { TaskError } from "../src/data/tasks";
import {
  expressionError,
  newOpPreset,
  operationConfig,
  operationSample,
  paperReadoutRecord,
} from "../src/runs/newops";

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
      assert.deepEqual(c.readouts, READOUT_DEFAULTS, "notebook 05 reads out the SED directions too");
      assert.equal(operationConfig("a^3 + a*b", { readouts: false }).readouts, undefined);
    } finally {
      if (saved === undefined) delete process.env.SEDLAB_PRESET;
      else process.env.SEDLAB_PRESET = saved;
    }
  });

  it("the paper-preset readout record comes from the cache only; without one, a note says how to make it", () => {
    const other = paperReadoutRecord("a^2 + b^2 + 1");
    assert.equal(other.record, null);
    assert.match(other.id, /^expr-a_2\+b_2\+1_p97_paper_seed42_sed_readouts_[0-9a-f]{8}$/);
    assert.match(
      other.note,
      /npx sedlab train --expr "a\^2 \+ b\^2 \+ 1" --seed 42 --preset paper --sed --readouts/,
    );
    // A worked example points at its sweep until its record is cached (they are being trained).
    const worked = paperReadoutRecord("a^3 + a*b");
    if (worked.record) assert.equal(worked.record.id, worked.id);
    else assert.match(worked.note, /experiments\/readouts\.json/);
    assert.match(paperReadoutRecord("a^3 + a*b", { p: 31 }).note, /--p 31/);
  });
});
