// The notebooks in a real Jupyter UI: starts a Jupyter Notebook server (classic, 6.x) on 127.0.0.1 over a temp copy of
// notebooks/ (nothing is written into the repo), opens 00_quickstart.ipynb in headless Chromium, runs every cell from
// the Cell → Run All menu at SEDLAB_PRESET=test and checks: no cell shows an error (tslab reports errors as stderr
// output), every figure rendered with data traces, and hovering a data point shows Plotly's tooltip.
// Saves reports/screenshots/notebook-ui.png. The server and its kernels are stopped whatever happens. Without
// Chromium, the Notebook server or the tslab kernel the test skips, outside CI only: under CI=true it fails.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
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

const NOTEBOOK = "00_quickstart.ipynb";
const KERNEL_JSON = join(REPO, ".jupyter-env/share/jupyter/kernels/tslab/kernel.json");
/** Plotly's hover label: `.hovertext` per point, or the legend-like box of `hovermode: "x unified"`. */
const TOOLTIP = ".sedlab-plotly .hoverlayer .hovertext, .sedlab-plotly .hoverlayer .legend";
/** Budget for running all cells (test preset: the kernel start and tfjs dominate). */
const RUN_TIMEOUT_MS = 300_000;

/** A python that can run the classic Notebook server (`SEDLAB_PYTHON`, Debian's /usr/bin/python3, python3). */
function notebookPython(): string | null {
  for (const py of [process.env.SEDLAB_PYTHON, "/usr/bin/python3", "python3"]) {
    if (py && spawnSync(py, ["-c", "import notebook.notebookapp"], { stdio: "ignore" }).status === 0)
      return py;
  }
  return null;
}

/** What the test needs and this machine lacks (Chromium, the Notebook server, the tslab kernel), or null. */
function whyNot(py: string | null): string | null {
  const chromium = chromiumMissing();
  if (chromium) return chromium;
  if (!py) {
    return (
      "no Jupyter Notebook server (python -m notebook), so the Jupyter UI test cannot run. " +
      "Install it (Debian: `apt-get install jupyter-notebook`, or as root `bash scripts/setup.sh`)."
    );
  }
  if (!existsSync(KERNEL_JSON)) {
    return `the tslab kernel is not registered (${KERNEL_JSON} missing): run \`bash scripts/setup.sh\`.`;
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? res(addr.port) : rej(new Error("no port"))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForServer(base: string, token: string, server: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) {
      throw new Error(
        `the Jupyter server exited (${server.exitCode}):\n${readFileSync(log, "utf8").slice(-3000)}`,
      );
    }
    try {
      const r = await fetch(`${base}/api/status?token=${token}`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(300);
  }
  throw new Error(
    `the Jupyter server did not answer within 90 s:\n${readFileSync(log, "utf8").slice(-3000)}`,
  );
}

/** Processes whose command line mentions `needle` (the kernels started with a connection file in our runtime dir). */
function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").includes(needle)) out.push(Number(d));
    } catch {
      // gone already
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the server (its API, then its process group) and any kernel it left behind (found by our runtime dir). */
async function stopServer(
  server: ChildProcess,
  base: string,
  token: string,
  runtimeDir: string,
): Promise<void> {
  const pid = server.pid;
  if (pid !== undefined && server.exitCode === null) {
    try {
      await fetch(`${base}/api/shutdown?token=${token}`, {
        method: "POST",
        signal: AbortSignal.timeout(5000),
      });
    } catch {
      // fall through to signals
    }
    for (let i = 0; i < 50 && server.exitCode === null; i++) await sleep(200);
    for (const sig of ["SIGTERM", "SIGKILL"] as const) {
      if (server.exitCode !== null && !alive(-pid)) break;
      try {
        process.kill(-pid, sig); // the whole process group (spawned detached)
      } catch {
        // already gone
      }
      for (let i = 0; i < 25 && alive(-pid); i++) await sleep(200);
    }
  }
  // Kernels run in their own sessions (jupyter_client starts them with start_new_session): kill ours by pid.
  for (const sig of ["SIGTERM", "SIGKILL"] as const) {
    const left = pidsMentioning(runtimeDir);
    if (left.length === 0) break;
    for (const p of left) {
      try {
        process.kill(p, sig);
      } catch {
        // gone
      }
    }
    await sleep(1000);
  }
}

interface CellState {
  index: number;
  running: boolean;
  prompt: string;
  outputs: number;
  errors: string[];
}

function cellStates(page: Page): Promise<CellState[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll(".cell.code_cell")).map((c, index) => ({
      index,
      running: c.classList.contains("running"),
      prompt: (c.querySelector(".input_prompt")?.textContent ?? "").replace(/\s+/g, " ").trim(),
      outputs: c.querySelectorAll(".output_area").length,
      errors: Array.from(c.querySelectorAll(".output_error, .output_stderr")).map((o) =>
        (o.textContent ?? "").trim().slice(0, 1500),
      ),
    })),
  );
}

async function kernelIdle(page: Page): Promise<boolean> {
  return page.evaluate(
    () => document.querySelector("#kernel_indicator_icon")?.classList.contains("kernel_idle_icon") ?? false,
  );
}

/** Page coordinates of a data point of the first trace of figure `index` (middle of its points). */
function dataPointXY(page: Page, index: number): Promise<{ x: number; y: number } | null> {
  return page.evaluate((i) => {
    type Axis = { _offset: number; l2p(v: number): number; d2l(v: unknown): number };
    const gd = document.querySelectorAll(".sedlab-plotly.js-plotly-plot")[i] as
      | (HTMLElement & {
          _fullData?: { x?: unknown[]; y?: unknown[]; xaxis?: string; yaxis?: string; visible?: unknown }[];
          _fullLayout?: Record<string, Axis>;
        })
      | undefined;
    const layout = gd?._fullLayout;
    const trace = gd?._fullData?.find((t) => t.visible === true && (t.x?.length ?? 0) > 0 && t.y);
    if (!gd || !layout || !trace?.x || !trace.y) return null;
    const k = Math.floor(trace.x.length / 2);
    // No named helper functions in here: tsx wraps them in a `__name` call that the page does not have.
    const xa = layout[`xaxis${(trace.xaxis ?? "x").slice(1)}`];
    const ya = layout[`yaxis${(trace.yaxis ?? "y").slice(1)}`];
    if (!xa || !ya) return null;
    const box = gd.getBoundingClientRect();
    return {
      x: box.left + xa._offset + xa.l2p(xa.d2l(trace.x[k])),
      y: box.top + ya._offset + ya.l2p(ya.d2l(trace.y[k])),
    };
  }, index);
}

const py = notebookPython();
const absent = whyNot(py);
const skip = skipWhenAbsent(absent);

test(
  "00_quickstart in the Jupyter Notebook UI: Run All, no errors, figures, hover",
  {
    skip,
    timeout: RUN_TIMEOUT_MS + 180_000,
  },
  async (t) => {
    requirePresent(absent);
    const t0 = Date.now();
    const tmp = mkdtempSync(join(tmpdir(), "sedlab-nbui-"));
    const nbDir = join(tmp, "notebooks");
    const runtimeDir = join(tmp, "runtime");
    for (const d of [nbDir, runtimeDir, join(tmp, "config"), join(tmp, "data")])
      mkdirSync(d, { recursive: true });
    for (const f of readdirSync(join(REPO, "notebooks")).filter((f) => f.endsWith(".ipynb"))) {
      cpSync(join(REPO, "notebooks", f), join(nbDir, f));
    }
    // Like notebooks/src -> ../src; node_modules so that tslab and the packages resolve from the copy too.
    symlinkSync(join(REPO, "src"), join(nbDir, "src"));
    symlinkSync(join(REPO, "node_modules"), join(nbDir, "node_modules"));

    const port = await freePort();
    const token = `sedlab-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    const base = `http://127.0.0.1:${port}`;
    const log = join(tmp, "server.log");
    const logFd = openSync(log, "a");
    const server = spawn(
      py as string,
      [
        "-m",
        "notebook",
        "--no-browser",
        "--ip=127.0.0.1",
        `--port=${port}`,
        "--port-retries=0",
        `--notebook-dir=${nbDir}`,
        `--NotebookApp.token=${token}`,
        "--NotebookApp.password=",
        ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
      ],
      {
        cwd: nbDir,
        detached: true, // own process group: stopServer kills it as a whole
        stdio: ["ignore", logFd, logFd],
        env: {
          ...process.env,
          JUPYTER_PATH: join(REPO, ".jupyter-env/share/jupyter"),
          JUPYTER_CONFIG_DIR: join(tmp, "config"),
          JUPYTER_DATA_DIR: join(tmp, "data"),
          JUPYTER_RUNTIME_DIR: runtimeDir,
          IPYTHONDIR: join(tmp, "ipython"),
          PYDEVD_DISABLE_FILE_VALIDATION: "1",
          SEDLAB_PRESET: "test",
          SEDLAB_ROOT: REPO,
          SEDLAB_CHECKPOINTS: join(tmp, "checkpoints"),
        },
      },
    );
    const browser = await launchChromium().catch(async (e) => {
      await stopServer(server, base, token, runtimeDir);
      throw e;
    });
    try {
      await waitForServer(base, token, server, log);
      t.diagnostic(`server up on port ${port} after ${Date.now() - t0} ms`);
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const pageErrors: string[] = [];
      const outside: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(e.message));
      page.on("request", (r) => {
        const url = r.url();
        if (!isLocalUrl(url) && !url.startsWith(`${base}/`) && !url.startsWith(`ws://127.0.0.1:${port}/`))
          outside.push(url);
      });
      await page.route(/^(https?|wss?):/i, (route) =>
        route.request().url().startsWith(`${base}/`) ? route.continue() : route.abort("blockedbyclient"),
      );

      await page.goto(`${base}/notebooks/${NOTEBOOK}?token=${token}`, { waitUntil: "load" });
      await page.waitForSelector("#kernel_indicator_icon.kernel_idle_icon", { timeout: 120_000 });
      t.diagnostic(`kernel ready after ${Date.now() - t0} ms`);

      // Cell → Run All, through the menu.
      const t1 = Date.now();
      await page.click("#celllink");
      await page.click("#run_all_cells > a");

      // Done when no cell is queued or running, the kernel is idle and every code cell shows outputs, for 2 s.
      let states: CellState[] = [];
      let stableSince = 0;
      while (Date.now() - t1 < RUN_TIMEOUT_MS) {
        await sleep(500);
        states = await cellStates(page);
        const done =
          states.length > 0 &&
          states.every((c) => !c.running && !c.prompt.includes("*")) &&
          (await kernelIdle(page)) &&
          (states.every((c) => c.outputs > 0) || states.some((c) => c.errors.length > 0));
        if (!done) stableSince = 0;
        else if (stableSince === 0) stableSince = Date.now();
        else if (Date.now() - stableSince >= 2000) break;
      }
      const ran = Date.now() - t1;
      t.diagnostic(`Run All: ${states.length} code cells in ${ran} ms`);

      const errors = states.flatMap((c) => c.errors.map((e) => `cell ${c.index + 1}: ${e}`));
      assert.deepEqual(errors, [], "cells show errors (tslab writes them as stderr output)");
      const unfinished = states.filter((c) => c.running || c.prompt.includes("*") || c.outputs === 0);
      assert.deepEqual(
        unfinished.map((c) => `cell ${c.index + 1}: prompt "${c.prompt}", ${c.outputs} outputs`),
        [],
        `not every cell ran within ${RUN_TIMEOUT_MS / 1000} s`,
      );

      await waitForFigures(page);
      const figs = await figureStatus(page);
      assert.ok(figs.length > 0, "the notebook showed no figure");
      assert.deepEqual(figureProblems(figs), [], "figures not rendered");
      t.diagnostic(`${figs.length} figures, ${figs.map((f) => f.renderedTraces).join("+")} traces`);

      // Hover a data point of the first figure: Plotly's tooltip must appear.
      await page.locator(".sedlab-plotly.js-plotly-plot").first().scrollIntoViewIfNeeded();
      await sleep(300);
      const xy = await dataPointXY(page, 0);
      assert.ok(xy, "found no data point to hover in the first figure");
      await page.mouse.move(xy.x - 20, xy.y);
      await page.mouse.move(xy.x, xy.y, { steps: 5 });
      const hover = await page
        .waitForSelector(TOOLTIP, { timeout: 10_000 })
        .then(() => true)
        .catch(() => false);
      const tooltip = hover
        ? await page.$$eval(TOOLTIP, (els) => els.map((e) => (e.textContent ?? "").trim()).join(" | "))
        : "";
      await page.screenshot({ path: join(screenshotsDir(), "notebook-ui.png") });
      assert.ok(
        hover,
        `no Plotly tooltip after moving the mouse onto (${xy.x.toFixed(0)}, ${xy.y.toFixed(0)})`,
      );
      t.diagnostic(`tooltip: ${tooltip.slice(0, 200)}`);

      assert.deepEqual(pageErrors, [], "JavaScript errors in the notebook page");
      assert.deepEqual(outside, [], "requests outside the local Jupyter server");
      t.diagnostic(`total ${Date.now() - t0} ms`);
    } catch (e) {
      t.diagnostic("Jupyter server log (last 40 lines):");
      for (const line of readFileSync(log, "utf8").trimEnd().split("\n").slice(-40)) t.diagnostic(line);
      throw e;
    } finally {
      await browser.close().catch(() => undefined);
      await stopServer(server, base, token, runtimeDir);
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);
