// The explorer's run driver (src/runs/liveSession.ts) in Node: the same record as `trainRun`, the events a live
// view draws, and Pause/Resume and Stop. The browser test (test/browser/explorer.test.ts) runs it in a Worker.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { makeConfig } from "../src/config/config";
import type { RunRecord } from "../src/records/schema";
import { initBackend } from "../src/runs/backend";
import { activeBlas } from "../src/runs/blas";
import { type LiveEvent, LiveSession } from "../src/runs/liveSession";
import { trainRun } from "../src/runs/trainRun";
import { comparable } from "./helpers";

// lr 1e-2 and frac 0.9 grok at the test preset (step ~150), so the curves have something to show.
const config = makeConfig({ preset: "test", seed: 3, lr: 1e-2, frac: 0.9, maxSteps: 200, sed: true });
const env = {
  backend: "wasm",
  sedlabVersion: "0.0.0-test",
  commit: "test-commit",
  // Asked when a session starts: the record names the BLAS that ran, as trainRun's does.
  get blas() {
    return activeBlas();
  },
};

async function session(pauseAt?: number): Promise<{ events: LiveEvent[]; s: LiveSession }> {
  const events: LiveEvent[] = [];
  const s = new LiveSession(config, env, (e) => {
    events.push(e);
    if (pauseAt !== undefined && e.type === "eval" && e.metric.step === pauseAt) s.pause();
  });
  await s.run();
  return { events, s };
}

const recordOf = (events: LiveEvent[]): RunRecord => {
  const done = events.find((e) => e.type === "done");
  assert.ok(done && done.type === "done", `no done event: ${events.map((e) => e.type).join(" ")}`);
  return done.record;
};

before(async () => {
  await initBackend();
});

describe("LiveSession", () => {
  let reference: RunRecord;

  it("trains the record `sedlab train` would, sending every eval, each SED measurement and progress", async () => {
    const tensors = tf.memory().numTensors;
    const { events, s } = await session();
    assert.equal(s.state, "done");
    const record = recordOf(events);
    const node = await trainRun(config, { recordDir: null, checkpointDir: null, commit: () => env.commit });
    // Only the package version (and so the segments) differ.
    assert.deepEqual(
      comparable(record, "sedlabVersion", "segments"),
      comparable(node, "sedlabVersion", "segments"),
    );
    assert.equal(record.id, node.id);
    assert.equal(record.commit, "test-commit");
    assert.equal(record.backend, "wasm");
    const evals = events.flatMap((e) => (e.type === "eval" ? [e.metric] : []));
    assert.deepEqual(evals, record.metrics, "one eval event per metrics entry, in order");
    const couplings = events.flatMap((e) => (e.type === "coupling" ? [e.coupling] : []));
    const nMeasured =
      record.coupling && "gradient" in record.coupling ? record.coupling.gradient.curve.length : 0;
    assert.ok(nMeasured >= 2, `only ${nMeasured} SED measurements`);
    assert.equal(couplings.length, nMeasured, "one coupling event per measurement");
    assert.deepEqual(couplings.at(-1), record.coupling, "the last one is the record's");
    const progress = events.filter((e) => e.type === "progress");
    assert.ok(progress.length >= 2);
    const last = progress.at(-1);
    assert.ok(last?.type === "progress" && last.step === record.steps && last.msPerStep > 0);
    assert.equal(tf.memory().numTensors, tensors, "tensors stay flat");
    reference = record;
  });

  it("Pause then Resume ends with the uninterrupted run's record", async () => {
    const { events, s } = await session(75);
    assert.equal(s.state, "paused");
    const paused = events.at(-1);
    assert.deepEqual(paused, { type: "paused", step: 75 });
    assert.ok(!events.some((e) => e.type === "done"));
    await s.run();
    assert.equal(s.state, "done");
    const record = recordOf(events);
    assert.deepEqual(comparable(record), comparable(reference));
    assert.equal(record.segments?.length, 1, "one segment: same code, same backend");
    const steps = events.flatMap((e) => (e.type === "eval" ? [e.metric.step] : []));
    assert.deepEqual(
      steps,
      reference.metrics.map((m) => m.step),
      "no eval sent twice or lost across the pause",
    );
  });

  it("Stop ends the run without a record, and it cannot be resumed", async () => {
    const events: LiveEvent[] = [];
    const s = new LiveSession(config, env, (e) => {
      events.push(e);
      if (e.type === "eval" && e.metric.step === 50) s.stop();
    });
    await s.run();
    assert.equal(s.state, "stopped");
    assert.deepEqual(events.at(-1), { type: "stopped", step: 50 });
    await assert.rejects(s.run(), /has ended; start a new one/);
  });

  it("a run that fails says why in an error event", async () => {
    const events: LiveEvent[] = [];
    const diverging = makeConfig({ preset: "test", seed: 3, lr: 1e6, maxSteps: 50 });
    const s = new LiveSession(diverging, env, (e) => events.push(e));
    await s.run();
    assert.equal(s.state, "failed");
    const err = events.at(-1);
    assert.ok(err?.type === "error" && /diverged/.test(err.message), JSON.stringify(err));
  });
});
