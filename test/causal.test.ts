import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ablationTable,
  driftAfter,
  driftCurves,
  driftText,
  type InterventionRow,
  interventionRows,
  interventionVerdict,
  rankVerdict,
  speedupTable,
} from "../src/analysis/interventions";
import { type InterventionConfig, makeConfig } from "../src/config/config";
import { runId } from "../src/records/records";
import type { InterventionResult } from "../src/records/results";
import type { RunRecord } from "../src/records/schema";

/** A minimal record of an intervention run with the given grok step. */
function rec(
  op: string,
  seed: number,
  iv: Partial<InterventionConfig>,
  grokStep: number | null,
  extra: { weightDecay?: number; steps?: number; kept?: number } = {},
): RunRecord {
  const config = makeConfig({ op, seed, intervention: iv, weightDecay: extra.weightDecay });
  const result: InterventionResult = {
    mode: config.intervention?.mode ?? "control",
    projection: config.intervention?.projection ?? "gradient",
    rank: config.intervention?.rank ?? 3,
    firstProjectedStep: 21,
    projectedSteps: 100,
    drift: iv.mode === "keep-sed" ? [{ step: 25, anglesDeg: [1, 2, 30] }] : [],
    kept: [{ step: 25, keptFraction: extra.kept ?? 0.2 }],
    hookSeconds: 1,
  };
  const final = { step: extra.steps ?? 4000, loss: 0.1, trainAcc: 1, testAcc: 0.99 };
  return {
    schema: "sedlab.run",
    schemaVersion: 1,
    id: runId(config),
    config,
    task: op,
    backend: "wasm",
    sedlabVersion: "0",
    commit: "x",
    date: "2026-11-25",
    wallSeconds: 100,
    steps: extra.steps ?? 4000,
    stopReason: "converged",
    metrics: [final],
    grokStep,
    firstTest98Step: grokStep === null ? null : grokStep + 100,
    final,
    intervention: result,
  };
}

describe("intervention analysis", () => {
  const records = [
    rec("add", 42, { mode: "control" }, 3000),
    rec("add", 137, { mode: "control" }, 4000),
    rec("add", 42, { mode: "keep-sed" }, 1500),
    rec("add", 137, { mode: "keep-sed" }, 2000),
    rec("add", 42, { mode: "remove-sed", projection: "update" }, 2800),
    rec("add", 42, { mode: "keep-random", rank: 10 }, 1000),
    rec("add", 42, { mode: "control" }, null, { weightDecay: 0, steps: 8000 }),
    rec("mul", 42, { mode: "control" }, 5000),
    rec("mul", 42, { mode: "keep-random" }, 2500),
  ];
  const rows = interventionRows(records);

  it("speed-up = control's mean grok step ÷ the mode's, per op, from rank-3 weight-decay-1 runs only", () => {
    const t = speedupTable(rows);
    const find = (op: string, projection: string, mode: string) =>
      t.find((r) => r.op === op && r.projection === projection && r.mode === mode);
    assert.equal(find("add", "gradient", "control")?.speedup, 1);
    assert.equal(find("add", "gradient", "control")?.grokMean, 3500);
    assert.equal(find("add", "gradient", "keep-sed")?.speedup, 3500 / 1750);
    assert.deepEqual(find("add", "gradient", "keep-sed")?.grokSteps, { 42: 1500, 137: 2000 });
    // Update projection shares the gradient-projection control.
    assert.equal(find("add", "update", "remove-sed")?.speedup, 3500 / 2800);
    assert.equal(find("add", "update", "remove-sed")?.paperSpeedup, 1.21);
    assert.equal(find("add", "gradient", "keep-sed")?.paperSpeedup, 2.2);
    assert.equal(find("mul", "gradient", "keep-random")?.speedup, 2);
    assert.equal(find("mul", "gradient", "keep-random")?.paperSpeedup, null);
    // The rank-10 and wd-0 runs are ablations, not part of the main table.
    assert.equal(t.filter((r) => r.op === "add" && r.mode === "keep-random").length, 0);
  });

  it("the ablation table lists weight-decay-0 and rank arms against control at weight decay 1", () => {
    const a = ablationTable(rows);
    const wd0 = a.find((r) => r["weight decay"] === 0);
    assert.ok(wd0);
    assert.match(String(wd0["grok step"]), /none by 8000/);
    // No grok: its step budget is a lower bound on the grok step, so the speed-up is an upper bound.
    assert.equal(wd0["speed-up vs control (wd 1)"], `≤ ${(3500 / 8000).toFixed(2)}×`);
    const r10 = a.find((r) => r.rank === 10);
    assert.equal(r10?.["speed-up vs control (wd 1)"], "3.50×");
  });

  it("the rank verdict compares keep-random's speed-up across ranks, and needs two ranks", () => {
    // rows has control 3000 and 4000 (mean 3500) and keep-random rank 10 only: one rank, no verdict.
    assert.equal(rankVerdict(rows), null);
    const more = interventionRows([...records, rec("add", 42, { mode: "keep-random", rank: 1 }, 1100)]);
    const v = rankVerdict(more);
    assert.match(v ?? "", /r = 1: 3\.18×.*r = 10: 3\.50×/);
    assert.match(v ?? "", /hardly depends on the rank/);
    const steep = interventionRows([...records, rec("add", 42, { mode: "keep-random", rank: 1 }, 3000)]);
    assert.match(rankVerdict(steep) ?? "", /depends on the rank\.$/);
    assert.match(interventionVerdict(speedupTable(more), more), /rank of the kept random subspace/);
  });

  it("a remove-SED shift beyond 10% is reported with the seeds' spread beside it", () => {
    const sub = interventionRows([
      rec("sub", 42, { mode: "control" }, 1000),
      rec("sub", 137, { mode: "control" }, 1200),
      rec("sub", 42, { mode: "remove-sed" }, 800),
      rec("sub", 137, { mode: "remove-sed" }, 900),
    ]);
    const v = interventionVerdict(speedupTable(sub), sub);
    assert.match(
      v,
      /changes the grok step by 1\.29×: 250 steps, against a seed-to-seed sd of up to 141 steps/,
    );
  });

  it("the normalisation reading appears only when the numbers show a speed-up from a small kept share", () => {
    const arm = (ks: number, kr: number, kept: number) =>
      interventionRows([
        rec("add", 42, { mode: "control" }, 3000),
        rec("add", 42, { mode: "keep-sed" }, ks, { kept }),
        rec("add", 42, { mode: "keep-random" }, kr, { kept }),
      ]);
    const fast = arm(800, 850, 0.01);
    const v = interventionVerdict(speedupTable(fast), fast);
    assert.match(v, /keep under 10% of the norm\. Interpretation, not tested here: Adam divides/);
    // No speed-up: the same kept share says nothing about normalisation.
    const slow = arm(3100, 2900, 0.01);
    const w = interventionVerdict(speedupTable(slow), slow);
    assert.match(w, /How much gradient the keep modes let through\*\*: on average 1\.0%/);
    assert.doesNotMatch(w, /normalisation/);
    // A speed-up with most of the gradient kept is not a small-share effect either.
    const most = arm(800, 850, 0.5);
    assert.doesNotMatch(interventionVerdict(speedupTable(most), most), /normalisation/);
  });

  it("drift after a step: the largest later change of the largest angle, per keep-SED run, in words", () => {
    const r = rec("add", 42, { mode: "keep-sed" }, 1500);
    r.intervention = {
      ...(r.intervention as InterventionResult),
      drift: [25, 50, 75, 100, 125].map((step, i) => ({
        step,
        anglesDeg: [1, 2, [80, 70, 73.5, 72, 72][i]],
      })),
    };
    assert.deepEqual(driftAfter([r], 50), [{ id: r.id, degrees: 3.5 }]);
    assert.deepEqual(driftAfter([r], 100), [{ id: r.id, degrees: 0 }]);
    assert.equal(
      driftText([r]),
      "after step 50 at most 3.5° (median 3.5°), after step 100 at most 0.0° (median 0.0°), over 1 keep-SED runs",
    );
    assert.equal(driftText([rec("add", 42, { mode: "keep-random" }, 1500)]), null);
  });

  it("drift curves come from SED-mode runs only; the verdict names every op", () => {
    const d = driftCurves(records);
    assert.equal(d.length, 2);
    assert.deepEqual(d[0].maxAngle, [30]);
    const v = interventionVerdict(speedupTable(rows));
    assert.match(v, /\*\*add\*\*/);
    assert.match(v, /\*\*mul\*\*/);
    assert.match(v, /update projection.*1\.25×/);
  });

  it("rows carry the kept fraction and the hook's share of the wall time", () => {
    const r: InterventionRow = rows[2];
    assert.equal(r.keptFraction, 0.2);
    assert.equal(r.hookShare, 0.01);
  });

  it("a plain run counts as control; a record with an intervention config but no result is refused", () => {
    const plain = { ...records[0], config: makeConfig({ seed: 7 }) };
    delete (plain as Record<string, unknown>).intervention;
    const [row] = interventionRows([plain]);
    assert.equal(row.mode, "control");
    assert.equal(row.hookShare, null);
    const broken = { ...records[2] };
    delete (broken as Record<string, unknown>).intervention;
    assert.throws(() => interventionRows([broken]), /no intervention result/);
  });
});
