// The browser explorer's figures (web/): a live run as it trains and any opened record, on the same axes, so a
// run in the page sits beside a cached paper-preset run. Plain data in, Plotly figure spec out; the page redraws
// them with Plotly.react as events arrive.

import type { TrainConfig } from "../config/config";
import { type CouplingRecord, isMultitaskCoupling, SOURCES } from "../records/results";
import { grokStepOf, type MetricPoint, type RunRecord } from "../records/schema";
import type { Data, Figure, Layout } from "./nbdisplay";
import {
  ACC_RANGE,
  axis,
  baseLayout,
  C10,
  HEIGHT,
  legendBelow,
  referenceColor,
  SOURCE_DASH,
  stepAxis,
  TRAIN_TEST,
} from "./style";

/** One run as the explorer draws it: the live one (partial, growing) or an opened record. */
export interface ExplorerRun {
  label: string;
  /** Opened records are drawn thinner and fainter than the live run. */
  reference: boolean;
  metrics: MetricPoint[];
  grokStep: number | null;
  coupling?: CouplingRecord;
}

/** How the explorer names a run: its task, modulus, preset and seed. */
export function runLabel(task: string, c: Pick<TrainConfig, "p" | "preset" | "seed">): string {
  return `${task} mod ${c.p}, ${c.preset}, seed ${c.seed}`;
}

/** An opened record as an explorer run (multitask records have no single-task coupling to show). */
export function explorerRunOf(r: RunRecord, label?: string): ExplorerRun {
  const c = r.coupling && !isMultitaskCoupling(r.coupling) ? r.coupling : undefined;
  return {
    label: label ?? runLabel(r.task, r.config),
    reference: true,
    metrics: r.metrics,
    grokStep: r.grokStep,
    ...(c ? { coupling: c } : {}),
  };
}

/** A live run from what has arrived so far. */
export function liveRun(label: string, metrics: MetricPoint[], coupling?: CouplingRecord): ExplorerRun {
  return {
    label,
    reference: false,
    metrics,
    grokStep: grokStepOf(metrics),
    ...(coupling ? { coupling } : {}),
  };
}

function lineStyle(run: ExplorerRun, color: string, dash: string = "solid") {
  return { color, dash, width: run.reference ? 1.5 : 2.5 };
}

/** Each run's grok step as a dashed vertical line in its colour, labelled above the plot. */
function grokLines(runs: ExplorerRun[], colorOf: (i: number) => string): Partial<Layout> {
  const marked = runs.flatMap((r, i) =>
    r.grokStep === null ? [] : [{ step: r.grokStep, color: colorOf(i) }],
  );
  return {
    shapes: marked.map((m) => ({
      type: "line" as const,
      x0: m.step,
      x1: m.step,
      yref: "paper" as const,
      y0: 0,
      y1: 1,
      line: { dash: "dash" as const, color: m.color },
    })),
    annotations: marked.map((m, j) => ({
      x: m.step,
      yref: "paper" as const,
      y: 1.02 + 0.05 * j,
      text: `grok ${m.step}`,
      showarrow: false,
      font: { color: m.color },
    })),
  };
}

/** The colour that stands for run i in the grok markers and the coupling/spectrum figures. */
const runColor = (runs: ExplorerRun[]) => {
  let refs = 0;
  const colors = runs.map((r) => (r.reference ? referenceColor(refs++) : C10.green));
  return (i: number) => colors[i];
};

/** Train and test accuracy (top) and train loss (bottom, log) against step, grok steps marked. */
export function explorerTraining(runs: ExplorerRun[]): Figure {
  const colorOf = runColor(runs);
  const data: Data[] = [];
  runs.forEach((run, i) => {
    const x = run.metrics.map((m) => m.step);
    const train = run.reference ? colorOf(i) : TRAIN_TEST.train;
    const test = run.reference ? colorOf(i) : TRAIN_TEST.test;
    const tag = run.reference ? ` (${run.label})` : "";
    data.push(
      {
        x,
        y: run.metrics.map((m) => m.trainAcc),
        name: `train accuracy${tag}`,
        mode: "lines",
        line: lineStyle(run, train, run.reference ? "dot" : "solid"),
      },
      {
        x,
        y: run.metrics.map((m) => m.testAcc),
        name: `test accuracy${tag}`,
        mode: "lines",
        line: lineStyle(run, test),
      },
      {
        x,
        y: run.metrics.map((m) => m.loss),
        name: `train loss${tag}`,
        mode: "lines",
        line: lineStyle(run, run.reference ? colorOf(i) : TRAIN_TEST.loss, "dot"),
        yaxis: "y2",
      },
    );
  });
  return {
    data,
    layout: baseLayout("Accuracy and loss", HEIGHT.lg, {
      // The step axis under the loss panel, shared by both.
      xaxis: { ...stepAxis(), anchor: "y2" },
      yaxis: axis("accuracy", { range: ACC_RANGE, domain: [0.42, 1] }),
      yaxis2: axis("loss", { type: "log", domain: [0, 0.34], dtick: 1 }),
      ...grokLines(runs, colorOf),
      legend: legendBelow(-0.18),
      hovermode: "x unified",
      uirevision: "explorer",
    }),
  };
}

/** R̄ of gradient-SED (solid) and update-SED (dashed) at each measurement, log axis. */
export function explorerCoupling(runs: ExplorerRun[]): Figure {
  const colorOf = runColor(runs);
  const data: Data[] = [];
  runs.forEach((run, i) => {
    for (const source of SOURCES) {
      const curve = run.coupling?.[source].curve ?? [];
      data.push({
        x: curve.map((p) => p.step),
        y: curve.map((p) => p.Rbar),
        name: `${source}-SED R̄${run.reference ? ` (${run.label})` : ""}`,
        mode: "lines+markers",
        line: lineStyle(run, colorOf(i), SOURCE_DASH[source]),
        marker: { size: run.reference ? 4 : 7, symbol: source === "gradient" ? "circle" : "square" },
      });
    }
  });
  return {
    data,
    layout: baseLayout(
      "Coupling R̄ to the linear centroids: gradient-SED (solid) vs update-SED (dashed)",
      HEIGHT.md,
      {
        xaxis: stepAxis(),
        yaxis: axis("R̄ = mean_k A(v_k) / median A(random)", { type: "log", dtick: 1 }),
        ...grokLines(runs, colorOf),
        legend: legendBelow(-0.22),
        uirevision: "explorer",
      },
    ),
  };
}

/** The singular values σ_j / σ_1 of each source's latest window (the spectral edge sits after the top few). */
export function explorerSpectrum(runs: ExplorerRun[]): Figure {
  const colorOf = runColor(runs);
  const data: Data[] = [];
  let atStep: number | undefined;
  runs.forEach((run, i) => {
    for (const source of SOURCES) {
      const last = run.coupling?.[source].curve.at(-1);
      if (!run.reference && last) atStep = last.step;
      const sigma = last?.sigma ?? [];
      const top = sigma[0] || 1;
      data.push({
        x: sigma.map((_, j) => j + 1),
        y: sigma.map((s) => s / top),
        name: `${source}${last ? ` @ step ${last.step}` : ""}${run.reference ? ` (${run.label})` : ""}`,
        mode: "lines+markers",
        line: lineStyle(run, colorOf(i), SOURCE_DASH[source]),
        marker: { size: run.reference ? 4 : 7 },
      });
    }
  });
  const title = `Singular spectrum of the current window${atStep === undefined ? "" : ` (step ${atStep})`}`;
  return {
    data,
    layout: baseLayout(title, HEIGHT.sm, {
      xaxis: axis("j (singular value index)", { dtick: 1 }),
      yaxis: axis("σ_j / σ_1", { type: "log" }),
      legend: legendBelow(-0.25),
      uirevision: "explorer",
    }),
  };
}

/** The three figures by their div ids (the page and its test use these ids). */
export const EXPLORER_FIGURES = {
  "fig-training": explorerTraining,
  "fig-coupling": explorerCoupling,
  "fig-spectrum": explorerSpectrum,
} as const;
