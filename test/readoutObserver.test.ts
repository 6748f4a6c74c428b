// The readout observer (#18) in a training run: what it records and when, that it never changes training, leaks
// no tensors, and that a run resumed mid-way gives the identical record.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import {
  compositionRows,
  keyFrequencyRows,
  modeRows,
  pcRows,
  perExampleRows,
  readoutCost,
  readoutVerdict,
} from "../src/analysis/readouts";
import { makeConfig } from "../src/config/config";
import {
  keyFrequencyHeatmap,
  modeFieldHeatmaps,
  modeSpectra,
  perExampleFigure,
} from "../src/present/readoutFigures";
import { runId } from "../src/records/records";
import type { ReadoutResult } from "../src/records/results";
import type { RunRecord } from "../src/records/schema";
import { initBackend } from "../src/runs/backend";
import { trainRun } from "../src/runs/trainRun";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-rdo-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
before(async () => {
  await initBackend();
});

const opts = { recordDir: null, checkpointDir: null } as const;
// The test preset with a train fraction and learning rate that grok (at step 150 here), so a post-grok readout exists.
const fast = { preset: "test", seed: 3, frac: 0.9, lr: 1e-2, maxSteps: 300, stopAfterEvals: 3 } as const;
const config = makeConfig({ ...fast, readouts: true });
const strip = (r: RunRecord) => {
  const o: Record<string, unknown> = { ...r };
  for (const k of ["date", "wallSeconds", "id"]) delete o[k];
  const ro = o.readouts as ReadoutResult;
  o.readouts = { ...ro, seconds: 0, points: ro.points.map((p) => ({ ...p, seconds: 0 })) };
  return o;
};

describe("readout observer", () => {
  let whole: RunRecord;
  before(async () => {
    whole = await trainRun(config, opts);
  });

  it("turns the SED diagnostics on, is named in the run id, and does not change training", async () => {
    assert.ok(config.sed);
    assert.match(runId(makeConfig({ seed: 42, readouts: true })), /^add_p97_paper_seed42_sed_readouts$/);
    const plain = await trainRun(makeConfig({ ...fast, sed: true }), opts);
    assert.deepEqual(whole.metrics, plain.metrics);
    assert.deepEqual(whole.coupling, plain.coupling);
  });

  it("records key frequencies at every eval and readouts at init, the first measurement, post-grok and the end", () => {
    const ro = whole.readouts as ReadoutResult;
    assert.equal(ro.keyFrequencies.length, whole.metrics.length);
    const half = Math.floor(config.p / 2);
    for (const k of ro.keyFrequencies) {
      assert.equal(k.power.length, half);
      assert.ok(Math.abs(k.power.reduce((s, x) => s + x, 0) - 1) < 1e-3);
    }
    const reasons = ro.points.flatMap((p) => p.reasons);
    for (const r of ["init", "first measurement", "end"] as const)
      assert.ok(reasons.includes(r), `${r}: ${reasons}`);
    assert.notEqual(whole.grokStep, null, "the test config should grok");
    assert.ok(reasons.includes("post-grok"), `${reasons}`);
    const init = ro.points[0];
    assert.equal(init.step, 0);
    assert.equal(init.modes, undefined, "no SED basis at init");
    for (const p of ro.points) {
      assert.equal(p.randomModes.length, config.readouts?.randomModes);
      assert.equal(p.centroidPcs.pcs.length, config.readouts?.pcs);
      assert.equal(p.perExample.R.length, config.sed?.k);
      assert.ok(p.perExample.cosMean.every((c) => c >= 0 && c <= 1 + 1e-6));
    }
    const later = ro.points.filter((p) => p.step > 0);
    assert.ok(later.every((p) => p.modes?.update?.length === 3 && p.modes?.gradient?.length === 3));
    // The composition probe on every mode and random direction, fitted on the run's held-out pairs (a·b ≢ 0).
    for (const p of later) {
      const comps = [...(p.modes?.update ?? []), ...(p.modes?.gradient ?? []), ...p.randomModes].map(
        (m) => m.composition,
      );
      assert.equal(comps.length, 6 + (config.readouts?.randomModes ?? 0));
      for (const c of comps) {
        assert.equal(c?.sample, "test");
        assert.ok(c && c.n > 0 && c.full >= c.addMul - 1e-9 && c.full <= 1, JSON.stringify(c));
      }
    }
    const side = config.p; // add: operands 0..p−1
    assert.equal(ro.fields?.update?.length, side * side);
    assert.equal(ro.fields?.step, ro.points[ro.points.length - 1].step);
  });

  it("leaks no tensors, and a run resumed mid-way gives the identical record", async () => {
    const before = tf.memory().numTensors;
    await trainRun(config, opts);
    assert.equal(tf.memory().numTensors, before);
    const ck = fs.mkdtempSync(path.join(tmpRoot, "ck"));
    const withSaves = { ...config, saveEvery: 25 };
    const full = await trainRun(withSaves, opts);
    await assert.rejects(trainRun(withSaves, { recordDir: null, checkpointDir: ck, stopAtStep: 75 }));
    const resumed = await trainRun(withSaves, { recordDir: null, checkpointDir: ck });
    assert.deepEqual(strip(resumed), strip(full));
  });

  it("analysis and figures read the record: one mode row per point × source × direction, stages, verdict rules", () => {
    const ro = whole.readouts as ReadoutResult;
    const withModes = ro.points.filter((p) => p.modes).length;
    const rows = modeRows([whole]);
    assert.equal(rows.length, withModes * 2 * 3);
    assert.deepEqual(
      perExampleRows([whole]).map((r) => r.stage),
      ["init", "mid", "post-grok", "end"],
    );
    assert.equal(pcRows([whole]).length, ro.points.length * 5);
    assert.equal(keyFrequencyRows([whole])[0].grokStep, whole.grokStep);
    assert.ok(readoutCost([whole])[0].share > 0);
    const comp = compositionRows([whole], { shuffles: 3 });
    assert.deepEqual(
      comp.map((r) => r.source),
      ["update", "gradient"],
    );
    assert.ok(comp.every((r) => r.randomGain !== null && r.step === ro.fields?.step));
    // The verdict's rule: F ≥ 0.5 and ≥ 5× the null is a single mode.
    const end = rows.filter((r) => r.stage.includes("end") && r.k === 1 && r.source === "gradient");
    const planted = end.map((r) => ({ ...r, answerF: 0.9, nullF: 0.1 }));
    assert.match(readoutVerdict(planted), /single mode in 1 of 1 runs.*\*Holds\.\*/);
    assert.match(readoutVerdict(end.map((r) => ({ ...r, answerF: 0.9, nullF: 0.5 }))), /Does not hold here/);
    assert.equal(modeFieldHeatmaps(whole).data.length, 2);
    assert.ok(modeSpectra(whole, "end").data.length >= 2);
    assert.equal(keyFrequencyHeatmap(whole).data.length, 1);
    assert.equal(perExampleFigure(perExampleRows([whole])).data.length, 2);
  });

  it("refuses readouts without SED or on a multitask model, naming why", () => {
    assert.throws(() => makeConfig({ readouts: true, sed: false }), /readouts needs the SED diagnostics/);
    assert.throws(() => makeConfig({ readouts: true, tasks: ["add", "mul"] }), /single-task runs/);
    assert.throws(() => makeConfig({ readouts: { pcs: 0 } }), /readouts\.pcs must be a positive integer/);
  });
});
