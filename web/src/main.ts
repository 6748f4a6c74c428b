// The explorer page: the run settings (validated by the same config and tasks modules as the CLI, errors shown
// inline), Train / Pause / Resume / Stop for the training worker, live figures, and records both ways.
import Plotly from "plotly.js-dist-min";
import { type ConfigOverrides, makeConfig, type PresetName, type TrainConfig } from "../../src/config/config";
import {
  EXPLORER_FIGURES,
  type ExplorerRun,
  explorerRunOf,
  liveRun,
  runLabel,
} from "../../src/present/explorerFigures";
import type { CouplingRecord } from "../../src/records/results";
import {
  grokStepOf,
  type MetricPoint,
  parseRecord,
  type RunRecord,
  recordText,
} from "../../src/records/schema";
import { formatDuration } from "../../src/util/progress";
import type { BuildStamp, FromWorker, ToWorker } from "./protocol";

declare const SEDLAB_BUILD: BuildStamp;

/** One cached record in the build (records/index.json, written by src/explore/build.ts). */
interface CachedEntry {
  file: string;
  label: string;
}

type PageState = "loading" | "idle" | "running" | "paused" | "done" | "stopped" | "failed";

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page lacks #${id}`);
  return el as T;
};
const field = (id: string) => $<HTMLInputElement | HTMLSelectElement>(id);

let state: PageState = "loading";
let worker: Worker;
let live: { label: string; metrics: MetricPoint[]; coupling?: CouplingRecord } | undefined;
let finished: RunRecord | undefined;
const references: ExplorerRun[] = [];

// --- Settings ---

/** The form's numbers; a field that is not a number is named. */
function numberField(id: string, label: string, integer: boolean): number {
  const raw = field(id).value.trim();
  const x = Number(raw);
  if (raw === "" || !Number.isFinite(x) || (integer && !Number.isInteger(x)))
    throw new Error(`${label} must be ${integer ? "an integer" : "a number"} (got "${raw}")`);
  return x;
}

/** The run the form describes, made and checked by makeConfig (throws its message, or the tasks module's). */
function configFromForm(): TrainConfig {
  const op = field("op").value;
  const overrides: ConfigOverrides = {
    preset: field("preset").value as PresetName,
    p: numberField("p", "p", true),
    frac: numberField("frac", "Train fraction", false),
    seed: numberField("seed", "Seed", true),
    sed: true,
    ...(op === "expr" ? { expr: field("expr").value } : { op }),
  };
  return makeConfig(overrides);
}

function showError(id: string, message: string | null): void {
  const el = $(id);
  el.textContent = message ?? "";
  el.hidden = message === null;
}

/** Checks the settings now; returns the config, or null with the reason shown under the form. */
function checkedConfig(): TrainConfig | null {
  try {
    const c = configFromForm();
    showError("config-error", null);
    return c;
  } catch (e) {
    showError("config-error", (e as Error).message);
    return null;
  }
}

/** A preset brings its own p and train fraction (from the config module: one definition). */
function applyPresetDefaults(): void {
  const d = makeConfig({ preset: field("preset").value as PresetName });
  field("p").value = String(d.p);
  field("frac").value = String(d.frac);
}

// --- Buttons and status ---

function setState(s: PageState): void {
  state = s;
  document.body.dataset.state = s;
  const can: Record<string, boolean> = {
    train: s === "idle" || s === "done" || s === "stopped" || s === "failed",
    pause: s === "running",
    resume: s === "paused",
    stop: s === "running" || s === "paused",
    download: s === "done" && finished !== undefined,
  };
  for (const [id, on] of Object.entries(can)) $<HTMLButtonElement>(id).disabled = !on;
  const editing = can.train;
  for (const id of ["op", "expr", "p", "frac", "seed", "preset"]) field(id).disabled = !editing;
}

function send(m: ToWorker): void {
  worker.postMessage(m);
}

function status(text: string): void {
  $("status").textContent = text;
}

function progressText(e: Extract<FromWorker, { type: "progress" }>): void {
  const last = live?.metrics.at(-1);
  const acc = last
    ? ` · train ${(100 * last.trainAcc).toFixed(1)}% · test ${(100 * last.testAcc).toFixed(1)}%`
    : "";
  const grok = live ? grokStepOf(live.metrics) : null;
  status(
    `step ${e.step}/${e.maxSteps} · loss ${e.loss.toFixed(4)}${acc}${grok === null ? "" : ` · grokked at ${grok}`}` +
      ` · ${formatDuration(e.elapsedSeconds)} elapsed · ETA ≤ ${formatDuration(e.etaSeconds)}`,
  );
  const bar = $<HTMLProgressElement>("progress");
  bar.max = e.maxSteps;
  bar.value = e.step;
  if (Number.isFinite(e.msPerStep))
    $("speed").textContent = `${e.msPerStep.toFixed(1)} ms/step (median of the last steps; wasm, 1 thread)`;
}

// --- Figures ---

let drawQueued = false;
function redraw(): void {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    const runs = [...(live ? [liveRun(live.label, live.metrics, live.coupling)] : []), ...references];
    for (const [id, figure] of Object.entries(EXPLORER_FIGURES)) {
      const f = figure(runs);
      void Plotly.react(id, f.data, f.layout, { responsive: true, displaylogo: false });
    }
  });
}

// --- Worker events ---

function onWorker(m: FromWorker): void {
  switch (m.type) {
    case "ready":
      $("build").textContent =
        `sedlab ${SEDLAB_BUILD.version} at ${SEDLAB_BUILD.commit}, built ${SEDLAB_BUILD.date}; TensorFlow.js backend: ${m.backend}`;
      status("Ready. Choose an operation and press Train.");
      setState("idle");
      return;
    case "started":
      status(`Training ${m.id}…`);
      return;
    case "eval":
      live?.metrics.push(m.metric);
      redraw();
      return;
    case "coupling":
      if (live) live.coupling = m.coupling;
      redraw();
      return;
    case "progress":
      progressText(m);
      return;
    case "paused":
      setState("paused");
      status(`Paused at step ${m.step} (the run is kept in memory: Resume continues it exactly).`);
      return;
    case "stopped":
      setState("stopped");
      status(`Stopped at step ${m.step}.`);
      return;
    case "done": {
      finished = m.record;
      setState("done");
      const g = m.record.grokStep === null ? "did not grok" : `grokked at step ${m.record.grokStep}`;
      status(
        `Done: ${g}; ${m.record.steps} steps (${m.record.stopReason}), final test accuracy ` +
          `${(100 * m.record.final.testAcc).toFixed(1)}%, ${formatDuration(m.record.wallSeconds)}.`,
      );
      return;
    }
    case "error":
      if (state === "loading") status(`TensorFlow.js could not start here: ${m.message}`);
      else status(`The run failed: ${m.message}`);
      setState(state === "loading" ? "loading" : "failed");
      return;
  }
}

// --- Records ---

function download(r: RunRecord): void {
  const url = URL.createObjectURL(new Blob([recordText(r)], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = `${r.id}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function addReference(text: string, where: string, label?: string): void {
  try {
    const r = parseRecord(text, where);
    references.push(explorerRunOf(r, label));
    const li = document.createElement("li");
    li.textContent = `${references.at(-1)?.label} (${r.id}, ${r.backend}, ${r.date.slice(0, 10)})`;
    $("refs").append(li);
    showError("record-error", null);
    redraw();
  } catch (e) {
    showError("record-error", (e as Error).message);
  }
}

async function loadCachedIndex(): Promise<void> {
  const select = $<HTMLSelectElement>("cached");
  try {
    const res = await fetch("records/index.json");
    if (!res.ok) throw new Error(`records/index.json: HTTP ${res.status}`);
    const entries = (await res.json()) as CachedEntry[];
    select.replaceChildren(
      ...entries.map((e) =>
        Object.assign(document.createElement("option"), { value: e.file, textContent: e.label }),
      ),
    );
  } catch (e) {
    select.replaceChildren(
      Object.assign(document.createElement("option"), { value: "", textContent: "(none)" }),
    );
    showError("record-error", `no cached runs in this build (${(e as Error).message})`);
  }
}

async function showCached(): Promise<void> {
  const select = $<HTMLSelectElement>("cached");
  if (!select.value) return;
  const res = await fetch(`records/${select.value}`);
  if (!res.ok) return showError("record-error", `records/${select.value}: HTTP ${res.status}`);
  addReference(await res.text(), select.value, select.selectedOptions[0]?.textContent ?? undefined);
}

// --- Wiring ---

function start(): void {
  const config = checkedConfig();
  if (!config) return;
  live = { label: runLabel(config.op ?? config.expr ?? "", config), metrics: [] };
  finished = undefined;
  $<HTMLProgressElement>("progress").value = 0;
  $("speed").textContent = "";
  setState("running");
  redraw();
  send({ type: "start", config });
}

function main(): void {
  applyPresetDefaults();
  setState("loading");
  worker = new Worker("worker.js");
  worker.onmessage = (ev: MessageEvent<FromWorker>) => onWorker(ev.data);
  worker.onerror = (ev) => {
    status(`The training worker failed: ${ev.message}`);
    setState("failed");
  };
  $("config-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    start();
  });
  $("op").addEventListener("change", () => {
    $("expr-label").hidden = field("op").value !== "expr";
    checkedConfig();
  });
  $("preset").addEventListener("change", () => {
    applyPresetDefaults();
    checkedConfig();
  });
  for (const id of ["expr", "p", "frac", "seed"]) $(id).addEventListener("input", () => checkedConfig());
  $("pause").addEventListener("click", () => send({ type: "pause" }));
  $("resume").addEventListener("click", () => {
    setState("running");
    send({ type: "resume" });
  });
  $("stop").addEventListener("click", () => send({ type: "stop" }));
  $("download").addEventListener("click", () => finished && download(finished));
  $("show-cached").addEventListener("click", () => void showCached());
  $("open-record").addEventListener("change", async (ev) => {
    const input = ev.target as HTMLInputElement;
    const file = input.files?.[0];
    if (file) addReference(await file.text(), file.name);
    input.value = "";
  });
  $("clear-refs").addEventListener("click", () => {
    references.length = 0;
    $("refs").replaceChildren();
    redraw();
  });
  void loadCachedIndex();
  redraw();
}

main();
