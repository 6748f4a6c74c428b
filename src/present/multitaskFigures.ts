// Plotly figures of multitask runs (plain records in, figure specs out; plotting never trains): per-task
// accuracy, R̄ of the three SED sources over training, subspace angles and gradient cancellation.

import { angleSeries, cancellationSeries, multitaskCouplingOf } from "../analysis/multitask";
import { MULTITASK_SOURCES } from "../records/results";
import type { RunRecord } from "../records/schema";
import type { Data, Figure } from "./nbdisplay";
import {
  ACC_RANGE,
  axis,
  baseLayout,
  grokDot,
  HEIGHT,
  legendBelow,
  MULTITASK_SOURCE_STYLE,
  panelGrid,
  refLine,
  seedColor,
  seedDash,
  stepAxis,
} from "./style";

/** Tasks of the records, in first-seen order. */
function tasksOf(records: RunRecord[]): string[] {
  return [...new Set(records.flatMap((r) => r.config.tasks ?? []))];
}

const runLabel = (r: RunRecord) => `seed ${r.config.seed}, c ${r.config.checkpointEvery}`;

/** One panel per task (the shared panel grid, its legend below). */
const taskGrid = (tasks: string[], title: string, panelHeight?: number) =>
  panelGrid(tasks.length, title, { panelHeight, legend: legendBelow(-0.12) });

/** Test (solid) and train (dotted) accuracy of each task, one panel per task, grok steps marked. */
export function multitaskAccuracy(records: RunRecord[]): Figure {
  const tasks = tasksOf(records);
  const { layout, axesOf, setAxes } = taskGrid(
    tasks,
    "Per-task accuracy (test; dashed: the smaller spacing c; dotted: train; ○ = grok step)",
  );
  const data: Data[] = [];
  const seeds = [...new Set(records.map((r) => r.config.seed))];
  const spacings = [...new Set(records.map((r) => r.config.checkpointEvery))].sort((a, b) => b - a);
  tasks.forEach((task, i) => {
    const ax = axesOf(i);
    for (const r of records) {
      const color = seedColor(seeds.indexOf(r.config.seed));
      const dash = r.config.checkpointEvery === spacings[0] ? "solid" : "dash";
      const steps = r.metrics.map((m) => m.step);
      const show = i === 0;
      data.push({
        x: steps,
        y: r.metrics.map((m) => m.tasks?.[task]?.testAcc ?? null),
        name: `test, ${runLabel(r)}`,
        legendgroup: r.id,
        showlegend: show,
        mode: "lines",
        line: { color, dash, width: 1.5 },
        ...ax,
      });
      data.push({
        x: steps,
        y: r.metrics.map((m) => m.tasks?.[task]?.trainAcc ?? null),
        name: `train, ${runLabel(r)}`,
        legendgroup: r.id,
        showlegend: false,
        mode: "lines",
        line: { color, dash: "dot", width: 1 },
        ...ax,
      });
      const g = r.grokSteps?.[task] ?? null;
      if (g !== null) {
        data.push({
          x: [g],
          y: [r.metrics.find((m) => m.step === g)?.tasks?.[task]?.testAcc ?? 0.5],
          name: `${task} grok step ${g} (${runLabel(r)})`,
          legendgroup: r.id,
          showlegend: false,
          mode: "markers",
          marker: grokDot(color),
          ...ax,
        });
      }
    }
    setAxes(i, stepAxis(), axis(`${task}: accuracy`, { range: ACC_RANGE }));
  });
  return { data, layout };
}

/** R̄ of the three SED sources over training, one panel per task (log axis), one line per run and source. */
export function multitaskCouplingOverTime(records: RunRecord[]): Figure {
  const tasks = tasksOf(records);
  const { layout, axesOf, setAxes } = taskGrid(
    tasks,
    "Coupling R̄ to each task's centroids: per-task gradient-SED, aggregate gradient-SED, update-SED",
  );
  const data: Data[] = [];
  const runs = records.map((r) => r.id);
  tasks.forEach((task, i) => {
    const ax = axesOf(i);
    for (const r of records) {
      const c = multitaskCouplingOf(r);
      for (const src of MULTITASK_SOURCES) {
        const curve = c[src][task]?.curve ?? [];
        const st = MULTITASK_SOURCE_STYLE[src];
        data.push({
          x: curve.map((p) => p.step),
          y: curve.map((p) => p.Rbar),
          name: `${st.label}, ${runLabel(r)}`,
          legendgroup: `${src}${r.id}`,
          showlegend: i === 0,
          mode: "lines+markers",
          marker: { size: 4 },
          line: { color: st.color, dash: seedDash(runs.indexOf(r.id)) },
          hovertemplate: `${task} ${st.label} ${runLabel(r)}<br>step %{x}<br>R̄ %{y:.2f}<extra></extra>`,
          ...ax,
        });
      }
    }
    setAxes(i, stepAxis(), axis(`${task}: R̄`, { type: "log" }));
  });
  return { data, layout };
}

/**
 * Mean principal angle between each task's per-task gradient-SED subspace and the aggregate (solid) and
 * update (dashed) subspaces over training, one panel per task (90° = orthogonal, 0° = the same subspace).
 */
export function subspaceAngles(records: RunRecord[]): Figure {
  const tasks = tasksOf(records);
  const { layout, axesOf, setAxes } = taskGrid(
    tasks,
    "Where the aggregation loses the signal: angle between each task's top-3 gradient subspace and the shared ones",
    280,
  );
  const data: Data[] = [];
  const runs = records.map((r) => r.id);
  tasks.forEach((task, i) => {
    const ax = axesOf(i);
    for (const r of records) {
      for (const against of ["aggregate", "update"] as const) {
        const s = angleSeries(r, against);
        data.push({
          x: s.step,
          y: s.byTask[task] ?? [],
          name: `vs ${against}-SED, ${runLabel(r)}`,
          legendgroup: `${against}${r.id}`,
          showlegend: i === 0,
          mode: "lines+markers",
          marker: { size: 4 },
          line: {
            color: MULTITASK_SOURCE_STYLE[against].color,
            dash: against === "aggregate" ? "solid" : "dash",
            width: runs.indexOf(r.id) === 0 ? 2 : 1,
          },
          ...ax,
        });
      }
    }
    setAxes(i, stepAxis(), axis(`${task}: mean principal angle (°)`, { range: [0, 92] }));
  });
  return { data, layout };
}

/** The cancellation ratio ‖Σ_t g_t‖ / Σ_t ‖g_t‖ over training, one line per run, grok steps marked. */
export function cancellationFigure(records: RunRecord[]): Figure {
  const data: Data[] = records.map((r) => {
    const s = cancellationSeries(r);
    return { x: s.step, y: s.ratio, name: runLabel(r), mode: "lines" as const };
  });
  const nTasks = Math.max(2, ...records.map((r) => r.config.tasks?.length ?? 2));
  const orth = 1 / Math.sqrt(nTasks);
  return {
    data,
    layout: baseLayout(
      "Gradient cancellation across tasks: ‖Σ_t g_t‖ / Σ_t ‖g_t‖ (attention weights)",
      HEIGHT.sm,
      {
        xaxis: stepAxis(),
        yaxis: axis("ratio", { range: ACC_RANGE }),
        shapes: [refLine(orth)],
        annotations: [
          {
            xref: "paper",
            x: 1,
            y: orth,
            xanchor: "right",
            yanchor: "top",
            text: `${nTasks} orthogonal gradients of equal norm (${orth.toFixed(2)})`,
            showarrow: false,
          },
        ],
      },
    ),
  };
}
