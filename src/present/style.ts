// The one figure style of figures.ts and multitaskFigures.ts: the palette (per op, task seed, SED source,
// intervention mode), the grok-step markers, reference lines, the default layout pieces (title, heights, axes,
// legend) and the panel grid that lays out one independent subplot per op or task. No figure module writes a
// colour, a height or a grid of its own.

import type { Mode } from "../analysis/interventions";
import type { MultitaskSource, Source } from "../records/results";
import type { Layout } from "./nbdisplay";

// --- Palette ---

/** Plotly's category-10 colours by name: every categorical colour of the figures is one of these. */
export const C10 = {
  blue: "#1f77b4",
  orange: "#ff7f0e",
  green: "#2ca02c",
  red: "#d62728",
  purple: "#9467bd",
  brown: "#8c564b",
  grey: "#7f7f7f",
  olive: "#bcbd22",
  cyan: "#17becf",
  pink: "#e377c2",
} as const;

/** Neutral inks: reference lines, the loss curve, control, the paper's points, lines drawn over a heatmap. */
export const INK = { dark: "#444", loss: "#555", ref: "#888", black: "#000", white: "white" } as const;

/** The explorer's opened records, in order (its live run keeps the train/test colours and green). */
export const REFERENCE_COLORS = [C10.purple, C10.brown, C10.pink, C10.olive, C10.cyan] as const;
export const referenceColor = (i: number): string => REFERENCE_COLORS[i % REFERENCE_COLORS.length];

/** Train and test accuracy and the train loss of one run. */
export const TRAIN_TEST = { train: C10.blue, test: C10.red, loss: INK.loss } as const;

/** One colour per op (an op without one gets purple). */
export const OP_COLORS: Record<string, string> = {
  add: C10.blue,
  sub: C10.orange,
  mul: C10.green,
  sq_sum: C10.red,
};
export const opColor = (op: string): string => OP_COLORS[op] ?? C10.purple;

/** Single-task SED sources by dash: gradient solid, update dashed. */
export const SOURCE_DASH: Record<Source, "solid" | "dash"> = { gradient: "solid", update: "dash" };

/** Multitask SED sources: colour and legend label. */
export const MULTITASK_SOURCE_STYLE: Record<MultitaskSource, { color: string; label: string }> = {
  perTask: { color: C10.red, label: "per-task gradient-SED" },
  aggregate: { color: C10.blue, label: "aggregate gradient-SED" },
  update: { color: C10.grey, label: "update-SED" },
};

/** Intervention modes by colour. */
export const MODE_COLORS: Record<Mode, string> = {
  control: INK.dark,
  "remove-sed": C10.orange,
  "keep-sed": C10.blue,
  "remove-random": C10.olive,
  "keep-random": C10.cyan,
  "freeze-attention": C10.red,
  "freeze-attention-at-init": C10.brown,
  "zero-attention-gradient": C10.purple,
  "scale-attention-lr": C10.pink,
  "keep-random-norm-matched": C10.green,
  grokfast: C10.grey,
  "grokfast-attention": INK.black,
};

/** Runs (seeds) told apart by colour, cycling. */
export const SEED_COLORS = [C10.blue, C10.orange, C10.green, C10.purple, C10.brown] as const;
export const seedColor = (i: number): string => SEED_COLORS[i % SEED_COLORS.length];

/** Runs (seeds) told apart by dash, cycling. */
export const SEED_DASH = ["solid", "dash", "dot", "dashdot", "longdash"] as const;
export const seedDash = (i: number): (typeof SEED_DASH)[number] => SEED_DASH[i % SEED_DASH.length];

// --- Grok step ---

/** The dot on a test-accuracy curve at the grok step (test accuracy ≥ 0.5). */
export const grokDot = (color: string) => ({ color, size: 9, symbol: "circle-open" as const });

/** Grok-step markers on a categorical axis: a run that grokked, and one that did not by the end (plotted there). */
export const GROK_SYMBOL = { grokked: "circle", notGrokked: "triangle-up-open" } as const;

/**
 * The grok step as a dashed vertical line over the whole plot with its label above. `accent` (the training-curves
 * figure) draws it green with a green "grok step N"; `plain` (figures whose colours carry other meaning) grey
 * "grok N". Nothing when the run never grokked.
 */
const GROK_MARKER = {
  accent: { color: C10.green, label: "grok step", y: 1.02, colorLabel: true },
  plain: { color: INK.ref, label: "grok", y: 1.04, colorLabel: false },
} as const;

export function grokMarker(
  grok: number | null,
  variant: keyof typeof GROK_MARKER = "plain",
): Pick<Partial<Layout>, "shapes" | "annotations"> {
  if (grok === null) return {};
  const s = GROK_MARKER[variant];
  return {
    shapes: [
      {
        type: "line",
        x0: grok,
        x1: grok,
        yref: "paper",
        y0: 0,
        y1: 1,
        line: { dash: "dash", color: s.color },
      },
    ],
    annotations: [
      {
        x: grok,
        yref: "paper",
        y: s.y,
        text: `${s.label} ${grok}`,
        showarrow: false,
        ...(s.colorLabel ? { font: { color: s.color } } : {}),
      },
    ],
  };
}

/** A dotted horizontal reference line across the plot at y (speed-up 1, control's mean, orthogonal gradients). */
export function refLine(y: number, color: string = INK.ref): NonNullable<Layout["shapes"]>[number] {
  return { type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { dash: "dot", color } };
}

// --- Default layout ---

/** Figure heights (px): one-axis figures by how much they hold, and the panel grid's per-row height and padding. */
export const HEIGHT = {
  sm: 400,
  md: 420,
  lg: 450,
  xl: 520,
  panel: 300,
  panelPad: 100,
} as const;

/** The accuracy axis range (a little headroom above 1 so a curve at 1 stays visible). */
export const ACC_RANGE: [number, number] = [0, 1.02];

/** An axis with a title, plus any other axis settings. */
export const axis = (text: string, rest: Record<string, unknown> = {}) => ({ title: { text }, ...rest });

/** The step axis most figures share. */
export const stepAxis = () => axis("step");

/** A horizontal legend below the plot. */
export const legendBelow = (y = -0.2) => ({ orientation: "h" as const, y });

/** The default layout: a title and a height, plus the figure's own axes, shapes, legend. */
export function baseLayout(title: string, height: number, rest: Partial<Layout> = {}): Partial<Layout> {
  return { title: { text: title }, height, ...rest };
}

// --- Panel grid ---

/**
 * A grid of n independent subplots, two columns, `panelHeight` px per row plus `pad`. `axesOf(i)` names panel i's
 * axes for a trace; `setAxes(i, x, y)` sets its axis layouts.
 */
export function panelGrid(
  n: number,
  title: string,
  opts: { panelHeight?: number; pad?: number; legend?: Partial<Layout["legend"]> } = {},
) {
  const { panelHeight = HEIGHT.panel, pad = HEIGHT.panelPad, legend } = opts;
  const columns = Math.min(2, n);
  const rows = Math.ceil(n / columns);
  const layout: Partial<Layout> = {
    ...baseLayout(title, panelHeight * rows + pad),
    grid: { rows, columns, pattern: "independent" },
    ...(legend ? { legend } : {}),
  };
  const suffix = (i: number) => (i === 0 ? "" : String(i + 1));
  const axesOf = (i: number) => ({ xaxis: `x${suffix(i)}` as "x", yaxis: `y${suffix(i)}` as "y" });
  const setAxes = (i: number, x: object, y: object) => {
    const l = layout as Record<string, unknown>;
    l[`xaxis${suffix(i)}`] = x;
    l[`yaxis${suffix(i)}`] = y;
  };
  return { layout, axesOf, setAxes };
}
