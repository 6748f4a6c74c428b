import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { makeConfig } from "../src/config/config";
import {
  findRecord,
  loadRecord,
  loadRecords,
  lookupLabel,
  lookupRecord,
  recordPath,
  runId,
  saveRecord,
} from "../src/records/records";
import {
  RECORD_SCHEMA,
  RECORD_VERSION,
  RecordError,
  type RunRecord,
  validateRecord,
} from "../src/records/schema";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-records-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let n = 0;
const freshDir = () => fs.mkdtempSync(path.join(tmpRoot, `d${n++}-`));

function sampleRecord(overrides: Parameters<typeof makeConfig>[0] = {}): RunRecord {
  const config = makeConfig({ preset: "test", seed: 7, ...overrides });
  const metrics = [
    { step: 0, loss: 3.1, trainAcc: 0.05, testAcc: 0.04 },
    { step: 25, loss: 1.2, trainAcc: 0.7, testAcc: 0.55 },
  ];
  return {
    schema: RECORD_SCHEMA,
    schemaVersion: RECORD_VERSION,
    id: runId(config),
    config,
    task: "add",
    backend: "wasm",
    sedlabVersion: "0.1.0",
    commit: "abc123",
    date: "2026-01-01T00:00:00.000Z",
    wallSeconds: 1.5,
    steps: 25,
    stopReason: "maxSteps",
    metrics,
    grokStep: 25,
    firstTest98Step: null,
    final: metrics[1],
  };
}

function writeJson(dir: string, name: string, obj: unknown): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, typeof obj === "string" ? obj : JSON.stringify(obj));
  return p;
}

/** Asserts loadRecord(p) throws a RecordError whose message names the file and matches `re`. */
function assertLoadFails(p: string, re: RegExp) {
  assert.throws(
    () => loadRecord(p),
    (e: unknown) => {
      assert.ok(e instanceof RecordError, `RecordError expected, got ${e}`);
      assert.ok(e.message.includes(p), `message names the file: ${e.message}`);
      assert.match(e.message, re);
      return true;
    },
  );
}

describe("loadRecord", () => {
  it("round-trips a saved record", () => {
    const dir = freshDir();
    const r = sampleRecord();
    const p = saveRecord(r, dir);
    assert.equal(p, recordPath(r.id, dir));
    assert.deepEqual(loadRecord(p), r);
  });

  it("an unreadable path", () => {
    assertLoadFails(path.join(freshDir(), "missing.json"), /cannot read run record/);
    // A directory cannot be read as a file either.
    assertLoadFails(freshDir(), /cannot read run record/);
  });

  it("invalid JSON is corrupt", () => {
    const dir = freshDir();
    assertLoadFails(writeJson(dir, "trunc.json", JSON.stringify(sampleRecord()).slice(0, 50)), /corrupt/);
    assertLoadFails(writeJson(dir, "empty.json", ""), /corrupt/);
  });

  it("not an object", () => {
    const dir = freshDir();
    assertLoadFails(writeJson(dir, "null.json", "null"), /not a JSON object/);
    assertLoadFails(writeJson(dir, "num.json", "42"), /not a JSON object/);
  });

  it("a wrong schema", () => {
    const p = writeJson(freshDir(), "other.json", { ...sampleRecord(), schema: "something.else" });
    assertLoadFails(p, /not a sedlab run record.*something\.else/);
  });

  it("a wrong schemaVersion is incompatible", () => {
    const dir = freshDir();
    for (const v of [RECORD_VERSION + 1, 0, "1"]) {
      const p = writeJson(dir, `v${v}.json`, { ...sampleRecord(), schemaVersion: v });
      assertLoadFails(p, /incompatible/);
    }
  });

  const missing: [string, (r: Record<string, unknown>) => void, RegExp][] = [
    ["id", (r) => delete r.id, /field "id" missing/],
    ["commit", (r) => delete r.commit, /field "commit" missing/],
    [
      "date as a number",
      (r) => {
        r.date = 5;
      },
      /field "date" missing or not a string/,
    ],
    ["steps", (r) => delete r.steps, /field "steps" missing or not a number/],
    [
      "wallSeconds NaN (null in JSON)",
      (r) => {
        r.wallSeconds = Number.NaN;
      },
      /field "wallSeconds"/,
    ],
    ["config", (r) => delete r.config, /field "config" missing/],
    ["config.p", (r) => delete (r.config as Record<string, unknown>).p, /config\.p missing/],
    ["metrics", (r) => delete r.metrics, /field "metrics" missing or empty/],
    [
      "empty metrics",
      (r) => {
        r.metrics = [];
      },
      /field "metrics" missing or empty/,
    ],
    [
      "a metrics entry's testAcc",
      (r) => delete (r.metrics as Record<string, unknown>[])[1].testAcc,
      /metrics entry lacks/,
    ],
    [
      "grokStep as a string",
      (r) => {
        r.grokStep = "25";
      },
      /field "grokStep" must be a number or null/,
    ],
    ["firstTest98Step", (r) => delete r.firstTest98Step, /field "firstTest98Step"/],
  ];
  for (const [label, mutate, re] of missing) {
    it(`rejects a record with bad ${label}`, () => {
      const r = structuredClone(sampleRecord()) as unknown as Record<string, unknown>;
      mutate(r);
      assertLoadFails(writeJson(freshDir(), "bad.json", r), re);
    });
  }

  it("validateRecord accepts a good record and names `where` on failure", () => {
    validateRecord(sampleRecord());
    assert.throws(
      () => validateRecord({ ...sampleRecord(), schema: 1 }, "somewhere.json"),
      /^RecordError: somewhere\.json: /,
    );
  });
});

describe("runId", () => {
  it("is stable and readable", () => {
    const c = makeConfig({ preset: "test", seed: 7 });
    assert.equal(runId(c), "add_p23_test_seed7");
    assert.equal(runId(makeConfig({ preset: "test", seed: 7 })), runId(c));
    // Spelling out a default value does not change the id.
    assert.equal(runId(makeConfig({ preset: "test", seed: 7, lr: 3e-3, op: "add" })), runId(c));
  });

  it("differs when a non-default field changes", () => {
    const base = runId(makeConfig({ preset: "test", seed: 7 }));
    const ids = [
      runId(makeConfig({ preset: "test", seed: 7, lr: 0.01 })),
      runId(makeConfig({ preset: "test", seed: 7, lr: 0.02 })),
      runId(makeConfig({ preset: "test", seed: 7, weightDecay: 0.5 })),
      runId(makeConfig({ preset: "test", seed: 7, copyLayerInit: false })),
      runId(makeConfig({ preset: "test", seed: 7, frac: 0.5 })),
      runId(makeConfig({ preset: "test", seed: 8 })),
      runId(makeConfig({ preset: "test", seed: 7, p: 29 })),
      runId(makeConfig({ preset: "test", seed: 7, op: "mul" })),
      runId(makeConfig({ preset: "quick", seed: 7 })),
    ];
    assert.equal(new Set([base, ...ids]).size, ids.length + 1, ids.join(" "));
    assert.match(ids[0], /^add_p23_test_seed7_[0-9a-f]{8}$/);
    assert.equal(ids[6], "add_p29_test_seed7");
  });

  it("expression ids hash the expression", () => {
    const a = runId(makeConfig({ preset: "test", expr: "a*a + b" }));
    const b = runId(makeConfig({ preset: "test", expr: "a*a - b" }));
    assert.notEqual(a, b);
    assert.match(a, /^expr-a_a\+b_p23_test_seed42_[0-9a-f]{8}$/);
  });

  it("names every committed record as it was named when trained (the hash is stable across implementations)", () => {
    // The records were named with node:crypto's SHA-256; ids.ts hashes with @noble/hashes (it runs in a browser).
    const root = path.join(import.meta.dirname, "..", "data", "runs");
    const files = fs
      .readdirSync(root, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".json"));
    const hashed = files.filter((f) => /_[0-9a-f]{8}\.json$/.test(f));
    assert.ok(hashed.length >= 10, `only ${hashed.length} records with a hashed id under ${root}`);
    for (const f of files) {
      const r = JSON.parse(fs.readFileSync(path.join(root, f), "utf8"));
      assert.equal(runId(r.config), r.id, f);
      assert.equal(`${r.id}.json`, path.basename(f));
    }
  });
});

describe("findRecord / loadRecords", () => {
  it("findRecord returns a valid record, and reports an invalid one (file and reason) instead of using it", () => {
    const dir = freshDir();
    const r = sampleRecord();
    const heard: { path: string; error: string }[] = [];
    const onInvalid = (path: string, error: string) => heard.push({ path, error });
    assert.equal(findRecord(r.config, dir, onInvalid), undefined, "nothing there yet");
    assert.equal(heard.length, 0, "a missing record is not an invalid one");
    saveRecord(r, dir);
    assert.deepEqual(findRecord(r.config, dir, onInvalid), r);
    fs.writeFileSync(recordPath(r.id, dir), "{ corrupt");
    assert.equal(findRecord(r.config, dir, onInvalid), undefined);
    assert.equal(heard.length, 1);
    assert.equal(heard[0].path, recordPath(r.id, dir));
    assert.match(heard[0].error, /corrupt \(not valid JSON/);
    fs.writeFileSync(recordPath(r.id, dir), JSON.stringify({ ...r, schemaVersion: 999 }));
    assert.equal(findRecord(r.config, dir, onInvalid), undefined);
    assert.match(heard[1].error, /incompatible sedlab version \(record schema v999/);
    assert.deepEqual(lookupRecord(r.config, dir).status, "invalid");
    assert.match(lookupLabel(lookupRecord(r.config, dir), r.id), new RegExp(`^${r.id} \\(invalid: .*v999`));
    // A record of another config does not count.
    saveRecord(r, dir, () => {});
    assert.equal(findRecord(makeConfig({ preset: "test", seed: 8 }), dir, onInvalid), undefined);
    assert.equal(heard.length, 2);
  });

  it("segments, when present, must each name their first step, commit and backend", () => {
    const r = sampleRecord();
    validateRecord({ ...r, segments: [{ fromStep: 0, commit: "abc", backend: "wasm" }] });
    validateRecord(r, "a record without segments (written before they existed) stays valid");
    for (const segments of [
      [],
      [{ fromStep: 0, commit: "abc" }],
      "abc",
      [{ fromStep: "0", commit: "a", backend: "b" }],
    ]) {
      assert.throws(() => validateRecord({ ...r, segments }), /field "segments" must be a non-empty list/);
    }
  });

  it("saveRecord moves an invalid file aside (and says so) before writing the new record", () => {
    const dir = freshDir();
    const r = sampleRecord();
    const truncated = JSON.stringify(r).slice(0, 200);
    fs.writeFileSync(recordPath(r.id, dir), truncated);
    const said: string[] = [];
    saveRecord(r, dir, (m) => said.push(m));
    assert.deepEqual(loadRecord(recordPath(r.id, dir)), r, "the new record is in place");
    const aside = fs.readdirSync(dir).filter((f) => f.startsWith(`${r.id}.json.invalid-`));
    assert.equal(aside.length, 1, `one file moved aside, got ${fs.readdirSync(dir).join(", ")}`);
    assert.equal(fs.readFileSync(path.join(dir, aside[0]), "utf8"), truncated, "kept byte for byte");
    assert.equal(said.length, 1);
    assert.match(
      said[0],
      new RegExp(`moved the invalid record .*${r.id}\\.json aside to .*invalid-.*corrupt`),
    );
    // A valid record is simply replaced, silently; the moved-aside file is not a record to loaders.
    saveRecord(r, dir, (m) => said.push(m));
    assert.equal(said.length, 1);
    assert.deepEqual(loadRecords(dir), { records: [r], invalid: [] });
  });

  it("loadRecords lists valid records and invalid files separately", () => {
    const dir = freshDir();
    const r1 = sampleRecord();
    const r2 = sampleRecord({ seed: 8 });
    saveRecord(r1, dir);
    saveRecord(r2, dir);
    const bad = writeJson(dir, "broken.json", "not json");
    const old = writeJson(dir, "old.json", { ...r1, schemaVersion: 0 });
    writeJson(dir, "notes.txt", "ignored: not .json");
    const { records, invalid } = loadRecords(dir);
    assert.deepEqual(
      records.map((r) => r.id),
      [r1.id, r2.id],
    );
    assert.deepEqual(
      invalid.map((i) => i.path),
      [bad, old],
    );
    assert.match(invalid[0].error, /corrupt/);
    assert.match(invalid[1].error, /incompatible/);
  });

  it("loadRecords of a missing folder is empty", () => {
    assert.deepEqual(loadRecords(path.join(freshDir(), "nope")), { records: [], invalid: [] });
  });
});
