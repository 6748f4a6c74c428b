/**
 * Rich display helpers for tslab (TypeScript Jupyter kernel) notebooks.
 *
 * - `showFigure(fig)`   one Plotly figure as a single mime bundle: `application/vnd.plotly.v1+json` (JupyterLab's
 *                       plotly renderer), `text/html` (div + `Plotly.newPlot`, used by nbconvert's HTML export and
 *                       by JupyterLab without the plotly extension) and `text/plain`. The first figure of a kernel
 *                       session is preceded by one `text/html` output that inlines plotly.js (offline, ~4.8 MB).
 * - `showTable(x)`      an escaped `<table class="dataframe">` from a danfojs DataFrame or from plain row objects.
 * - `showMarkdown(md)`  markdown output.
 * - `liveLine()`        a single progress line that updates in place (≤ 4 updates/s).
 *
 * The module is importable outside a kernel (tsx, node): tslab internals are looked up lazily, and outside a kernel
 * every `show*` falls back to printing the `text/plain` representation on stdout. `figureBundle` and `tableHtml`
 * are pure and unit-tested (test/nbdisplay.test.ts).
 *
 * Notebooks in notebooks/ import it as `import { showFigure } from "./src/index";` (notebooks/src -> ../src).
 * Do not use `import.meta` here: tslab compiles this file to CommonJS.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { DataFrame } from "danfojs-node";
import type { Config, Data, Layout } from "plotly.js-dist-min";

export type { Config, Data, Layout };

/** A Plotly figure, the same shape as plotly.py's `fig.to_dict()` (plus config). */
export interface Figure {
  data: Data[];
  layout?: Partial<Layout>;
  config?: Partial<Config>;
}

/** A Jupyter mime bundle: mime type → payload (string, or a JSON value for `*+json` types). */
export type MimeBundle = Record<string, unknown>;

/** The structural subset of a danfojs DataFrame that `showTable` reads. */
export interface DataFrameLike {
  readonly columns: string[];
  readonly index: Array<string | number>;
  readonly values: unknown[];
}

export type TableInput = Record<string, unknown>[] | DataFrame | DataFrameLike;

export interface TableOptions {
  /** Caption shown above the table. */
  caption?: string;
  /** Significant digits of non-integer numbers (default 4). */
  digits?: number;
  /** Show the index column (default: true for DataFrames, false for row objects). */
  index?: boolean;
  /** Rows shown at most; the middle is elided with "…" (default 200). */
  maxRows?: number;
}

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

// ---------------------------------------------------------------------------------------------------------------
// Pure builders
// ---------------------------------------------------------------------------------------------------------------

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** JSON replacer: typed arrays (Float32Array from tfjs `dataSync()`) become plain arrays. */
function plainArrays(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, (v) =>
      typeof v === "bigint" ? Number(v) : v,
    );
  }
  return value;
}

/**
 * JSON safe to embed inside an HTML `<script>` element: every `<` becomes `\u003c` (so neither `</script` nor
 * `<!--` can appear), and U+2028/U+2029 are escaped too.
 */
export function scriptJson(value: unknown): string {
  return (JSON.stringify(value, plainArrays) ?? "null")
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Plain-JSON copy of a figure: typed arrays → arrays, NaN/Infinity → null, undefined members dropped. */
function plainFigure(fig: Figure): { data: unknown[]; layout: unknown; config: unknown } {
  const plain = JSON.parse(JSON.stringify(fig, plainArrays)) as Partial<Figure>;
  return { data: plain.data ?? [], layout: plain.layout ?? {}, config: plain.config ?? {} };
}

/**
 * The mime bundle of one figure. `id` is the DOM id of the figure's div (any string; it is escaped). The html part
 * expects `window.Plotly` to be loaded already (see `plotlyLoaderHtml`) and says so in the div if it is not.
 */
export function figureBundle(fig: Figure, id: string): MimeBundle {
  const plain = plainFigure(fig);
  const html =
    `<div id="${escapeHtml(id)}" class="sedlab-plotly"></div>\n` +
    "<script>(function () {\n" +
    `  var el = document.getElementById(${scriptJson(id)});\n` +
    `  var fig = ${scriptJson(plain)};\n` +
    "  if (!el) return;\n" +
    "  if (!window.Plotly) { el.textContent = 'plotly.js is not loaded (re-run the notebook)'; return; }\n" +
    "  window.Plotly.newPlot(el, fig.data, fig.layout, fig.config);\n" +
    "})();</script>";
  const traces = plain.data.length;
  return {
    [PLOTLY_MIME]: plain,
    "text/html": html,
    "text/plain": `<Plotly figure: ${traces} trace${traces === 1 ? "" : "s"}>`,
  };
}

/** `<script>` that defines `window.Plotly` (once per page) from the given plotly.min.js source. */
export function plotlyLoaderHtml(plotlySource: string): string {
  const safe = plotlySource.replace(/<\/script/gi, "<\\/script");
  return `<script type="text/javascript">if (!window.Plotly) {\n${safe}\n}</script>`;
}

/** Formats one table cell value as text (numbers: `digits` significant digits; integers exactly). */
export function formatValue(v: unknown, digits = 4): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return formatNumber(v, digits);
  if (typeof v === "string") return v;
  if (typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
  try {
    return JSON.stringify(v, plainArrays) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Integers print exactly; other finite numbers get `digits` significant digits, in fixed notation for
 * 1e-4 ≤ |x| < 1e9 (rounded to an integer when it has more integer digits than `digits`) and exponential outside.
 */
export function formatNumber(x: number, digits = 4): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  const d = Math.min(100, Math.max(1, Math.round(digits)));
  const abs = Math.abs(x);
  if (abs < 1e-4 || abs >= 1e9) return x.toExponential(d - 1);
  if (abs >= 10 ** d) return x.toFixed(0);
  return x.toPrecision(d);
}

interface TableModel {
  columns: string[];
  index: string[] | null;
  rows: unknown[][];
}

function isRowArray(input: TableInput): input is Record<string, unknown>[] {
  return Array.isArray(input);
}

function tableModel(input: TableInput, showIndex: boolean | undefined): TableModel {
  if (isRowArray(input)) {
    const columns: string[] = [];
    const seen = new Set<string>();
    for (const row of input) {
      for (const k of Object.keys(row)) {
        if (!seen.has(k)) {
          seen.add(k);
          columns.push(k);
        }
      }
    }
    return {
      columns,
      index: showIndex ? input.map((_, i) => String(i)) : null,
      rows: input.map((row) => columns.map((c) => row[c])),
    };
  }
  const df = input as DataFrameLike;
  const columns = [...df.columns].map(String);
  const values = df.values as unknown[];
  const rows = values.map((r) => (Array.isArray(r) ? r : [r]));
  return { columns, index: showIndex === false ? null : df.index.map(String), rows };
}

/** Elides the middle of `n` rows to at most `max`: the indices to show, with `-1` where "…" goes. */
function visibleRows(n: number, max: number): number[] {
  if (n <= max || max < 2) return Array.from({ length: n }, (_, i) => i);
  const head = Math.ceil(max / 2);
  const tail = max - head;
  return [
    ...Array.from({ length: head }, (_, i) => i),
    -1,
    ...Array.from({ length: tail }, (_, i) => n - tail + i),
  ];
}

/** HTML of a table (pandas-like `<table class="dataframe">`); every cell is escaped. */
export function tableHtml(input: TableInput, opts: TableOptions = {}): string {
  const digits = opts.digits ?? 4;
  const m = tableModel(input, opts.index);
  const out: string[] = ['<table border="1" class="dataframe">'];
  if (opts.caption !== undefined) out.push(`  <caption>${escapeHtml(opts.caption)}</caption>`);
  const headCells = m.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  out.push("  <thead>", `    <tr style="text-align: right;">${m.index ? "<th></th>" : ""}${headCells}</tr>`);
  out.push("  </thead>", "  <tbody>");
  const width = m.columns.length + (m.index ? 1 : 0);
  for (const i of visibleRows(m.rows.length, opts.maxRows ?? 200)) {
    if (i < 0) {
      out.push(`    <tr><td colspan="${width}" style="text-align: center;">…</td></tr>`);
      continue;
    }
    const row = m.rows[i] ?? [];
    const th = m.index ? `<th>${escapeHtml(m.index[i] ?? "")}</th>` : "";
    const tds = m.columns.map((_, j) => `<td>${escapeHtml(formatValue(row[j], digits))}</td>`).join("");
    out.push(`    <tr>${th}${tds}</tr>`);
  }
  out.push("  </tbody>", "</table>");
  const shape = `<p style="font-size: smaller;">${m.rows.length} rows × ${m.columns.length} columns</p>`;
  return `${out.join("\n")}\n${m.rows.length > (opts.maxRows ?? 200) ? shape : ""}`;
}

/** Plain-text rendering of the same table (space-aligned columns), for `text/plain` and non-kernel use. */
export function tableText(input: TableInput, opts: TableOptions = {}): string {
  const digits = opts.digits ?? 4;
  const m = tableModel(input, opts.index);
  const header = [...(m.index ? [""] : []), ...m.columns];
  const lines: string[][] = [header];
  for (const i of visibleRows(m.rows.length, opts.maxRows ?? 200)) {
    if (i < 0) {
      lines.push(header.map(() => "…"));
      continue;
    }
    const row = m.rows[i] ?? [];
    lines.push([
      ...(m.index ? [m.index[i] ?? ""] : []),
      ...m.columns.map((_, j) => formatValue(row[j], digits)),
    ]);
  }
  const widths = header.map((_, j) => Math.max(...lines.map((l) => (l[j] ?? "").length)));
  const body = lines.map((l) =>
    l
      .map((c, j) => c.padStart(widths[j] ?? 0))
      .join("  ")
      .trimEnd(),
  );
  return [...(opts.caption !== undefined ? [opts.caption] : []), ...body].join("\n");
}

// ---------------------------------------------------------------------------------------------------------------
// Kernel side (lazy: nothing here runs at import time)
// ---------------------------------------------------------------------------------------------------------------

interface DisplayData {
  data: MimeBundle;
  metadata: Record<string, unknown>;
  transient: Record<string, unknown>;
}
type WriteDisplayData = (data: DisplayData, update: boolean) => void;

interface TslabDisplay {
  text(s: string): void;
}

/** `require` of the running module (CommonJS under tslab), or one resolving from the cwd (ESM under tsx). */
function nodeRequire(): NodeJS.Require {
  return typeof require === "function"
    ? require
    : createRequire(join(process.cwd(), "__sedlab_nbdisplay__.js"));
}

/**
 * The kernel's `lastWriteDisplayData` (tslab/dist/jupyter, tslab 1.0.22 internal API), or null outside a kernel.
 * Looked up in the module cache, so it never loads tslab (and its zeromq addon) when no kernel has loaded it.
 */
function kernelWriter(): WriteDisplayData | null {
  const cache = nodeRequire().cache;
  for (const [file, mod] of Object.entries(cache)) {
    if (!/[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file)) continue;
    const w = (mod?.exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData;
    if (typeof w === "function") return w as WriteDisplayData;
  }
  return null;
}

/** True when running inside a tslab kernel (a cell is or was executing). */
export function inKernel(): boolean {
  return kernelWriter() !== null;
}

/** Sends one mime bundle as a display_data output; outside a kernel prints its text/plain part. */
export function displayBundle(bundle: MimeBundle): void {
  const write = kernelWriter();
  if (write === null) {
    const plain = bundle["text/plain"];
    console.log(typeof plain === "string" ? plain : JSON.stringify(bundle));
    return;
  }
  write({ data: bundle, metadata: {}, transient: {} }, false);
}

// Process-wide (kernel session) flag; a global survives tslab recompiling this module after an edit.
const PLOTLY_LOADED = Symbol.for("sedlab.nbdisplay.plotlyLoaded");
type FlagHolder = { [PLOTLY_LOADED]?: boolean };

/**
 * Emits plotly.js (inlined) unless this kernel session already did; `force` emits it again (e.g. when the cell
 * holding the first copy was cleared and the notebook will be saved).
 */
export function ensurePlotly(force = false): void {
  const g = globalThis as FlagHolder;
  if (!inKernel() || (g[PLOTLY_LOADED] && !force)) return;
  const src = readFileSync(nodeRequire().resolve("plotly.js-dist-min"), "utf8");
  displayBundle({ "text/html": plotlyLoaderHtml(src) });
  g[PLOTLY_LOADED] = true;
}

let figureCounter = 0;

/** Displays a Plotly figure (see module comment). */
export function showFigure(fig: Figure): void {
  ensurePlotly();
  figureCounter += 1;
  displayBundle(figureBundle(fig, `sedlab-fig-${randomBytes(6).toString("hex")}-${figureCounter}`));
}

/** Displays a table from a danfojs DataFrame (columns/index/values) or from plain row objects. */
export function showTable(input: TableInput, opts: TableOptions = {}): void {
  displayBundle({ "text/html": tableHtml(input, opts), "text/plain": tableText(input, opts) });
}

/** Displays markdown. */
export function showMarkdown(md: string): void {
  displayBundle({ "text/markdown": md, "text/plain": md });
}

export interface LiveLine {
  /** New text for the line; shown at most 4 times a second (intermediate texts may be skipped). */
  update(text: string): void;
  /** Shows the final text (default: the last one passed to `update`). */
  done(text?: string): void;
}

/**
 * A progress line that is updated in place (tslab `newDisplay()`), throttled to ≤ 4 updates/s. Messages leave the
 * kernel only when the event loop gets a turn: in a long loop `await` something now and then (tfjs `data()`, or
 * `await new Promise((r) => setImmediate(r))`). Outside a kernel: `\r`-rewritten line on a TTY, else one line per 5 s.
 */
export function liveLine(minIntervalMs = 250): LiveLine {
  const kernel = inKernel();
  const tty = !kernel && process.stdout.isTTY === true;
  const interval = kernel || tty ? Math.max(250, minIntervalMs) : 5000;
  const disp: TslabDisplay | null = kernel
    ? (nodeRequire()("tslab") as { newDisplay(): TslabDisplay }).newDisplay()
    : null;
  let last = Number.NEGATIVE_INFINITY;
  let latest = "";
  let shown: string | null = null;
  let finished = false;
  const emit = (text: string, final: boolean): void => {
    shown = text;
    if (disp) disp.text(text);
    else if (tty) process.stdout.write(`\r\x1b[K${text}${final ? "\n" : ""}`);
    else console.log(text);
  };
  return {
    update(text: string): void {
      if (finished) return;
      latest = text;
      const now = Date.now();
      if (now - last >= interval) {
        last = now;
        emit(text, false);
      }
    },
    done(text?: string): void {
      if (finished) return;
      finished = true;
      const final = text ?? latest;
      if (shown === null && final === "") return;
      if (final !== shown || tty) emit(final, true);
    },
  };
}
