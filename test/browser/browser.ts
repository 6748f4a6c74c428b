// Shared by the browser tests: headless Chromium (Debian's /usr/bin/chromium via playwright-core) and the Plotly
// checks that the reports test and the Jupyter UI test both make.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { inCI } from "../helpers";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Chromium binary: `SEDLAB_CHROMIUM`, else Debian's (`apt-get install chromium`; scripts/setup.sh does it as root). */
export const CHROMIUM = process.env.SEDLAB_CHROMIUM ?? "/usr/bin/chromium";

/** The recipe's flags (../shared/recipes/jupyter-tslab.md §5): offline, no first-run or background traffic. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** Why the browser tests cannot run here (Chromium is absent), or null when they can. */
export function chromiumMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  return (
    `no Chromium at ${CHROMIUM}, so the browser tests cannot run. Install it (Debian: ` +
    "`apt-get install chromium`, or as root `bash scripts/setup.sh`) or point SEDLAB_CHROMIUM at one."
  );
}

/**
 * The `skip` option for tests that need what `absent` says is missing (null: nothing is). Outside CI they skip
 * saying why (and it is printed); under CI nothing may skip: they run, and must fail through `requirePresent`.
 */
export function skipWhenAbsent(absent: string | null): string | false {
  if (absent === null || inCI()) return false;
  console.warn(`\n*** SKIPPED: ${absent}\n`);
  return `SKIPPED: ${absent}`;
}

/** Throws when something the test needs is absent (only reached under CI, where skipWhenAbsent does not skip). */
export function requirePresent(absent: string | null): void {
  if (absent !== null) throw new Error(`${absent} (CI is set, so this fails instead of skipping)`);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** reports/screenshots/ (created), where every browser test leaves its PNG (a CI artifact). */
export function screenshotsDir(reports = join(REPO, "reports")): string {
  const dir = join(reports, "screenshots");
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface FigureStatus {
  id: string;
  /** The div became a Plotly graph (Plotly.newPlot ran on it). */
  plotted: boolean;
  /** Traces in the figure's data. */
  dataTraces: number;
  /** Rendered trace elements (scatter/bar/box/violin traces, heatmap and contour layers, images). */
  renderedTraces: number;
  width: number;
  height: number;
  /** Text shown instead of a figure (e.g. "plotly.js is not loaded"). */
  text: string;
}

const TRACE_SELECTOR = [
  ".scatterlayer .trace",
  ".barlayer .trace",
  ".boxlayer .trace",
  ".violinlayer .trace",
  ".heatmaplayer .hm",
  ".contourlayer .contour",
  ".imagelayer .im",
  ".pielayer .trace",
].join(", ");

/** Every sedlab figure div on the page (src/present/nbdisplay.ts: `div.sedlab-plotly`) and what Plotly drew in it. */
export function figureStatus(page: Page): Promise<FigureStatus[]> {
  return page.evaluate((sel) => {
    return Array.from(document.querySelectorAll<HTMLElement>(".sedlab-plotly")).map((el) => {
      const gd = el as HTMLElement & { data?: unknown[] };
      const box = el.getBoundingClientRect();
      return {
        id: el.id,
        plotted: el.classList.contains("js-plotly-plot") && el.querySelector("svg.main-svg") !== null,
        dataTraces: Array.isArray(gd.data) ? gd.data.length : 0,
        renderedTraces: el.querySelectorAll(sel).length,
        width: Math.round(box.width),
        height: Math.round(box.height),
        text: el.classList.contains("js-plotly-plot") ? "" : (el.textContent ?? "").slice(0, 200),
      };
    });
  }, TRACE_SELECTOR);
}

/** Waits until every sedlab figure div is a Plotly graph (or the timeout passes; the caller then checks). */
export async function waitForFigures(page: Page, timeoutMs = 30_000): Promise<void> {
  await page
    .waitForFunction(
      () =>
        Array.from(document.querySelectorAll(".sedlab-plotly")).every(
          (el) => el.classList.contains("js-plotly-plot") && el.querySelector("svg.main-svg") !== null,
        ),
      undefined,
      { timeout: timeoutMs, polling: 250 },
    )
    .catch(() => undefined);
}

/** Problems with the figures, one line each (empty when every figure rendered with data traces). */
export function figureProblems(figs: FigureStatus[]): string[] {
  const out: string[] = [];
  for (const f of figs) {
    if (!f.plotted) out.push(`figure ${f.id} was not plotted${f.text ? ` (shows "${f.text}")` : ""}`);
    else if (f.renderedTraces === 0)
      out.push(`figure ${f.id} has no rendered data traces (${f.dataTraces} in data)`);
    else if (f.width < 50 || f.height < 50) out.push(`figure ${f.id} is ${f.width}×${f.height} px`);
  }
  return out;
}

/** True for URLs that stay on this machine without a network: the file itself and its inline/blob content. */
export function isLocalUrl(url: string): boolean {
  return /^(file|data|blob|about):/i.test(url);
}
