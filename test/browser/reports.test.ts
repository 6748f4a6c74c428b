// Opens every reports/*.html (written by `npm run test:notebooks` or `npm run report`) in headless Chromium and
// checks that it works offline: every Plotly figure rendered with data traces, no page error or console error, no
// request that leaves the machine, plotly.js embedded once. Saves reports/screenshots/NAME.png. A NAME.failed.html
// (the partial report of a notebook that failed) fails. Without Chromium each report's test skips, outside CI only.
//   SEDLAB_REPORTS_DIR  reports folder (default reports/);  SEDLAB_CHROMIUM  browser binary (default /usr/bin/chromium)
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import {
  chromiumMissing,
  figureProblems,
  figureStatus,
  isLocalUrl,
  launchChromium,
  REPO,
  requirePresent,
  screenshotsDir,
  skipWhenAbsent,
  waitForFigures,
} from "./browser";

const REPORTS = resolve(process.env.SEDLAB_REPORTS_DIR ?? join(REPO, "reports"));
const files = existsSync(REPORTS)
  ? readdirSync(REPORTS)
      .filter((f) => f.endsWith(".html"))
      .sort()
  : [];
const missing = chromiumMissing();
const skip = skipWhenAbsent(missing);

/** The inline plotly.js loader of src/present/nbdisplay.ts (`plotlyLoaderHtml`): one per report that has figures. */
const PLOTLY_LOADER = '<script type="text/javascript">if (!window.Plotly) {';

describe("HTML reports in headless Chromium", () => {
  let browser: Browser | undefined;
  let launchError: Error | undefined;
  before(async () => {
    if (missing) return; // each report's test skips, or under CI fails
    try {
      browser = await launchChromium();
    } catch (e) {
      launchError = e as Error;
    }
  });
  after(async () => {
    await browser?.close();
  });

  test("there are reports to check", () => {
    assert.ok(
      files.some((f) => !f.endsWith(".failed.html") && f !== "index.html"),
      `no notebook reports in ${REPORTS}: run \`npm run test:notebooks\` (or \`npm run report\`) first`,
    );
  });

  for (const file of files) {
    const name = basename(file, ".html");
    if (file.endsWith(".failed.html")) {
      test(file, () => {
        assert.fail(
          `${file} is the partial report of a notebook that failed (scripts/run-notebooks.sh said why): ` +
            "fix the notebook and rerun `npm run test:notebooks`",
        );
      });
      continue;
    }
    test(file, { skip, timeout: 120_000 }, async (t) => {
      requirePresent(missing);
      if (!browser)
        throw new Error(`Chromium did not start: ${launchError?.message}`, { cause: launchError });
      const t0 = Date.now();
      const path = join(REPORTS, file);
      const html = readFileSync(path, "utf8");
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const errors: string[] = [];
      const outside: string[] = [];
      const otherFiles = new Set<string>();
      page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(`console error: ${m.text()} (${m.location().url})`);
      });
      page.on("request", (r) => {
        const url = r.url();
        if (!isLocalUrl(url)) outside.push(url);
        else if (url.startsWith("file:") && fileURLToPath(url.split(/[?#]/)[0] ?? url) !== path) {
          otherFiles.add(fileURLToPath(url.split(/[?#]/)[0] ?? url));
        }
      });
      page.on("websocket", (ws) => outside.push(ws.url()));
      // Nothing may leave the machine: any http(s) request is recorded (above) and aborted.
      await context.route(/^(https?|wss?):/i, (route) => route.abort("blockedbyclient"));
      try {
        await page.goto(pathToFileURL(path).href, { waitUntil: "load", timeout: 60_000 });
        await waitForFigures(page);
        const figs = await figureStatus(page);
        await page.screenshot({ path: join(screenshotsDir(dirname(path)), `${name}.png`), fullPage: true });

        const loaders = html.split(PLOTLY_LOADER).length - 1;
        const problems = [
          ...figureProblems(figs),
          ...errors,
          ...outside.map((u) => `request outside the file (it must open offline): ${u}`),
          ...(figs.length > 0 && loaders !== 1 ? [`plotly.js is embedded ${loaders} times, not once`] : []),
        ];
        assert.deepEqual(problems, [], `${file}: ${problems.length} problem(s)`);
        if (file === "index.html") {
          const hrefs = await page.$$eval("a[href]", (as) => as.map((a) => a.getAttribute("href") ?? ""));
          for (const href of hrefs) {
            assert.ok(!/^[a-z]+:/i.test(href), `index.html links outside the reports: ${href}`);
          }
          // `npm run test:notebooks` rewrites the reports but not the index (`npm run report` does): an older index
          // may name files that are gone since, so its links are only checked when it is the newest file.
          const indexTime = statSync(path).mtimeMs;
          const newer = files.filter((f) => f !== file && statSync(join(REPORTS, f)).mtimeMs > indexTime);
          if (newer.length > 0) {
            t.diagnostic(
              `index.html is older than ${newer.join(", ")} (npm run report rewrites it): links not checked`,
            );
          } else {
            for (const href of hrefs) {
              assert.ok(existsSync(join(REPORTS, href)), `index.html links to ${href}, which does not exist`);
            }
          }
        }
        t.diagnostic(
          `${figs.length} figures (${figs.map((f) => f.renderedTraces).join("+") || "0"} traces), ` +
            `${(html.length / 1e6).toFixed(1)} MB, ${Date.now() - t0} ms`,
        );
        if (otherFiles.size > 0) t.diagnostic(`local files it also loads: ${[...otherFiles].join(", ")}`);
      } finally {
        await context.close();
      }
    });
  }
});
