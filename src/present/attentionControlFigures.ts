// Figures of the attention-control runs (notebook 07): grok step against how far attention moved, and per-arm
// curves of test accuracy and attention displacement. Records and rows in, Plotly specs out.
import { CONDITION_ORDER, type ControlRow, conditionOf } from "../analysis/attentionControls";
import type { AttentionResult } from "../records/results";
import type { RunRecord } from "../records/schema";
import type { Data, Figure, Layout } from "./nbdisplay";
import { ACC_RANGE, axis, baseLayout, C10, GROK_SYMBOL, HEIGHT, INK, legendBelow, stepAxis } from "./style";

/** One colour per arm (control dark, as in notebook 04). */
const CONDITION_COLORS: Record<string, string> = {
  control: INK.dark,
  "freeze attention at init": C10.brown,
  "freeze attention": C10.red,
  "zero attention gradient": C10.purple,
  "attention lr ×0.01": C10.orange,
  "attention lr ×0.1": C10.olive,
  "attention lr ×10": C10.pink,
  "keep random, norm-matched": C10.green,
  "Grokfast (all)": C10.blue,
  "Grokfast (attention)": C10.cyan,
};
const colorOf = (c: string) => CONDITION_COLORS[c] ?? C10.grey;
const OP_SYMBOL = { add: "circle", mul: "square", sub: "diamond", sq_sum: "cross" } as const;
type Symbol = (typeof OP_SYMBOL)[keyof typeof OP_SYMBOL] | (typeof GROK_SYMBOL)[keyof typeof GROK_SYMBOL];
const symbolOf = (op: string): Symbol => (OP_SYMBOL as Record<string, Symbol>)[op] ?? GROK_SYMBOL.grokked;

/** Displacements below this are drawn at it (a log axis has no 0: attention frozen at init sits exactly at 0). */
export const DISPLACEMENT_FLOOR = 1e-4;

const inOrder = (conditions: Iterable<string>) => {
  const seen = [...new Set(conditions)];
  return [
    ...CONDITION_ORDER.filter((c) => seen.includes(c)),
    ...seen.filter((c) => !(CONDITION_ORDER as readonly string[]).includes(c)),
  ];
};

/**
 * Grok step against where attention is at that step — its displacement from init (default) or how far its
 * pattern is from uniform (`what: "pattern"`): one point per run, colour = arm, symbol = op.
 */
export function grokVsDisplacement(
  rows: readonly ControlRow[],
  title = "Grok step against how far attention has moved",
  what: "displacement" | "pattern" = "displacement",
): Figure {
  const xOf = (r: ControlRow) => (what === "displacement" ? r.displacementAtGrok : r.patternAtGrok);
  const data: Data[] = inOrder(rows.map((r) => r.condition)).map((condition) => {
    const rs = rows.filter((r) => r.condition === condition);
    return {
      type: "scatter",
      mode: "markers",
      name: condition,
      x: rs.map((r) => Math.max(xOf(r), DISPLACEMENT_FLOOR)),
      y: rs.map((r) => r.grokStep ?? r.steps),
      text: rs.map(
        (r) =>
          `${r.op}, seed ${r.seed}; ${what} ${xOf(r).toPrecision(3)}` +
          `${r.grokStep === null ? `; no grok by ${r.steps}` : ""}`,
      ),
      marker: {
        size: 10,
        color: colorOf(condition),
        symbol: rs.map((r): Symbol => (r.grokStep === null ? GROK_SYMBOL.notGrokked : symbolOf(r.op))),
      },
      hovertemplate: "%{text}<br>grok step %{y}<extra>%{fullData.name}</extra>",
    };
  });
  const xTitle =
    what === "displacement"
      ? `‖θ_attn − θ_attn(0)‖ / ‖θ_attn(0)‖ at the grok step (log; 0 drawn at ${DISPLACEMENT_FLOOR})`
      : `attention pattern at the grok step: mean |softmax − ½| of the position-0 query (log; 0 drawn at ${DISPLACEMENT_FLOOR})`;
  return {
    data,
    layout: baseLayout(title, HEIGHT.xl, {
      xaxis: axis(xTitle, { type: "log" }),
      yaxis: axis("grok step (test accuracy ≥ 0.5; open triangle: the step budget)", { rangemode: "tozero" }),
      legend: legendBelow(-0.25),
      annotations: [
        {
          xref: "paper",
          yref: "paper",
          x: 1,
          y: 1.06,
          showarrow: false,
          xanchor: "right",
          text: Object.entries(OP_SYMBOL)
            .filter(([op]) => rows.some((r) => r.op === op))
            .map(([op, s]) => `${op}: ${s}`)
            .join(" · "),
        },
      ],
    } as Partial<Layout>),
  };
}

/** One line per run, coloured by arm: test accuracy, or (`what: "displacement"`) the attention displacement. */
export function curvesByCondition(
  records: readonly RunRecord[],
  what: "testAcc" | "displacement",
  title: string,
): Figure {
  const data: Data[] = [];
  const shown = new Set<string>();
  const byCondition = new Map<string, RunRecord[]>();
  for (const r of records) {
    const c = r.config.intervention ? conditionOf(r.config.intervention) : "control";
    byCondition.set(c, [...(byCondition.get(c) ?? []), r]);
  }
  for (const condition of inOrder(byCondition.keys())) {
    for (const r of byCondition.get(condition) ?? []) {
      const att = r.attention as AttentionResult | undefined;
      const pts =
        what === "testAcc"
          ? r.metrics.map((m) => ({ x: m.step, y: m.testAcc }))
          : (att?.points ?? []).map((p) => ({ x: p.step, y: p.displacement }));
      data.push({
        type: "scatter",
        mode: "lines",
        x: pts.map((p) => p.x),
        y: pts.map((p) => p.y),
        name: condition,
        legendgroup: condition,
        showlegend: !shown.has(condition),
        line: { color: colorOf(condition), width: 1.5 },
        hovertemplate: `${condition}, ${r.task}, seed ${r.config.seed}<br>step %{x}: %{y:.3f}<extra></extra>`,
      });
      shown.add(condition);
    }
  }
  return {
    data,
    layout: baseLayout(title, HEIGHT.lg, {
      xaxis: stepAxis(),
      yaxis:
        what === "testAcc"
          ? axis("test accuracy", { range: ACC_RANGE })
          : axis("‖θ_attn − θ_attn(0)‖ / ‖θ_attn(0)‖", { rangemode: "tozero" }),
      legend: legendBelow(),
    } as Partial<Layout>),
  };
}
