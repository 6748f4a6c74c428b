// The reports index (reports/index.html): one entry per notebook section, each with its headline number beside the
// paper's, computed from run records. Pure: records and file listings in, text and HTML out (scripts/report.ts does
// the I/O). Analysis comes from analysis.ts and the paper's numbers from paper.ts; nothing is recomputed here.

import { controlRows, controlTable } from "../analysis/attentionControls";
import { interventionRows, speedupTable } from "../analysis/interventions";
import { multitaskPeakRows } from "../analysis/multitask";
import { PAPER, PAPER_MULTITASK } from "../analysis/paper";
import { modeRows, perExampleRows } from "../analysis/readouts";
import { byOp, meanSd, type PeakRow, peakRows } from "../analysis/sed";
import { makeConfig, type PresetName, type TrainConfig } from "../config/config";
import {
  ATTENTION_CONTROL_GRIDS,
  attentionControlConfigs,
  INTERVENTION_GRIDS,
  MULTITASK,
  multitaskConfigs,
  READOUTS,
  readoutConfigs,
  SED_MAIN,
  sedRunConfigs,
  sweepCommandFor,
} from "../grids/experiments";
import { gridRuns } from "../grids/load";
import { runId } from "../records/records";
import type { RunRecord } from "../records/schema";
import { escapeHtml } from "./nbdisplay";

/** A section's headline: our number, the paper's, and a note (e.g. how many runs it rests on). */
export interface Headline {
  ours: string;
  paper: string;
  note?: string;
}

/** Records by id, for the headline functions to pick from. */
export type RecordSet = ReadonlyMap<string, RunRecord>;

export function recordSet(records: readonly RunRecord[]): RecordSet {
  return new Map(records.map((r) => [r.id, r]));
}

/** Thrown by a headline whose records are not cached: `ids` are the run ids, `hint` the command that makes them. */
export class MissingRecords extends Error {
  constructor(
    readonly ids: string[],
    readonly hint: string,
  ) {
    super(`missing run records: ${ids.join(", ")} (${hint})`);
    this.name = "MissingRecords";
  }
}

/** The records of `configs` that exist; throws MissingRecords when none does. */
export function pick(set: RecordSet, configs: readonly TrainConfig[], hint: string): RunRecord[] {
  const found: RunRecord[] = [];
  const missing: string[] = [];
  for (const c of configs) {
    const r = set.get(runId(c));
    if (r) found.push(r);
    else missing.push(runId(c));
  }
  if (found.length === 0) throw new MissingRecords(missing, hint);
  return found;
}

export interface ReportSection {
  /** File stem of the notebook in notebooks/ and of its report in reports/, e.g. "00_quickstart". */
  notebook: string;
  title: string;
  /**
   * The headline from the cached records at `preset` (`grids`: the records of grids kept in a folder of their
   * own, by grid name); throws MissingRecords when they are not there.
   */
  headline?: (set: RecordSet, preset: PresetName, grids: GridSets) => Headline;
}

/** Records of the grids whose `out` is a folder of their own (e.g. attention-controls), by grid name. */
export type GridSets = ReadonlyMap<string, RecordSet>;

const num = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "—");

/** "n of N runs" when some of the expected records are missing. */
function coverage(found: number, expected: number): string {
  return found === expected ? `${found} runs` : `${found} of ${expected} runs (others not cached)`;
}

/** Paper values grouped by text: "≈ 9× (add); ≈ 3–3.5× (sub, mul, sq_sum)". */
function groupedPaperText(byOpText: Record<string, string>, ops: readonly string[]): string {
  const groups = new Map<string, string[]>();
  for (const op of ops) {
    const t = byOpText[op];
    if (t !== undefined) groups.set(t, [...(groups.get(t) ?? []), op]);
  }
  return [...groups.entries()].map(([t, os]) => `${t}× (${os.join(", ")})`).join("; ");
}

/** Per-op means of one column of the peak rows, e.g. "add 7.2, sub 7.8". */
function perOpMeans(rows: PeakRow[], col: "updatePeak" | "gradientPeak", digits: number): string {
  return [...byOp(rows)]
    .map(([op, rs]) => `${op} ${num(meanSd(rs.map((r) => r[col])).mean, digits)}`)
    .join(", ");
}

function quickstartHeadline(set: RecordSet, preset: PresetName): Headline {
  const config = makeConfig({ preset, op: "add", seed: 42 });
  const [r] = pick(set, [config], `npx sedlab train --op add --seed 42 --preset ${preset}`);
  const paper = PAPER.grokStep.add;
  return {
    ours: `grok step ${r?.grokStep ?? "none (did not grok)"} (add, seed 42)`,
    paper: paper !== undefined ? `${paper} (add, mean of seeds 42, 137, 2024)` : "—",
    note:
      preset === "paper" ? undefined : `ours at the ${preset} preset; the paper's setup is the paper preset`,
  };
}

function updateSedHeadline(set: RecordSet, preset: PresetName): Headline {
  const configs = sedRunConfigs(preset);
  const rows = peakRows(pick(set, configs, sweepCommandFor(SED_MAIN)));
  const m = meanSd(rows.map((r) => r.updatePeak));
  const paper = groupedPaperText(PAPER.updatePeakText, [...byOp(rows).keys()]);
  return {
    ours: `update-SED R̄ peak ${num(m.mean)}× (mean over ${coverage(rows.length, configs.length)}; ${perOpMeans(rows, "updatePeak", 1)})`,
    paper: paper || "—",
  };
}

function gradientSedHeadline(set: RecordSet, preset: PresetName): Headline {
  const configs = sedRunConfigs(preset);
  const rows = peakRows(pick(set, configs, sweepCommandFor(SED_MAIN)));
  const m = meanSd(rows.map((r) => r.gradientPeak));
  const gains = rows.map((r) => r.gain).filter((g): g is number => g !== null && Number.isFinite(g));
  const [lo, hi] = PAPER.gradientPeakRange;
  const perSeed = Object.entries(PAPER.gradientPeakPerSeed)
    .map(([op, bySeed]) => `${op}: ${Object.values(bySeed).join(", ")}`)
    .join("; ");
  return {
    ours: `gradient-SED R̄ peak ${num(m.mean, 0)}× (mean over ${coverage(rows.length, configs.length)}; ${perOpMeans(rows, "gradientPeak", 0)})`,
    paper: `${lo}–${hi}×${perSeed ? ` (${perSeed})` : ""}`,
    note: gains.length
      ? `gradient / update peak ratio ${num(Math.min(...gains))}–${num(Math.max(...gains))}×`
      : undefined,
  };
}

function interventionsHeadline(set: RecordSet, preset: PresetName): Headline {
  const hint = sweepCommandFor(INTERVENTION_GRIDS[0]);
  const all = [...set.values()].filter((r) => r.config.preset === preset && r.task === "add");
  // Control comes from the plain runs (as in notebook 04), not from the explicit control runs that check them.
  const iv = all.filter(
    (r) => r.config.intervention?.projection === "gradient" && r.config.intervention.mode !== "control",
  );
  if (iv.length === 0) {
    const wanted = gridRuns(INTERVENTION_GRIDS[0], { preset }).filter((r) => r.config.op === "add");
    throw new MissingRecords(
      wanted.map((r) => r.id),
      hint,
    );
  }
  const controls = pick(set, sedRunConfigs(preset, { ops: ["add"] }), sweepCommandFor(SED_MAIN));
  const rows = interventionRows([...controls, ...iv]);
  const table = speedupTable(rows);
  // The speed-ups rest on the rank-3, weight-decay-1 runs only (the ablations are other arms).
  const used = rows.filter((r) => r.mode !== "control" && r.rank === 3 && r.weightDecay === 1).length;
  const sp = (mode: string) => {
    const r = table.find((t) => t.projection === "gradient" && t.mode === mode);
    return r?.speedup ? `${r.speedup.toFixed(2)}×` : "—";
  };
  const paper = PAPER.interventions.gradient.add;
  return {
    ours: `add, gradient projection: keep-SED ${sp("keep-sed")}, keep-random ${sp("keep-random")}, remove-SED ${sp("remove-sed")}, remove-random ${sp("remove-random")}`,
    paper: `keep-SED ${paper["keep-sed"].speedup.toFixed(2)}×, keep-random ${paper["keep-random"].speedup.toFixed(2)}×, remove-SED ${paper["remove-sed"].speedup.toFixed(2)}×, remove-random ${paper["remove-random"].speedup.toFixed(2)}×`,
    note: `speed-up = control's mean grok step ÷ the mode's, over ${used} intervention runs on add (rank 3, weight decay 1) and ${controls.length} controls`,
  };
}

function attentionControlsHeadline(_set: RecordSet, preset: PresetName, grids: GridSets): Headline {
  const { configs } = attentionControlConfigs(preset);
  const hint = ATTENTION_CONTROL_GRIDS.map(sweepCommandFor).join(" && ");
  const pool: RecordSet = new Map(
    ATTENTION_CONTROL_GRIDS.flatMap((g) => [...(grids.get(g) ?? new Map<string, RunRecord>())]),
  );
  const records = pick(pool, configs, hint);
  const table = controlTable(controlRows(records));
  const sp = (op: string, c: string) => {
    const r = table.find((t) => t.op === op && t.condition === c);
    return r?.speedup ? `${r.speedup.toFixed(2)}×` : "—";
  };
  const ops = [...new Set(table.map((t) => t.op))].filter((op) => op === "add" || op === "mul");
  return {
    ours: ops
      .map(
        (op) =>
          `${op}: freeze attention ${sp(op, "freeze attention")}, at init ${sp(op, "freeze attention at init")}, zero gradient ${sp(op, "zero attention gradient")}, Grokfast ${sp(op, "Grokfast (all)")}`,
      )
      .join("; "),
    paper: "— (new: controls the paper does not run; its keep-random is 2.36× on add)",
    note: `speed-up = control's mean grok step ÷ the arm's, control trained beside them; ${coverage(records.length, configs.length)}`,
  };
}

function readoutsHeadline(set: RecordSet, preset: PresetName): Headline {
  const configs = readoutConfigs(preset);
  const records = pick(set, configs, sweepCommandFor(READOUTS));
  const rows = modeRows(records).filter(
    (r) => r.stage.includes("end") && r.k === 1 && r.source === "gradient",
  );
  const fOf = (op: string, log = false) => {
    const v = rows
      .filter((r) => r.op === op)
      .map((r) => (log ? r.logF : r.answerF))
      .filter((x): x is number => x !== null);
    return v.length ? `${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)}` : "—";
  };
  const pe = perExampleRows(records);
  const r1 = (stage: string) => {
    const v = pe.filter((r) => r.stage === stage).map((r) => r.R[0]);
    return v.length ? `${num(Math.min(...v), 0)}–${num(Math.max(...v), 0)}` : "—";
  };
  return {
    ours: `top gradient-SED direction at the end, F by answer: add ${fOf("add")}, mul ${fOf("mul")} (log basis ${fOf("mul", true)}); per-example R_1 init ${r1("init")}, mid ${r1("mid")}, post-grok ${r1("post-grok")}`,
    paper: `add one mode (ω ≈ 25–26); mul ω = 29 in the log basis, 5.9×; per-example R_k 27, 92, 431`,
    note: coverage(records.length, configs.length),
  };
}

function multitaskHeadline(set: RecordSet, preset: PresetName): Headline {
  const configs = multitaskConfigs(preset);
  const records = pick(set, configs, sweepCommandFor(MULTITASK));
  const rows = multitaskPeakRows(records);
  const range = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
    return v.length ? `${num(Math.min(...v))}–${num(Math.max(...v))}` : "—";
  };
  const spacings = [...new Set(rows.map((r) => r.spacing))].sort((a, b) => b - a);
  const ours = spacings
    .map((c) => {
      const rs = rows.filter((r) => r.spacing === c);
      return `c = ${c}: update-SED R̄ peak ${range(rs.map((r) => r.updatePeak))}×, aggregate gradient-SED ${range(rs.map((r) => r.aggregatePeak))}×, per-task ${range(rs.map((r) => r.perTaskPeak))}×`;
    })
    .join("; ");
  const perTask = Object.entries(PAPER_MULTITASK.perTaskPeakRbar)
    .map(([t, v]) => `${t} ${v}`)
    .join(", ");
  return {
    ours,
    paper: `update-SED ≤ ${PAPER_MULTITASK.updateRbarMax}×; per-task gradient-SED ${perTask}×; aggregate not reported`,
    note: `ranges over tasks and seeds; ${coverage(records.length, configs.length)}`,
  };
}

function newOperationsHeadline(set: RecordSet): Headline {
  // The author's extra operations: the expressions of experiments/new-operations.json (at its quick preset).
  const configs = gridRuns("new-operations")
    .map((r) => r.config)
    .filter((c) => c.expr !== undefined);
  const rows = peakRows(pick(set, configs, "npx sedlab sweep experiments/new-operations.json"));
  return {
    ours: rows
      .map(
        (r) =>
          `${r.op}: grok step ${r.grokStep ?? "none"}, gradient/update R̄ peak ${num(r.gain ?? Number.NaN)}×`,
      )
      .join("; "),
    paper: "— (new: the author's extra operations, not in the paper)",
    note: "quick preset (train fraction 0.8), seed 42",
  };
}

/**
 * The report sections, in order. A new notebook gets one entry here (a headline is optional); notebooks in
 * notebooks/ without an entry are still listed, after these.
 */
export const SECTIONS: readonly ReportSection[] = [
  { notebook: "00_quickstart", title: "Quickstart: grokking on a + b mod 97", headline: quickstartHeadline },
  {
    notebook: "01_update_sed",
    title: "Update-SED coupling to the linear centroids",
    headline: updateSedHeadline,
  },
  {
    notebook: "02_gradient_sed",
    title: "Gradient-SED vs update-SED coupling",
    headline: gradientSedHeadline,
  },
  { notebook: "03_multitask", title: "Multitask models", headline: multitaskHeadline },
  { notebook: "04_interventions", title: "Interventions", headline: interventionsHeadline },
  { notebook: "05_new_operations", title: "New operations", headline: newOperationsHeadline },
  {
    notebook: "06_functional_modes",
    title: "What the SED directions are: functional modes, Fourier readouts, per-example gradients",
    headline: readoutsHeadline,
  },
  {
    notebook: "07_attention_controls",
    title: "Why rank-3 confinement speeds grokking: attention controls",
    headline: attentionControlsHeadline,
  },
];

export type ReportStatus = "ok" | "failed" | "missing";

export type HeadlineResult =
  | { kind: "ok"; headline: Headline }
  | { kind: "missing"; ids: string[]; hint: string }
  | { kind: "error"; message: string }
  | { kind: "none" };

export interface IndexEntry {
  notebook: string;
  title: string;
  hasNotebook: boolean;
  /** ok: reports/NAME.html; failed: only reports/NAME.failed.html; missing: neither. */
  report: ReportStatus;
  headline: HeadlineResult;
}

/** A section's headline, with missing records and errors as values (the index shows them instead of failing). */
export function headlineOf(
  section: ReportSection,
  set: RecordSet,
  preset: PresetName,
  grids: GridSets = new Map(),
): HeadlineResult {
  if (!section.headline) return { kind: "none" };
  try {
    return { kind: "ok", headline: section.headline(set, preset, grids) };
  } catch (e) {
    if (e instanceof MissingRecords) return { kind: "missing", ids: e.ids, hint: e.hint };
    return { kind: "error", message: (e as Error).message };
  }
}

/**
 * The index entries: `sections` first, then any notebook or report not among them (title = its name).
 * `notebooks`: stems of notebooks/*.ipynb; `reports`: stem → status of the files in the reports folder.
 */
export function indexEntries(opts: {
  sections?: readonly ReportSection[];
  notebooks: readonly string[];
  reports: Readonly<Record<string, ReportStatus>>;
  records: readonly RunRecord[];
  /** Records of grids kept in their own folder, by grid name. */
  gridRecords?: Readonly<Record<string, readonly RunRecord[]>>;
  preset: PresetName;
}): IndexEntry[] {
  const sections = [...(opts.sections ?? SECTIONS)];
  const known = new Set(sections.map((s) => s.notebook));
  const extra = [...new Set([...opts.notebooks, ...Object.keys(opts.reports)])]
    .filter((n) => !known.has(n))
    .sort();
  for (const n of extra) sections.push({ notebook: n, title: n });
  const set = recordSet(opts.records);
  const grids: GridSets = new Map(
    Object.entries(opts.gridRecords ?? {}).map(([g, rs]) => [g, recordSet(rs)] as const),
  );
  return sections.map((s) => ({
    notebook: s.notebook,
    title: s.title,
    hasNotebook: opts.notebooks.includes(s.notebook),
    report: opts.reports[s.notebook] ?? "missing",
    headline: headlineOf(s, set, opts.preset, grids),
  }));
}

/** One plain-text line per entry (the script prints them). */
export function entryLine(e: IndexEntry): string {
  const status =
    e.report === "ok"
      ? ""
      : e.report === "failed"
        ? " [notebook FAILED]"
        : ` [not available: ${e.hasNotebook ? "no report" : "no notebook yet"}]`;
  const h = e.headline;
  const text =
    h.kind === "ok"
      ? `${h.headline.ours} | paper: ${h.headline.paper}${h.headline.note ? ` | ${h.headline.note}` : ""}`
      : h.kind === "missing"
        ? `headline not available: no record ${h.ids.join(", ")} (${h.hint})`
        : h.kind === "error"
          ? `headline error: ${h.message}`
          : "no headline";
  return `${e.notebook}${status}: ${text}`;
}

const STYLE = `
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.5rem 0.6rem; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; }
.na { color: #888; }
.failed { color: #b00020; font-weight: bold; }
.note { color: #555; font-size: smaller; }
code { font-size: 90%; }`;

/** reports/index.html: self-contained (inline CSS, no script, no external resource). */
export function indexHtml(
  entries: readonly IndexEntry[],
  meta: { preset: PresetName; date: string; commit: string; records: number },
): string {
  const e = escapeHtml;
  const rows = entries.map((x) => {
    const link =
      x.report === "ok"
        ? `<a href="${e(x.notebook)}.html">${e(x.title)}</a>`
        : x.report === "failed"
          ? `<a href="${e(x.notebook)}.failed.html">${e(x.title)}</a> <span class="failed">notebook failed (partial report)</span>`
          : `${e(x.title)} <span class="na">not available${x.hasNotebook ? " (not run)" : " (no notebook yet)"}</span>`;
    const h = x.headline;
    const [ours, paper] =
      h.kind === "ok"
        ? [
            `${e(h.headline.ours)}${h.headline.note ? `<div class="note">${e(h.headline.note)}</div>` : ""}`,
            e(h.headline.paper),
          ]
        : h.kind === "missing"
          ? [
              `<span class="na">not available: no record ${e(h.ids.join(", "))}</span><div class="note">make it with <code>${e(h.hint)}</code></div>`,
              "",
            ]
          : h.kind === "error"
            ? [`<span class="failed">headline error: ${e(h.message)}</span>`, ""]
            : [
                `<span class="na">${x.report === "ok" ? "no headline yet (see the report)" : "not available"}</span>`,
                "",
              ];
    return `<tr><td><code>${e(x.notebook)}</code><br>${link}</td><td>${ours}</td><td>${paper}</td></tr>`;
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sedlab reports</title>
<style>${STYLE}
</style>
</head>
<body>
<h1>sedlab reports</h1>
<p>Reproducing Xu (2026), <em>Gradient Direction Sensitivity Reveals Linear Centroid Coupling Hidden by Optimizer
Trajectories</em> (arXiv 2604.25143). Notebooks executed at the <code>${e(meta.preset)}</code> preset from the cached
run records (${meta.records} in <code>data/runs/</code>); commit <code>${e(meta.commit)}</code>, ${e(meta.date)}.
Each report is a single HTML file that opens offline.</p>
<table>
<thead><tr><th>section</th><th>our headline</th><th>paper</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>
</body>
</html>
`;
}
