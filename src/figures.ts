// Plotly figures built from run records (plain data in, figure spec out). Plotting never trains.
import type { Figure } from "./nbdisplay";
import type { RunRecord } from "./records";

const TRAIN = "#1f77b4";
const TEST = "#d62728";

/** Train/test accuracy and train loss against step, with the grok step (test accuracy ≥ 0.5) marked. */
export function trainingCurves(r: RunRecord, title?: string): Figure {
  const steps = r.metrics.map((m) => m.step);
  const grok = r.grokStep;
  const label = `${r.task} mod ${r.config.p}, seed ${r.config.seed}, ${r.config.preset} preset`;
  return {
    data: [
      {
        x: steps,
        y: r.metrics.map((m) => m.trainAcc),
        name: "train accuracy",
        mode: "lines",
        line: { color: TRAIN },
      },
      {
        x: steps,
        y: r.metrics.map((m) => m.testAcc),
        name: "test accuracy",
        mode: "lines",
        line: { color: TEST },
      },
      {
        x: steps,
        y: r.metrics.map((m) => m.loss),
        name: "train loss",
        mode: "lines",
        line: { color: "#555", dash: "dot" },
        yaxis: "y2",
      },
    ],
    layout: {
      title: { text: title ?? `Grokking: ${label}` },
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: "accuracy" }, range: [0, 1.02], domain: [0.42, 1] },
      yaxis2: { title: { text: "loss" }, type: "log", domain: [0, 0.34] },
      shapes:
        grok === null
          ? []
          : [
              {
                type: "line",
                x0: grok,
                x1: grok,
                yref: "paper",
                y0: 0,
                y1: 1,
                line: { dash: "dash", color: "#2ca02c" },
              },
            ],
      annotations:
        grok === null
          ? []
          : [
              {
                x: grok,
                yref: "paper",
                y: 1.02,
                text: `grok step ${grok}`,
                showarrow: false,
                font: { color: "#2ca02c" },
              },
            ],
      legend: { orientation: "h", y: -0.15 },
      height: 520,
      hovermode: "x unified",
    },
  };
}

/** Test accuracy of several runs on one axis (e.g. the quick and the paper preset). */
export function testAccuracyOverlay(records: RunRecord[], title = "Test accuracy"): Figure {
  return {
    data: records.map((r) => ({
      x: r.metrics.map((m) => m.step),
      y: r.metrics.map((m) => m.testAcc),
      name: `${r.task} ${r.config.preset} seed ${r.config.seed} (frac ${r.config.frac})`,
      mode: "lines" as const,
    })),
    layout: {
      title: { text: title },
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: "test accuracy" }, range: [0, 1.02] },
      height: 400,
    },
  };
}
