// Analysis of SED records (pure functions over plain records) and the figures/tables built from them.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { claimCheck, couplingOf, meanSd, peakRows, windowAblation } from "../src/analysis/sed";
import { makeConfig } from "../src/config/config";
import { spectrumHeatmap, updateVsGradient } from "../src/present/figures";
import { couplingSummary } from "../src/present/tables";
import type { CouplingRecord, CurvePoint } from "../src/records/results";
import type { RunRecord } from "../src/records/schema";
import { summarise } from "../src/sed/recorder";

function point(step: number, R: number[]): CurvePoint {
  return {
    step,
    windowStart: step - 475,
    windowEnd: step,
    R,
    Rbar: R.reduce((s, x) => s + x, 0) / R.length,
    sigma: [4, 2, 1, 0.5],
    gapIndex: 1,
    gapRatio: 2,
    medianRandom: 1e-3,
    eps: 0.1,
  };
}

function record(
  op: string,
  seed: number,
  update: number[][],
  gradient: number[][],
  grokStep = 400,
): RunRecord {
  const config = makeConfig({ preset: "paper", op, seed, sed: true });
  const coupling: CouplingRecord = {
    update: summarise(update.map((R, i) => point(200 * (i + 1), R))),
    gradient: summarise(gradient.map((R, i) => point(200 * (i + 1), R))),
  };
  return {
    schema: "sedlab.run",
    schemaVersion: 1,
    id: `${op}-${seed}`,
    config,
    task: op,
    backend: "wasm",
    sedlabVersion: "0",
    commit: "x",
    date: "2026-01-01",
    wallSeconds: 1,
    steps: 800,
    stopReason: "converged",
    metrics: [{ step: 0, loss: 1, trainAcc: 0, testAcc: 0 }],
    grokStep,
    firstTest98Step: null,
    final: { step: 800, loss: 0, trainAcc: 1, testAcc: 1 },
    coupling,
  };
}

describe("analysis", () => {
  test("summarise: peak and final R̄, peak R_1", () => {
    const s = summarise([point(200, [1, 2, 3]), point(400, [9, 3, 3]), point(600, [2, 2, 2])]);
    assert.equal(s.peakRbar, 5);
    assert.equal(s.finalRbar, 2);
    assert.equal(s.peakR1, 9);
    assert.deepEqual(summarise([]), { peakRbar: null, finalRbar: null, peakR1: null, curve: [] });
  });

  test("peakRows and claimCheck state the ordering from the numbers", () => {
    const rs = [
      record("add", 42, [[2, 3, 4]], [[200, 300, 100]]),
      record("mul", 42, [[5, 5, 5]], [[40, 50, 60]]),
    ];
    const rows = peakRows(rs);
    assert.deepEqual(
      rows.map((r) => [r.op, r.updatePeak, r.gradientPeak, r.gain]),
      [
        ["add", 3, 200, 200 / 3],
        ["mul", 5, 50, 10],
      ],
    );
    const text = claimCheck(rows);
    assert.match(text, /update-SED R̄ peaks at 3\.0–5\.0×/);
    assert.match(text, /gradient-SED R̄ at 50–200×/);
    assert.match(text, /in every run/);
    assert.match(text, /≥ 10× in 2 of 2/);
    const reversed = claimCheck(peakRows([record("sub", 1, [[50, 50, 50]], [[5, 5, 5]])]));
    assert.match(reversed, /in 0 of 1 runs/);
  });

  test("meanSd uses the sample standard deviation and skips missing values", () => {
    const m = meanSd([1, 2, 3, null, Number.NaN]);
    assert.equal(m.n, 3);
    assert.equal(m.mean, 2);
    assert.equal(m.sd, 1);
  });

  test("windowAblation orders window sizes and includes the main window", () => {
    const r = record("add", 42, [[1, 1, 1]], [[10, 10, 10]]);
    const c = couplingOf(r);
    c.windows = {
      "gradient@1": summarise([point(200, [600, 1, 1])]),
      "gradient@40": summarise([point(200, [140, 1, 1])]),
      "update@1": summarise([point(200, [7, 1, 1])]),
    };
    assert.deepEqual(windowAblation(r, "gradient"), [
      { W: 1, peakR1: 600 },
      { W: 20, peakR1: 10 },
      { W: 40, peakR1: 140 },
    ]);
  });

  test("a record without diagnostics gets a clear error", () => {
    const r = record("add", 1, [[1, 1, 1]], [[1, 1, 1]]);
    delete (r as Record<string, unknown>).coupling;
    assert.throws(() => couplingOf(r), /no SED diagnostics.*--sed/);
  });

  test("figures and tables build from records", () => {
    const rs = [
      record("add", 42, [[2, 3, 4]], [[200, 300, 100]]),
      record("add", 137, [[1, 1, 1]], [[20, 30, 10]]),
    ];
    const f = updateVsGradient(rs);
    assert.equal(f.data.length, 4, "2 seeds × 2 sources");
    const heat = spectrumHeatmap(rs[0], "update");
    assert.equal((heat.data[0] as { z: number[][] }).z.length, 4, "one row per singular value");
    const t = couplingSummary(peakRows(rs));
    assert.deepEqual(t.columns.slice(0, 3), ["op", "seeds", "update R̄ peak (ours)"]);
    assert.equal((t.values[0] as unknown[])[2], "2.0 ± 1.4");
  });
});
