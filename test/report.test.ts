// The reports index (src/present/report.ts): headlines from records, missing records and notebooks, the HTML.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { makeConfig } from "../src/config/config";
import { multitaskConfigs, sedRunConfigs } from "../src/grids/experiments";
import { entryLine, headlineOf, indexEntries, indexHtml, SECTIONS } from "../src/present/report";
import { runId } from "../src/records/records";
import type { CouplingRecord, SourceSummary } from "../src/records/results";
import type { RunRecord } from "../src/records/schema";
import { trainCommandFor } from "../src/runs/experiments";

function summary(peakRbar: number): SourceSummary {
  return { peakRbar, finalRbar: peakRbar / 2, peakR1: peakRbar, curve: [] } as unknown as SourceSummary;
}

function record(
  config: ReturnType<typeof makeConfig>,
  grokStep: number,
  update = 5,
  gradient = 100,
): RunRecord {
  const coupling: CouplingRecord = { update: summary(update), gradient: summary(gradient) };
  return {
    schema: "sedlab.run",
    schemaVersion: 1,
    id: runId(config),
    config,
    task: config.op ?? "expr",
    backend: "wasm",
    sedlabVersion: "0",
    commit: "x",
    date: "2026-01-01",
    wallSeconds: 1,
    steps: 4000,
    stopReason: "converged",
    metrics: [{ step: 0, loss: 1, trainAcc: 0, testAcc: 0 }],
    grokStep,
    firstTest98Step: null,
    final: { step: 4000, loss: 0, trainAcc: 1, testAcc: 1 },
    ...(config.sed ? { coupling } : {}),
  };
}

const section = (name: string) => {
  const s = SECTIONS.find((x) => x.notebook === name);
  assert.ok(s, name);
  return s;
};

describe("report index", () => {
  const quick = record(makeConfig({ preset: "paper", op: "add", seed: 42 }), 3025);
  const sed = sedRunConfigs("paper").map((c, i) => record(c, 3000, 4 + i, 100 + 10 * i));

  test("quickstart headline: grok step of add seed 42 beside the paper's 3358", () => {
    const h = headlineOf(section("00_quickstart"), new Map([[quick.id, quick]]), "paper");
    assert.equal(h.kind, "ok");
    if (h.kind !== "ok") return;
    assert.match(h.headline.ours, /grok step 3025/);
    assert.match(h.headline.paper, /3358/);
  });

  test("SED headlines: means over the 12 runs, per op, beside the paper", () => {
    const set = new Map(sed.map((r) => [r.id, r]));
    const u = headlineOf(section("01_update_sed"), set, "paper");
    const g = headlineOf(section("02_gradient_sed"), set, "paper");
    assert.equal(u.kind, "ok");
    assert.equal(g.kind, "ok");
    if (u.kind !== "ok" || g.kind !== "ok") return;
    assert.match(u.headline.ours, /R̄ peak 9\.5× \(mean over 12 runs; add 5\.0, sub 8\.0/); // mean of 4..15
    assert.match(u.headline.paper, /≈ 9× \(add\); ≈ 3–3\.5× \(sub, mul, sq_sum\)/);
    assert.match(g.headline.ours, /R̄ peak 155× \(mean over 12 runs; add 110,/);
    assert.match(g.headline.paper, /^100–330×/);
    // Some records missing: the headline says on how many runs it rests.
    const partial = new Map(sed.slice(0, 5).map((r) => [r.id, r]));
    const p = headlineOf(section("01_update_sed"), partial, "paper");
    assert.ok(p.kind === "ok" && /5 of 12 runs/.test(p.headline.ours));
  });

  test("multitask headline: per spacing, the ranges of the three SED sources beside the paper", () => {
    const tasks = ["add", "sub", "mul", "sq_sum"];
    const set = new Map(
      multitaskConfigs("paper").map((config, i) => {
        const per = (base: number) => Object.fromEntries(tasks.map((t, j) => [t, summary(base + j + i)]));
        const r = record(config, 7000);
        r.coupling = {
          tasks,
          update: per(0.5),
          aggregate: per(18),
          perTask: per(20),
        } as unknown as RunRecord["coupling"];
        return [r.id, r];
      }),
    );
    const h = headlineOf(section("03_multitask"), set, "paper");
    assert.equal(h.kind, "ok");
    if (h.kind !== "ok") return;
    // 6 runs: c = 200 (i = 0..2) and c = 25 (i = 3..5); values base + task index + run index.
    assert.match(
      h.headline.ours,
      /^c = 200: update-SED R̄ peak 0\.5–5\.5×, aggregate gradient-SED 18\.0–23\.0×/,
    );
    assert.match(h.headline.ours, /; c = 25: update-SED R̄ peak 3\.5–8\.5×, .* per-task 23\.0–28\.0×$/);
    assert.match(
      h.headline.paper,
      /update-SED ≤ 1×; per-task gradient-SED add 31\.5, sub 44\.9, mul 23\.8, sq_sum 21\.8×/,
    );
    assert.match(h.headline.note ?? "", /6 runs/);
  });

  test("missing records, notebooks and reports show as not available", () => {
    const entries = indexEntries({
      notebooks: ["00_quickstart", "01_update_sed", "07_extra"],
      reports: { "00_quickstart": "ok", "01_update_sed": "failed" },
      records: [],
      preset: "paper",
    });
    const by = new Map(entries.map((e) => [e.notebook, e]));
    const q = by.get("00_quickstart");
    assert.equal(q?.report, "ok");
    assert.equal(q?.headline.kind, "missing");
    if (q?.headline.kind === "missing") {
      assert.deepEqual(q.headline.ids, [runId(makeConfig({ preset: "paper", op: "add", seed: 42 }))]);
    }
    assert.equal(by.get("01_update_sed")?.report, "failed");
    assert.equal(by.get("03_multitask")?.hasNotebook, false);
    assert.equal(by.get("03_multitask")?.headline.kind, "missing");
    // A notebook without a section entry is still listed, after the sections.
    assert.equal(entries.at(-1)?.notebook, "07_extra");
    assert.match(
      entryLine(by.get("03_multitask") as (typeof entries)[number]),
      /not available: no notebook yet/,
    );
    assert.match(entryLine(q as (typeof entries)[number]), /no record add_p97_paper_seed42 /);

    const html = indexHtml(entries, { preset: "paper", date: "2026-01-01", commit: "<c>", records: 0 });
    assert.match(html, /<a href="00_quickstart.html">/);
    assert.match(html, /<a href="01_update_sed.failed.html">/);
    assert.match(html, /not available \(no notebook yet\)/);
    assert.match(html, /&lt;c&gt;/);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "no external resource or link");
  });

  test("a headline that throws something else is an error entry, not a crash", () => {
    const h = headlineOf(
      {
        notebook: "x",
        title: "x",
        headline: () => {
          throw new Error("boom");
        },
      },
      new Map(),
      "paper",
    );
    assert.deepEqual(h, { kind: "error", message: "boom" });
  });
});

describe("cache-only runOrLoad", () => {
  test("trainCommandFor: sedlab train flags where they exist, else a sweep spec", () => {
    assert.equal(
      trainCommandFor(makeConfig({ preset: "paper", op: "add", seed: 42, sed: true })),
      "npx sedlab train --op add --seed 42 --preset paper --sed",
    );
    assert.equal(
      trainCommandFor(makeConfig({ preset: "quick", op: "mul", seed: 7, weightDecay: 0.5 })),
      "npx sedlab train --op mul --seed 7 --preset quick --wd 0.5",
    );
    assert.equal(
      trainCommandFor(makeConfig({ preset: "paper", expr: "a^3 + a*b", seed: 42, readouts: true })),
      'npx sedlab train --expr "a^3 + a*b" --seed 42 --preset paper --sed --readouts',
    );
    const c = trainCommandFor(makeConfig({ preset: "paper", op: "add", seed: 42, sed: { epsRel: 0.05 } }));
    assert.match(c, /^npx sedlab sweep SPEC\.json with SPEC\.json = \{"preset":"paper","ops":\["add"\]/);
    assert.match(c, /"epsRel":0\.05/);
    assert.equal(
      trainCommandFor(
        makeConfig({ preset: "paper", op: "add", seed: 1, intervention: { mode: "keep-random", rank: 10 } }),
      ),
      "npx sedlab train --op add --seed 1 --preset paper --intervention keep-random --rank 10",
    );
    const mt = trainCommandFor(makeConfig({ preset: "paper", tasks: ["add", "mul"], seed: 3, sed: true }));
    assert.match(
      mt,
      /^npx sedlab sweep SPEC\.json with SPEC\.json = \{"preset":"paper","seeds":\[3\],"base":\{"tasks":\["add","mul"\]/,
    );
    assert.doesNotMatch(mt, /undefined/);
  });

  test("SEDLAB_CACHE_ONLY=1: a missing record is an error naming the run and the command", async () => {
    const { runOrLoad } = await import("../src/runs/experiments");
    const prev = { only: process.env.SEDLAB_CACHE_ONLY, data: process.env.SEDLAB_DATA };
    process.env.SEDLAB_CACHE_ONLY = "1";
    process.env.SEDLAB_DATA = "/nonexistent-sedlab-data";
    try {
      const config = makeConfig({ preset: "paper", op: "sub", seed: 99 });
      await assert.rejects(runOrLoad(config), (e: Error) => {
        assert.match(e.message, /SEDLAB_CACHE_ONLY=1: no valid cached record for run sub_p97_paper_seed99 /);
        assert.match(e.message, /npx sedlab train --op sub --seed 99 --preset paper$/);
        return true;
      });
    } finally {
      for (const [k, v] of [
        ["SEDLAB_CACHE_ONLY", prev.only],
        ["SEDLAB_DATA", prev.data],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
