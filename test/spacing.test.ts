import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { spacingComparison, spacingVerdict } from "../src/analysis/multitask";
import { makeConfig } from "../src/config/config";
import { runId } from "../src/records/records";
import { type MetricPoint, RECORD_SCHEMA, RECORD_VERSION, type RunRecord } from "../src/records/schema";

function run(
  c: number,
  seed: number,
  commit: string,
  loss: (step: number) => number,
  steps: number,
): RunRecord {
  const config = makeConfig({ preset: "test", tasks: ["add", "mul"], seed, checkpointEvery: c });
  const metrics: MetricPoint[] = [];
  for (let s = 0; s <= steps; s += c)
    metrics.push({ step: s, loss: loss(s), trainAcc: 0.5, testAcc: s / 1000 });
  return {
    schema: RECORD_SCHEMA,
    schemaVersion: RECORD_VERSION,
    id: runId(config),
    config,
    task: "add+mul",
    backend: "wasm",
    sedlabVersion: "0",
    commit,
    date: "2026-12-01T00:00:00Z",
    wallSeconds: 60,
    steps,
    stopReason: "converged",
    metrics,
    grokStep: null,
    firstTest98Step: null,
    final: metrics[metrics.length - 1],
  };
}

describe("spacingComparison", () => {
  it("one seed on the same code: identical at every common step, and the verdict says so", () => {
    const f = (s: number) => 1 / (1 + s);
    const rows = spacingComparison([run(50, 1, "abc", f, 400), run(25, 1, "abc", f, 300)]);
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].spacings, [50, 25]);
    assert.equal(rows[0].commonSteps, 7, "0, 50, …, 300");
    assert.equal(rows[0].firstDifferentStep, null);
    assert.equal(rows[0].identicalThrough, 300);
    assert.match(spacingVerdict(rows), /Both spacings trained the same trajectory/);
  });

  it("records that part after step 100 on different code: where, how much, and which commits", () => {
    const a = (s: number) => 1 / (1 + s);
    const b = (s: number) => (s <= 100 ? a(s) : 2 * a(s));
    const rows = spacingComparison([run(50, 3, "old", a, 400), run(25, 3, "new", b, 300)]);
    assert.equal(rows[0].identicalThrough, 100);
    assert.equal(rows[0].firstDifferentStep, 150);
    assert.ok(Math.abs(rows[0].maxLossRatio - 2) < 1e-12);
    const text = spacingVerdict(rows);
    assert.match(text, /not the same trajectory in 1 of 1 seeds.*different code/);
    assert.match(text, /identical through step 100, different from step 150 \(train loss up to 2\.00× apart/);
    assert.match(text, /c = 50 on old, c = 25 on new/);
  });

  it("a difference on the same code is called a bug, not explained away", () => {
    const a = (s: number) => 1 / (1 + s);
    const rows = spacingComparison([run(50, 3, "abc", a, 400), run(25, 3, "abc", (s) => a(s) + 1e-9, 300)]);
    assert.match(
      spacingVerdict(rows),
      /same code\*\*: the spacing should not change training, so that is a bug/,
    );
  });

  it("a seed with one spacing only is left out", () => {
    assert.deepEqual(spacingComparison([run(50, 1, "abc", () => 1, 100)]), []);
    assert.match(spacingVerdict([]), /nothing to compare/);
  });
});
