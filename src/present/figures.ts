// Plotly figures built from run records (plain data in, figure spec out). Plotting never trains.

import {
  armOf,
  type driftCurves,
  type InterventionRow,
  MODE_LABEL,
  MODES,
  type SpeedupRow,
} from "../analysis/interventions";
import { couplingOf, normalisedCurve } from "../analysis/sed";
import { SOURCES, type Source } from "../records/results";
import type { RunRecord } from "../records/schema";
import type { Data, Figure, Layout } from "./nbdisplay";
import {
  ACC_RANGE,
  axis,
  baseLayout,
  GROK_SYMBOL,
  grokDot,
  grokMarker,
  HEIGHT,
  INK,
  legendBelow,
  MODE_COLORS,
  opColor,
  panelGrid,
  refLine,
  SOURCE_DASH,
  stepAxis,
  TRAIN_TEST,
} from "./style";

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
        line: { color: TRAIN_TEST.train },
      },
      {
        x: steps,
        y: r.metrics.map((m) => m.testAcc),
        name: "test accuracy",
        mode: "lines",
        line: { color: TRAIN_TEST.test },
      },
      {
        x: steps,
        y: r.metrics.map((m) => m.loss),
        name: "train loss",
        mode: "lines",
        line: { color: TRAIN_TEST.loss, dash: "dot" },
        yaxis: "y2",
      },
    ],
    layout: baseLayout(title ?? `Grokking: ${label}`, HEIGHT.xl, {
      xaxis: stepAxis(),
      yaxis: axis("accuracy", { range: ACC_RANGE, domain: [0.42, 1] }),
      yaxis2: axis("loss", { type: "log", domain: [0, 0.34] }),
      ...grokMarker(grok, "accent"),
      legend: legendBelow(-0.15),
      hovermode: "x unified",
    }),
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
    layout: baseLayout(title, HEIGHT.sm, {
      xaxis: stepAxis(),
      yaxis: axis("test accuracy", { range: ACC_RANGE }),
    }),
  };
}

/** Test accuracy of runs of several ops, grok steps marked with dots. */
export function accuracyByOp(records: RunRecord[], title = "Test accuracy"): Figure {
  const data: Data[] = [];
  for (const r of records) {
    const name = `${r.task} seed ${r.config.seed}`;
    data.push({
      x: r.metrics.map((m) => m.step),
      y: r.metrics.map((m) => m.testAcc),
      name,
      legendgroup: r.task,
      mode: "lines",
      line: { color: opColor(r.task), width: 1.5 },
    });
    if (r.grokStep !== null) {
      data.push({
        x: [r.grokStep],
        y: [r.metrics.find((m) => m.step === r.grokStep)?.testAcc ?? 0.5],
        name: `${name}: grok step ${r.grokStep}`,
        legendgroup: r.task,
        showlegend: false,
        mode: "markers",
        marker: grokDot(opColor(r.task)),
      });
    }
  }
  return {
    data,
    layout: baseLayout(title, HEIGHT.lg, {
      xaxis: stepAxis(),
      yaxis: axis("test accuracy", { range: ACC_RANGE }),
    }),
  };
}

/** Singular values of a source's rolling window over the run (heatmap, log scale) and its spectral gap. */
export function spectrumHeatmap(r: RunRecord, source: Source): Figure {
  const curve = couplingOf(r)[source].curve;
  const W = Math.max(0, ...curve.map((p) => p.sigma.length));
  const z = Array.from({ length: W }, (_, j) =>
    curve.map((p) => Math.log10(Math.max(p.sigma[j] ?? 0, 1e-12))),
  );
  return {
    data: [
      {
        type: "heatmap",
        x: curve.map((p) => p.step),
        y: Array.from({ length: W }, (_, j) => j + 1),
        z,
        colorscale: "Viridis",
        colorbar: { title: { text: "log₁₀ σ" } },
        hovertemplate: "step %{x}<br>σ_%{y}: 10^%{z:.2f}<extra></extra>",
      },
      {
        x: curve.map((p) => p.step),
        y: curve.map((p) => p.gapIndex + 0.5),
        name: "spectral gap k* (between σ_k* and σ_k*+1)",
        mode: "lines+markers",
        line: { color: INK.white, dash: "dot" },
        customdata: curve.map((p) => p.gapRatio),
        hovertemplate: "step %{x}<br>gap after σ_%{y:.0f}, ratio %{customdata:.2f}<extra></extra>",
      },
    ],
    layout: baseLayout(
      `${source}-SED singular values over training: ${r.task}, seed ${r.config.seed}`,
      HEIGHT.md,
      {
        xaxis: stepAxis(),
        yaxis: axis("singular value index j", { autorange: "reversed" }),
        legend: legendBelow(),
        ...grokMarker(r.grokStep),
      },
    ),
  };
}

/** R_1..R_K of one source over a run (log axis). */
export function rkOverTime(r: RunRecord, source: Source): Figure {
  const curve = couplingOf(r)[source].curve;
  const K = Math.max(0, ...curve.map((p) => p.R.length));
  const data: Data[] = Array.from({ length: K }, (_, k) => ({
    x: curve.map((p) => p.step),
    y: curve.map((p) => p.R[k]),
    name: `R_${k + 1}`,
    mode: "lines+markers" as const,
  }));
  data.push({
    x: curve.map((p) => p.step),
    y: curve.map((p) => p.Rbar),
    name: "R̄ (mean)",
    mode: "lines",
    line: { color: INK.black, width: 3 },
  });
  return {
    data,
    layout: baseLayout(
      `${source}-SED coupling R_k over training: ${r.task}, seed ${r.config.seed}`,
      HEIGHT.md,
      {
        xaxis: stepAxis(),
        yaxis: axis("R_k = A(v_k) / median A(random)", { type: "log" }),
        ...grokMarker(r.grokStep),
      },
    ),
  };
}

/** Update- vs gradient-SED R̄ against step / grok step, one panel per op, every seed, log axis. */
export function updateVsGradient(records: RunRecord[]): Figure {
  const ops = [...new Set(records.map((r) => r.task))];
  const { layout, axesOf, setAxes } = panelGrid(
    ops.length,
    "Coupling R̄ to the linear centroids: gradient-SED (solid) vs update-SED (dashed)",
    { panelHeight: 320, pad: 80 },
  );
  const data: Data[] = [];
  ops.forEach((op, i) => {
    for (const r of records.filter((x) => x.task === op)) {
      for (const source of SOURCES) {
        const c = normalisedCurve(r, source);
        data.push({
          x: c.x,
          y: c.y,
          name: `${op} ${source} seed ${r.config.seed}`,
          mode: "lines+markers",
          line: { color: opColor(op), dash: SOURCE_DASH[source] },
          marker: { size: 4 },
          ...axesOf(i),
          showlegend: false,
          hovertemplate: `${op} ${source} seed ${r.config.seed}<br>step/grok %{x:.2f}<br>R̄ %{y:.1f}<extra></extra>`,
        });
      }
    }
    setAxes(i, axis("step / grok step"), axis(`${op}: R̄`, { type: "log" }));
  });
  return { data, layout };
}

/** An ablation: peak R_1 of the gradient source against a setting (log–log), ours and the paper's points. */
function ablationFigure(
  points: { x: number; peakR1: number | null }[],
  paper: Record<number, number>,
  title: string,
  xTitle: string,
): Figure {
  return {
    data: [
      {
        x: points.map((p) => p.x),
        y: points.map((p) => p.peakR1),
        name: "ours (gradient-SED)",
        mode: "lines+markers",
      },
      {
        x: Object.keys(paper).map(Number),
        y: Object.values(paper),
        name: "paper",
        mode: "markers",
        marker: { symbol: "x", size: 12 },
      },
    ],
    layout: baseLayout(title, HEIGHT.sm, {
      xaxis: axis(xTitle, { type: "log" }),
      yaxis: axis("peak R_1", { type: "log" }),
    }),
  };
}

/** Peak R_1 against the window size W (ours and the paper's published points). */
export function windowAblationFigure(
  points: { W: number; peakR1: number | null }[],
  paper: Record<number, number>,
): Figure {
  return ablationFigure(
    points.map((p) => ({ x: p.W, peakR1: p.peakR1 })),
    paper,
    "Window ablation: peak R_1 vs window size W (add, seed 42)",
    "W (checkpoints)",
  );
}

/** Peak R_1 against ε_rel, ours and the paper's. */
export function epsAblationFigure(
  points: { eps: number; peakR1: number | null }[],
  paper: Record<number, number>,
): Figure {
  return ablationFigure(
    points.map((p) => ({ x: p.eps, peakR1: p.peakR1 })),
    paper,
    "ε ablation: peak R_1 vs ε_rel (add, seed 42)",
    "ε_rel (× ‖θ_attn‖)",
  );
}

// --- Causal interventions (notebook 04) ---

/** Grok step of every run per mode (one marker per seed), one trace per arm (op, projection, …). */
export function grokStepsByMode(rows: InterventionRow[], title = "Grok step per intervention mode"): Figure {
  const arms = [...new Set(rows.map(armOf))];
  return {
    data: arms.map((arm) => {
      const rs = rows.filter((r) => armOf(r) === arm);
      return {
        x: rs.map((r) => MODE_LABEL[r.mode]),
        y: rs.map((r) => r.grokStep ?? r.steps),
        text: rs.map((r) => `seed ${r.seed}${r.grokStep === null ? ` (no grok by ${r.steps})` : ""}`),
        name: arm,
        mode: "markers" as const,
        type: "scatter" as const,
        marker: {
          size: 10,
          symbol: rs.map((r) => (r.grokStep === null ? GROK_SYMBOL.notGrokked : GROK_SYMBOL.grokked)),
        },
        hovertemplate: "%{x}<br>grok step %{y}<br>%{text}<extra>%{fullData.name}</extra>",
      };
    }),
    layout: baseLayout(title, HEIGHT.lg, {
      xaxis: axis("mode", { categoryorder: "array", categoryarray: MODES.map((m) => MODE_LABEL[m]) }),
      yaxis: axis("grok step (test accuracy ≥ 0.5)", { rangemode: "tozero" }),
      scattermode: "group",
      legend: legendBelow(),
    } as Partial<Layout>),
  };
}

/** Speed-up over control per mode (bars, ours) with the paper's published values as diamonds. */
export function speedupBars(rows: SpeedupRow[], title = "Speed-up of grokking over control"): Figure {
  const arms = [...new Set(rows.map((r) => `${r.op}, ${r.projection} projection`))];
  const data: Data[] = arms.map((arm) => {
    const rs = rows.filter((r) => `${r.op}, ${r.projection} projection` === arm);
    return {
      type: "bar" as const,
      name: arm,
      x: rs.map((r) => MODE_LABEL[r.mode]),
      y: rs.map((r) => r.speedup),
      hovertemplate: "%{x}: %{y:.2f}×<extra>%{fullData.name}</extra>",
    };
  });
  const paper = rows.filter((r) => r.paperSpeedup !== null);
  if (paper.length) {
    data.push({
      type: "scatter",
      mode: "markers",
      name: "paper",
      x: paper.map((r) => MODE_LABEL[r.mode]),
      y: paper.map((r) => r.paperSpeedup),
      text: paper.map((r) => `${r.op}, ${r.projection} projection`),
      marker: { symbol: "diamond", size: 12, color: INK.black },
      hovertemplate: "paper %{text}: %{y:.2f}×<extra></extra>",
    });
  }
  return {
    data,
    layout: baseLayout(title, HEIGHT.lg, {
      barmode: "group",
      xaxis: { categoryorder: "array", categoryarray: MODES.map((m) => MODE_LABEL[m]) },
      yaxis: axis("control grok step ÷ grok step"),
      shapes: [refLine(1)],
      legend: legendBelow(),
    }),
  };
}

/** Test accuracy over training, one colour per mode and one line per seed. */
export function accuracyByMode(records: RunRecord[], title = "Test accuracy per mode"): Figure {
  const data: Data[] = [];
  const shown = new Set<string>();
  for (const r of records) {
    const mode = r.config.intervention?.mode ?? "control";
    data.push({
      x: r.metrics.map((m) => m.step),
      y: r.metrics.map((m) => m.testAcc),
      name: MODE_LABEL[mode],
      legendgroup: mode,
      showlegend: !shown.has(mode),
      mode: "lines",
      line: { color: MODE_COLORS[mode], width: 1.5 },
      hovertemplate: `${MODE_LABEL[mode]}, seed ${r.config.seed}<br>step %{x}: %{y:.3f}<extra></extra>`,
    });
    shown.add(mode);
  }
  return {
    data,
    layout: baseLayout(title, HEIGHT.md, {
      xaxis: stepAxis(),
      yaxis: axis("test accuracy", { range: ACC_RANGE }),
    }),
  };
}

/** How far the SED basis moves: the largest principal angle between the first basis and the current one. */
export function driftFigure(
  curves: ReturnType<typeof driftCurves>,
  title = "Drift of the SED basis",
): Figure {
  return {
    data: curves.map((c) => ({
      x: c.step,
      y: c.maxAngle,
      name: `${MODE_LABEL[c.mode]}, ${c.op} seed ${c.seed}`,
      legendgroup: c.mode,
      mode: "lines" as const,
      line: { color: MODE_COLORS[c.mode], width: 1.5 },
    })),
    layout: baseLayout(title, HEIGHT.md, {
      xaxis: stepAxis(),
      yaxis: axis("largest principal angle to the step-20 basis (°)", { range: [0, 90] }),
    }),
  };
}

/** keep-random grok step against the kept rank (log axis), with control's mean as a line. */
export function rankFigure(
  rows: InterventionRow[],
  title = "keep-random: grok step vs kept rank (add)",
): Figure {
  const kr = rows.filter(
    (r) => r.mode === "keep-random" && r.weightDecay === 1 && r.projection === "gradient",
  );
  const ctrl = rows.filter((r) => r.mode === "control" && r.weightDecay === 1 && r.op === "add");
  const c = ctrl.length ? ctrl.reduce((s, r) => s + (r.grokStep ?? r.steps), 0) / ctrl.length : null;
  return {
    data: [
      {
        x: kr.map((r) => r.rank),
        y: kr.map((r) => r.grokStep ?? r.steps),
        text: kr.map((r) => `seed ${r.seed}`),
        mode: "markers",
        name: "keep-random (one marker per seed)",
        marker: { size: 10, color: MODE_COLORS["keep-random"] },
      },
    ],
    layout: baseLayout(title, HEIGHT.sm, {
      xaxis: axis("rank r of the kept random subspace", { type: "log" }),
      yaxis: axis("grok step", { rangemode: "tozero" }),
      shapes: c === null ? [] : [refLine(c, MODE_COLORS.control)],
      annotations:
        c === null
          ? []
          : [{ xref: "paper", x: 1, y: c, text: "control (mean)", showarrow: false, yanchor: "bottom" }],
    }),
  };
}
