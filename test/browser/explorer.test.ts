// The browser explorer (web/) in headless Chromium: built into a temp folder and served on 127.0.0.1, it loads
// cleanly and offline, trains a test-preset run in its Web Worker to the record `sedlab train` writes in Node
// (wasm path, BLAS off), draws its figures as it trains, rejects a bad expression with the tasks module's
// message, pauses and resumes to the same record, and shows cached records. `sedlab explore` serves and stops.
// Saves reports/screenshots/explorer.png. Without Chromium the test skips, outside CI only.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { makeConfig } from "../../src/config/config";
import { buildWeb } from "../../src/explore/build";
import { type Served, serveStatic } from "../../src/explore/serve";
import { runId } from "../../src/records/ids";
import { parseRecord, type RunRecord } from "../../src/records/schema";
import { comparable } from "../helpers";
import {
  chromiumMissing,
  figureProblems,
  figureStatus,
  launchChromium,
  REPO,
  requirePresent,
  screenshotsDir,
  skipWhenAbsent,
} from "./browser";

const absent = chromiumMissing();
const tmp = mkdtempSync(join(tmpdir(), "sedlab-explorer-"));
/** The page's defaults at the test preset: add mod 23, frac 0.8, seed 42, with the SED diagnostics. */
const config = makeConfig({ preset: "test", op: "add", p: 23, frac: 0.8, seed: 42, sed: true });
const FIGS = ["fig-training", "fig-coupling", "fig-spectrum"] as const;
/** What differs between the page's build and the CLI's checkout, besides date and wall time. */
const BUILD_FIELDS = ["segments", "commit", "sedlabVersion"] as const;

let browser: Browser | undefined;
let served: Served | undefined;

async function openPage(): Promise<{ page: Page; problems: string[] }> {
  assert.ok(browser && served);
  const page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 1000 } });
  const problems: string[] = [];
  const origin = new URL(served.url).origin;
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(origin) && !/^(data|blob):/.test(r.url()))
      problems.push(`request outside: ${r.url()}`);
  });
  await page.goto(served.url);
  await page.waitForFunction(() => document.body.dataset.state === "idle", undefined, { timeout: 60_000 });
  return { page, problems };
}

const state = (page: Page) => page.evaluate(() => document.body.dataset.state);

async function waitForState(page: Page, states: string[], timeout = 120_000): Promise<string> {
  await page.waitForFunction((s) => s.includes(document.body.dataset.state ?? ""), states, { timeout });
  return (await state(page)) ?? "";
}

/** Clicks Download record and parses the file it saves. */
async function downloadRecord(page: Page): Promise<RunRecord> {
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  const path = await dl.path();
  assert.equal(dl.suggestedFilename(), `${runId(config)}.json`);
  return parseRecord(readFileSync(path, "utf8"), dl.suggestedFilename());
}

/** Trace lengths of every figure's traces, as drawn now. */
function traceLengths(page: Page): Promise<Record<string, number[]>> {
  return page.evaluate(
    (ids) =>
      Object.fromEntries(
        ids.map((id) => {
          const gd = document.getElementById(id) as HTMLElement & { data?: { x?: unknown[] }[] };
          return [id, (gd.data ?? []).map((t) => t.x?.length ?? 0)];
        }),
      ),
    [...FIGS],
  );
}

/** Waits until the training figure has drawn `n` traces (the page redraws on the next animation frame). */
function waitForTraces(page: Page, n: number): Promise<unknown> {
  return page.waitForFunction(
    `(document.getElementById("fig-training").data ?? []).length === ${n}`,
    undefined,
    { timeout: 10_000 },
  );
}

describe("browser explorer", { skip: skipWhenAbsent(absent) }, () => {
  let node: RunRecord;
  let live: RunRecord;

  before(async () => {
    requirePresent(absent);
    await buildWeb({ outDir: join(tmp, "dist") });
    served = await serveStatic(join(tmp, "dist"), 0);
    browser = await launchChromium();
    // The same config trained by the CLI in Node on the wasm path (the page has no BLAS).
    const out = join(tmp, "node");
    const r = spawnSync(
      process.execPath,
      [
        join(REPO, "bin/sedlab.mjs"),
        ...[
          "train",
          "--preset",
          "test",
          "--op",
          "add",
          "--p",
          "23",
          "--frac",
          "0.8",
          "--seed",
          "42",
          "--sed",
        ],
        ...["--out", out, "--no-checkpoint", "--quiet", "--force"],
      ],
      { cwd: REPO, env: { ...process.env, SEDLAB_BLAS: "off", SEDLAB_BACKEND: "wasm" }, encoding: "utf8" },
    );
    assert.equal(r.status, 0, `sedlab train failed: ${r.stderr}`);
    node = parseRecord(readFileSync(join(out, `${runId(config)}.json`), "utf8"), "the CLI's record");
    assert.equal(node.blas, undefined, "the Node run must be on wasm's own matmul");
  });

  after(async () => {
    await browser?.close();
    await served?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("loads with no console errors, no request outside its origin, and lists the cached runs", async () => {
    const { page, problems } = await openPage();
    const build = await page.textContent("#build");
    assert.match(build ?? "", /sedlab \S+ at [0-9a-f]{12}(-dirty)?, built .*backend: wasm/);
    const cached = await page.$$eval("#cached option", (os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.ok(cached.length >= 4 && cached.every((f) => f.endsWith(".json")), cached.join(" "));
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("trains a test-preset run to the CLI's record, its figures growing as it trains", async () => {
    const { page, problems } = await openPage();
    await page.selectOption("#preset", "test");
    assert.equal(await page.inputValue("#p"), "23", "the preset sets its own p");
    // Sample the drawn trace lengths every 10 ms from inside the page, from before Train until the end.
    // (A string, not a function: tsx's name helpers do not exist in the page.)
    await page.evaluate(`(() => {
      window.lens = [];
      setInterval(() => {
        const key = ${JSON.stringify([...FIGS])}
          .map((id) => document.getElementById(id).data?.[1]?.x?.length ?? 0)
          .join(",");
        if (window.lens.at(-1) !== key) window.lens.push(key);
      }, 10);
    })()`);
    await page.click("#train");
    assert.equal(
      await waitForState(page, ["done", "failed"]),
      "done",
      (await page.textContent("#status")) ?? "",
    );
    live = await downloadRecord(page);
    assert.deepEqual(
      comparable(live, ...BUILD_FIELDS),
      comparable(node, ...BUILD_FIELDS),
      "the page's record is the CLI's (wasm, bitwise)",
    );
    assert.equal(live.backend, "wasm");
    assert.equal(live.blas, undefined);
    assert.match(live.commit, /^[0-9a-f]{12}/);
    // Both figures grew while it ran: the training curves eval by eval, the coupling measurement by measurement.
    const seen = (await page.evaluate(() => (window as unknown as { lens: string[] }).lens)).map((k) =>
      k.split(",").map(Number),
    );
    const distinct = (i: number) => new Set(seen.map((l) => l[i])).size;
    assert.ok(distinct(0) >= 4, `training traces: ${JSON.stringify(seen)}`);
    assert.ok(distinct(1) >= 2, `coupling traces: ${JSON.stringify(seen)}`);
    const lens = await traceLengths(page);
    assert.equal(lens["fig-training"][1], live.metrics.length);
    const curve = live.coupling && "gradient" in live.coupling ? live.coupling.gradient.curve : [];
    assert.equal(lens["fig-coupling"][1], curve.length);
    assert.equal(lens["fig-spectrum"][1], curve.at(-1)?.sigma.length);
    assert.deepEqual(figureProblems(await figureStatus(page)), []);
    assert.match((await page.textContent("#speed")) ?? "", /\d+\.\d ms\/step/);
    assert.deepEqual(problems, []);
    await page.screenshot({ path: join(screenshotsDir(), "explorer.png"), fullPage: true });
    await page.close();
  });

  it("a bad expression shows the tasks module's message and starts nothing", async () => {
    const { page, problems } = await openPage();
    const bad = "a + (b";
    const expected = (() => {
      try {
        makeConfig({ preset: "quick", expr: bad, sed: true });
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error(`"${bad}" was accepted by makeConfig`);
    })();
    await page.selectOption("#op", "expr");
    await page.fill("#expr", bad);
    assert.equal(await page.textContent("#config-error"), expected, "shown as it is typed");
    await page.click("#train");
    assert.equal(await page.textContent("#config-error"), expected);
    assert.equal(await state(page), "idle", "nothing started");
    assert.equal(
      await page.evaluate(() => (document.getElementById("progress") as HTMLProgressElement).value),
      0,
    );
    // A good expression clears it.
    await page.fill("#expr", "a^3 + a*b");
    assert.equal(await page.isHidden("#config-error"), true);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("Pause then Resume continues to the uninterrupted run's record", async () => {
    const { page, problems } = await openPage();
    await page.selectOption("#preset", "test");
    // Both clicks in one task, so the worker gets "pause" right behind "start": a test-preset run can end in
    // less time than a second Playwright click takes to land (it did once in CI).
    await page.evaluate(() => {
      for (const id of ["train", "pause"]) (document.getElementById(id) as HTMLButtonElement).click();
    });
    assert.equal(await waitForState(page, ["paused", "done", "failed"]), "paused");
    const paused = (await page.textContent("#status")) ?? "";
    const step = Number(/Paused at step (\d+)/.exec(paused)?.[1]);
    assert.ok(step > 0 && step < config.maxSteps, paused);
    assert.equal(await page.isEnabled("#resume"), true);
    assert.equal(await page.isEnabled("#download"), false);
    await page.click("#resume");
    assert.equal(
      await waitForState(page, ["done", "failed"]),
      "done",
      (await page.textContent("#status")) ?? "",
    );
    const resumed = await downloadRecord(page);
    assert.deepEqual(comparable(resumed, ...BUILD_FIELDS), comparable(live, ...BUILD_FIELDS));
    const lens = await traceLengths(page);
    assert.equal(lens["fig-training"][1], resumed.metrics.length, "no eval drawn twice or lost");
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("opening a cached paper record, or a record file, draws its curves beside the live run's", async () => {
    const { page, problems } = await openPage();
    const file = await page.$eval("#cached option", (o) => (o as HTMLOptionElement).value);
    const cached = parseRecord(readFileSync(join(tmp, "dist", "records", file), "utf8"), file);
    await page.selectOption("#cached", file);
    await page.click("#show-cached");
    await page.waitForFunction(() => document.querySelectorAll("#refs li").length === 1);
    await waitForTraces(page, 3);
    let lens = await traceLengths(page);
    assert.equal(lens["fig-training"][1], cached.metrics.length, "its test accuracy curve");
    const curve = cached.coupling && "gradient" in cached.coupling ? cached.coupling.gradient.curve : [];
    assert.ok(curve.length > 0);
    assert.equal(lens["fig-coupling"][1], curve.length, "its gradient-SED R̄");
    assert.deepEqual(figureProblems(await figureStatus(page)), []);
    // A downloaded record opens the same way; a file that is not a record says why.
    const liveFile = join(tmp, "live.json");
    spawnSync("cp", [join(tmp, "node", `${runId(config)}.json`), liveFile]);
    await page.setInputFiles("#open-record", liveFile);
    await page.waitForFunction(() => document.querySelectorAll("#refs li").length === 2);
    await waitForTraces(page, 6);
    lens = await traceLengths(page);
    assert.equal(lens["fig-training"].length, 6, "two runs × (train, test, loss)");
    await page.setInputFiles("#open-record", {
      name: "bad.json",
      mimeType: "application/json",
      buffer: Buffer.from("{}"),
    });
    await page.waitForSelector("#record-error:not([hidden])");
    assert.match((await page.textContent("#record-error")) ?? "", /bad\.json: not a sedlab run record/);
    assert.deepEqual(problems, []);
    await page.close();
  });
});

describe("sedlab explore", { skip: skipWhenAbsent(absent) }, () => {
  it("builds if needed, serves the page on 127.0.0.1, and stops cleanly on Ctrl-C", async () => {
    const child = spawn(process.execPath, [join(REPO, "bin/sedlab.mjs"), "explore", "--port", "0"], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL after 120 s:\n${out}`)), 120_000);
        const check = () => {
          const m = /sedlab explorer: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        };
        child.stdout.on("data", check);
        child.once("exit", (code) => reject(new Error(`exited (${code}) before serving:\n${out}`)));
      });
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>sedlab explorer/);
      const wasm = await fetch(new URL("tfjs-backend-wasm-simd.wasm", url));
      assert.equal(wasm.headers.get("content-type"), "application/wasm");
      assert.equal((await fetch(new URL("../package.json", url))).status, 404, "nothing outside the build");
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGINT");
      assert.equal(await exited, 0, out);
      assert.match(out, /explorer stopped/);
      await assert.rejects(fetch(url), "the server is gone");
    } finally {
      child.kill("SIGKILL");
    }
  });
});
