// `npm run report`: execute every notebook against the cached run records (scripts/run-notebooks.sh, paper preset,
// SEDLAB_CACHE_ONLY=1 so that nothing trains: a notebook that needs a missing record fails and names it) and write
// reports/index.html linking the reports, each with its headline number beside the paper's (src/present/report.ts).
//
//   npx tsx scripts/report.ts [--preset paper|quick|test] [--out DIR] [--index-only]
//
//   --preset P     notebook preset (default paper: every run comes from data/runs)
//   --out DIR      reports folder (default reports/)
//   --index-only   do not execute the notebooks; only rewrite DIR/index.html from the reports already there
//
// Exit status: that of run-notebooks.sh (1 if a notebook failed); the index is written either way and marks failed
// or missing sections. The library is loaded only after the notebooks ran, so a broken import cannot stop them.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const USAGE = "usage: npx tsx scripts/report.ts [--preset paper|quick|test] [--out DIR] [--index-only]";

async function main(): Promise<number> {
  let values: { preset?: string; out?: string; "index-only"?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        preset: { type: "string", default: "paper" },
        out: { type: "string", default: "reports" },
        "index-only": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    console.error(`report: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const preset = values.preset ?? "paper";
  if (!["paper", "quick", "test"].includes(preset)) {
    console.error(`report: --preset must be paper, quick or test (got "${preset}")`);
    return 2;
  }
  const out = resolve(values.out ?? "reports");
  const t0 = Date.now();

  let rc = 0;
  if (!values["index-only"]) {
    const run = spawnSync(
      "bash",
      [join(ROOT, "scripts/run-notebooks.sh"), "--preset", preset, "--out", out],
      {
        stdio: "inherit",
        env: { ...process.env, SEDLAB_CACHE_ONLY: "1" },
      },
    );
    rc = run.status ?? 1;
  }

  const { runsDir } = await import("../src/util/paths");
  const { gitCommit } = await import("../src/util/provenance");
  const { loadRecords } = await import("../src/records/records");
  const { ATTENTION_CONTROL_GRIDS } = await import("../src/grids/experiments");
  const { gridOutDir, loadGrid } = await import("../src/grids/load");
  type RunRecord = import("../src/records/schema").RunRecord;
  const { entryLine, indexEntries, indexHtml } = await import("../src/present/report");
  type ReportStatus = import("../src/present/report").ReportStatus;
  type PresetName = import("../src/config/config").PresetName;

  const nbDir = join(ROOT, "notebooks");
  const notebooks = existsSync(nbDir)
    ? readdirSync(nbDir)
        .filter((f) => f.endsWith(".ipynb") && !f.endsWith(".failed.ipynb"))
        .map((f) => f.slice(0, -".ipynb".length))
    : [];
  mkdirSync(out, { recursive: true });
  const reports: Record<string, ReportStatus> = {};
  for (const f of readdirSync(out)) {
    if (f === "index.html" || !f.endsWith(".html")) continue;
    if (f.endsWith(".failed.html")) reports[f.slice(0, -".failed.html".length)] ??= "failed";
    else reports[f.slice(0, -".html".length)] = "ok";
  }
  const { records, invalid } = loadRecords(runsDir());
  // Grids that keep their records in a folder of their own (attention-controls).
  const gridRecords: Record<string, RunRecord[]> = {};
  for (const g of ATTENTION_CONTROL_GRIDS) {
    const dir = gridOutDir(loadGrid(g));
    if (dir === runsDir()) continue;
    const got = loadRecords(dir);
    gridRecords[g] = got.records;
    invalid.push(...got.invalid);
  }
  for (const bad of invalid) console.warn(`report: skipping invalid record ${bad.path}: ${bad.error}`);
  const entries = indexEntries({ notebooks, reports, records, gridRecords, preset: preset as PresetName });
  const index = join(out, "index.html");
  writeFileSync(
    index,
    indexHtml(entries, {
      preset: preset as PresetName,
      date: new Date().toISOString().slice(0, 16).replace("T", " "),
      commit: gitCommit(),
      records: records.length,
    }),
  );
  console.log(`\nreport: ${index} (${preset} preset, ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  for (const e of entries) console.log(`  ${entryLine(e)}`);
  return rc;
}

process.exitCode = await main();
