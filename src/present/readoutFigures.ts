// Figures of the readouts (notebook 06): the functional mode f(a, b) of the top SED directions as a heatmap,
// their spectra, the embedding's key frequencies over training, and the per-example SVD's R_k beside the paper.
import { PAPER_READOUTS, type PerExampleRow, pointFor, readoutsOf } from "../analysis/readouts";
import type { RunRecord } from "../records/schema";
import type { Data, Figure, Layout } from "./nbdisplay";
import { axis, baseLayout, C10, grokMarker, HEIGHT, INK, legendBelow, opColor, stepAxis } from "./style";

const SOURCE_COLOR = { update: C10.grey, gradient: C10.red } as const;

/** f(a, b) = ‖Δh‖² of the top update- and gradient-SED direction at the last readout with SED modes. */
export function modeFieldHeatmaps(r: RunRecord): Figure {
  const f = readoutsOf(r)?.fields;
  if (!f) throw new Error(`run ${r.id} has no functional-mode field (no readouts, or no SED measurement)`);
  const ticks = Array.from({ length: f.side }, (_, i) => f.lo + i);
  const sources = (["update", "gradient"] as const).filter((s) => f[s]);
  const data: Data[] = sources.map((s, i) => {
    const v = f[s] as number[];
    return {
      type: "heatmap",
      x: ticks,
      y: ticks,
      z: ticks.map((_, a) => v.slice(a * f.side, (a + 1) * f.side)),
      colorscale: "Viridis",
      showscale: i === sources.length - 1,
      xaxis: i === 0 ? "x" : `x${i + 1}`,
      yaxis: i === 0 ? "y" : `y${i + 1}`,
      hovertemplate: `${s}-SED: a %{y}, b %{x}<br>f = %{z:.3g}<extra></extra>`,
    } as Data;
  });
  const layout: Partial<Layout> = {
    ...baseLayout(
      `f(a, b) = ‖Δh‖² of the top SED direction: ${r.task}, seed ${r.config.seed}, step ${f.step}`,
      HEIGHT.xl,
    ),
    grid: { rows: 1, columns: sources.length, pattern: "independent" },
    annotations: sources.map((s, i) => ({
      text: `${s}-SED`,
      xref: "paper",
      yref: "paper",
      x: (i + 0.5) / sources.length,
      y: 1.04,
      showarrow: false,
      xanchor: "center",
    })),
  };
  sources.forEach((_, i) => {
    const k = i === 0 ? "" : `${i + 1}`;
    (layout as Record<string, unknown>)[`xaxis${k}`] = axis("b");
    (layout as Record<string, unknown>)[`yaxis${k}`] = axis("a", { scaleanchor: `x${k}` });
  });
  return { data, layout };
}

/** Answer-grouped (and, for mul, discrete-log) spectrum of the top directions at a stage, with the null's F. */
export function modeSpectra(r: RunRecord, stage: "mid" | "post-grok" | "end" = "end"): Figure {
  const ro = readoutsOf(r);
  const pt = ro ? pointFor(ro, stage) : null;
  if (!pt?.modes) throw new Error(`run ${r.id} has no ${stage} readout with SED modes`);
  const data: Data[] = [];
  for (const s of ["update", "gradient"] as const) {
    const m = pt.modes[s]?.[0];
    if (!m) continue;
    data.push({
      type: "scatter",
      mode: "lines+markers",
      name: `${s}-SED, by answer (F ${m.answer.F.toFixed(2)}, ω ${m.answer.peak})`,
      x: m.answer.power.map((_, i) => i + 1),
      y: m.answer.power,
      line: { color: SOURCE_COLOR[s] },
    });
    if (m.log)
      data.push({
        type: "scatter",
        mode: "lines+markers",
        name: `${s}-SED, discrete-log basis (F ${m.log.F.toFixed(2)}, ω ${m.log.peak})`,
        x: m.log.power.map((_, i) => i + 1),
        y: m.log.power,
        line: { color: SOURCE_COLOR[s], dash: "dash" },
      });
  }
  const nullF = pt.randomModes.map((m) => m.answer.F).sort((a, b) => a - b);
  const med = nullF.length ? nullF[nullF.length >> 1] : 0;
  return {
    data,
    layout: baseLayout(
      `Spectrum of the top SED direction's f(a, b): ${r.task}, seed ${r.config.seed}, step ${pt.step}`,
      HEIGHT.md,
      {
        xaxis: axis("frequency ω"),
        yaxis: axis("share of power", { rangemode: "tozero" }),
        legend: legendBelow(),
        shapes: [
          {
            type: "line",
            xref: "paper",
            x0: 0,
            x1: 1,
            y0: med,
            y1: med,
            line: { dash: "dot", color: INK.ref },
          },
        ],
        annotations: [
          {
            xref: "paper",
            x: 1,
            y: med,
            xanchor: "right",
            yanchor: "bottom",
            showarrow: false,
            text: `random directions: median F ${med.toFixed(2)}`,
          },
        ],
      } as Partial<Layout>,
    ),
  };
}

/** The token embedding's power per frequency over training (heatmap), with the grok step marked. */
export function keyFrequencyHeatmap(r: RunRecord): Figure {
  const ro = readoutsOf(r);
  if (!ro?.keyFrequencies.length) throw new Error(`run ${r.id} has no key-frequency readout`);
  const kf = ro.keyFrequencies;
  const W = kf[0].power.length;
  return {
    data: [
      {
        type: "heatmap",
        x: kf.map((k) => k.step),
        y: Array.from({ length: W }, (_, i) => i + 1),
        z: Array.from({ length: W }, (_, w) => kf.map((k) => k.power[w])),
        colorscale: "Viridis",
        colorbar: { title: { text: "share" } },
        hovertemplate: "step %{x}, ω %{y}: %{z:.3f}<extra></extra>",
      },
    ],
    layout: baseLayout(`Token embedding's power per frequency: ${r.task}, seed ${r.config.seed}`, HEIGHT.md, {
      xaxis: stepAxis(),
      yaxis: axis("frequency ω"),
      ...grokMarker(r.grokStep),
    }),
  };
}

/** Per-example SVD R_1 at each stage, one point per run, the paper's values as diamonds. */
export function perExampleFigure(rows: readonly PerExampleRow[]): Figure {
  const stages = ["init", "mid", "post-grok", "end"];
  const ops = [...new Set(rows.map((r) => r.op))];
  const data: Data[] = ops.map((op) => {
    const rs = rows.filter((r) => r.op === op);
    return {
      type: "scatter",
      mode: "markers",
      name: op,
      x: rs.map((r) => r.stage),
      y: rs.map((r) => r.R[0]),
      text: rs.map(
        (r) =>
          `seed ${r.seed}, step ${r.step}; R = ${r.R.map((x) => x.toFixed(0)).join(", ")}; |cos| ${r.cosTop.toFixed(2)}`,
      ),
      marker: { size: 10, color: opColor(op) },
      hovertemplate: "%{text}<extra>%{fullData.name}</extra>",
    };
  });
  data.push({
    type: "scatter",
    mode: "markers",
    name: "paper",
    x: Object.keys(PAPER_READOUTS.perExampleR),
    y: Object.values(PAPER_READOUTS.perExampleR),
    marker: { symbol: "diamond", size: 12, color: INK.black },
  });
  return {
    data,
    layout: baseLayout("Per-example gradient SVD: coupling R_1 of its top direction", HEIGHT.md, {
      xaxis: { categoryorder: "array", categoryarray: stages },
      yaxis: axis("R_1 (log)", { type: "log" }),
      scattermode: "group",
      legend: legendBelow(),
    } as Partial<Layout>),
  };
}
