// The figure style lives in one place: figures.ts and multitaskFigures.ts take the palette, grok markers,
// heights and panel grid from style.ts, and every figure carries the default layout (a title and a height).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { driftCurves, interventionRows, speedupTable } from "../src/analysis/interventions";
import * as F from "../src/present/figures";
import * as M from "../src/present/multitaskFigures";
import type { Figure } from "../src/present/nbdisplay";
import {
  grokDot,
  grokMarker,
  HEIGHT,
  MULTITASK_SOURCE_STYLE,
  opColor,
  panelGrid,
  refLine,
  seedColor,
} from "../src/present/style";
import { loadRecord } from "../src/records/records";

const root = fileURLToPath(new URL("..", import.meta.url));
const run = (f: string) => loadRecord(join(root, "data/runs", f));
const add = run("add_p97_paper_seed42_sed.json");
const mul = run("mul_p97_paper_seed42_sed.json");
const ivs = [run("add_p97_paper_seed42_control.json"), run("add_p97_paper_seed42_keep-sed.json")];
const mt = [run("mt-add+sub+mul+sq_sum_p97_paper_seed42_sed.json")];
type Trace = Record<string, unknown> & { marker?: unknown; line?: { color?: string } };
const traces = (f: Figure) => f.data as Trace[];

describe("figure style", () => {
  test("the figure modules write no colour, height, grok marker or grid of their own", () => {
    for (const file of ["figures.ts", "multitaskFigures.ts"]) {
      const src = readFileSync(join(root, "src/present", file), "utf8");
      assert.match(src, /from "\.\/style"/, `${file} imports style.ts`);
      assert.doesNotMatch(src, /"#[0-9a-fA-F]{3,8}"|"(black|white)"/, `${file}: a colour literal`);
      assert.doesNotMatch(src, /\bheight:|\bgrid:|"circle-open"|type: "line"/, `${file}: a layout literal`);
    }
  });

  test("grok markers and palette come from style.ts", () => {
    assert.ok(add.grokStep !== null);
    assert.deepEqual(F.trainingCurves(add).layout?.shapes, grokMarker(add.grokStep, "accent").shapes);
    assert.deepEqual(
      F.spectrumHeatmap(add, "gradient").layout?.annotations,
      grokMarker(add.grokStep).annotations,
    );
    assert.deepEqual(F.trainingCurves({ ...add, grokStep: null }).layout?.shapes, undefined);
    const dot = traces(F.accuracyByOp([add, mul])).find(
      (t) => t.mode === "markers" && t.legendgroup === "mul",
    );
    assert.deepEqual(dot?.marker, grokDot(opColor("mul")));
    const mtDot = traces(M.multitaskAccuracy(mt)).find((t) => t.mode === "markers");
    assert.deepEqual(mtDot?.marker, grokDot(seedColor(0)));
    const colours = new Set(Object.values(MULTITASK_SOURCE_STYLE).map((s) => s.color));
    for (const t of traces(M.multitaskCouplingOverTime(mt))) assert.ok(colours.has(t.line?.color ?? ""));
    assert.deepEqual(M.cancellationFigure(mt).layout?.shapes?.[0], refLine(1 / Math.sqrt(4)));
  });

  test("both modules lay panels out with the one panel grid", () => {
    const g = panelGrid(3, "t");
    assert.deepEqual(g.layout.grid, { rows: 2, columns: 2, pattern: "independent" });
    assert.equal(g.layout.height, HEIGHT.panel * 2 + HEIGHT.panelPad);
    assert.deepEqual(g.axesOf(2), { xaxis: "x3", yaxis: "y3" });
    const ops = F.updateVsGradient([add, mul]).layout as Record<string, unknown>;
    assert.deepEqual(ops.grid, { rows: 1, columns: 2, pattern: "independent" });
    assert.ok(ops.xaxis2 && ops.yaxis2 && !ops.xaxis3);
    const tasks = M.multitaskAccuracy(mt).layout as Record<string, unknown>;
    assert.deepEqual(tasks.grid, { rows: 2, columns: 2, pattern: "independent" });
    assert.equal(tasks.height, HEIGHT.panel * 2 + HEIGHT.panelPad);
    assert.ok(tasks.xaxis4 && tasks.yaxis4);
  });

  test("every figure has the default layout: a title and a height", () => {
    const rows = interventionRows(ivs);
    const figs: Record<string, Figure> = {
      trainingCurves: F.trainingCurves(add),
      testAccuracyOverlay: F.testAccuracyOverlay([add, mul]),
      accuracyByOp: F.accuracyByOp([add, mul]),
      spectrumHeatmap: F.spectrumHeatmap(add, "update"),
      rkOverTime: F.rkOverTime(add, "gradient"),
      updateVsGradient: F.updateVsGradient([add, mul]),
      windowAblationFigure: F.windowAblationFigure([{ W: 5, peakR1: 2 }], { 5: 3 }),
      epsAblationFigure: F.epsAblationFigure([{ eps: 0.1, peakR1: 2 }], { 0.1: 3 }),
      grokStepsByMode: F.grokStepsByMode(rows),
      speedupBars: F.speedupBars(speedupTable(rows)),
      accuracyByMode: F.accuracyByMode(ivs),
      driftFigure: F.driftFigure(driftCurves(ivs)),
      rankFigure: F.rankFigure(rows),
      multitaskAccuracy: M.multitaskAccuracy(mt),
      multitaskCouplingOverTime: M.multitaskCouplingOverTime(mt),
      subspaceAngles: M.subspaceAngles(mt),
      cancellationFigure: M.cancellationFigure(mt),
    };
    const heights = new Set<number>(Object.values(HEIGHT));
    for (const [name, f] of Object.entries(figs)) {
      const l = f.layout ?? {};
      assert.equal(typeof (l.title as { text?: unknown })?.text, "string", `${name}: title`);
      assert.equal(typeof l.height, "number", `${name}: height`);
      if (!l.grid) assert.ok(heights.has(l.height as number), `${name}: height ${l.height} not from HEIGHT`);
    }
  });
});
