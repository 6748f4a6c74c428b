// Parameter layout: every parameter lives in one flat Float32Array (theta) at a fixed offset, so the optimizer,
// checkpoints and the diagnostics work on plain typed arrays. The attention weight matrices of all layers come
// first and are contiguous: the `attn` group (the space SED lives in) is then a zero-copy `subarray`.
import type { Rng } from "../util/rng";

export interface ModelSizes {
  /** Vocabulary size = modulus p. */
  p: number;
  /** Residual width d_model. */
  d: number;
  /** Attention heads. */
  nHeads: number;
  /** MLP hidden width. */
  dff: number;
  /** Encoder layers. */
  layers: number;
}

/** How PyTorch initialises each tensor (so grokking times are comparable with the paper's). */
export type Init =
  | { kind: "normal"; std: number }
  | { kind: "uniform"; bound: number }
  | { kind: "const"; value: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  size: number;
  offset: number;
  group: string;
  init: Init;
}

export interface Range {
  start: number;
  end: number;
}

/** One output head: a linear layer with bias on the position-0 final-LayerNorm output. */
export interface HeadSpec {
  /** The task it reads out (null: the single-task model's only head). */
  task: string | null;
  /** Parameter group and its weight [d, p] and bias [p] names: `head`, `head.w`, `head.b` in a single-task
   * model; `head.<task>`, `head.<task>.w`, `head.<task>.b` in a multitask one. */
  group: string;
  w: string;
  b: string;
}

export interface Layout {
  sizes: ModelSizes;
  /** The output heads, in order (one for a single-task model). */
  heads: HeadSpec[];
  specs: ParamSpec[];
  byName: Map<string, ParamSpec>;
  /** Total number of parameters. */
  size: number;
  /** Named groups as lists of ranges in theta. `attn` is a single range. */
  groups: Map<string, Range[]>;
}

export function validateSizes(s: ModelSizes): void {
  for (const k of ["p", "d", "nHeads", "dff", "layers"] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1)
      throw new Error(`model size ${k} must be a positive integer, got ${s[k]}`);
  }
  if (s.d % s.nHeads !== 0) throw new Error(`d (${s.d}) must be divisible by nHeads (${s.nHeads})`);
}

/**
 * The parameter layout. `tasks` with two or more names gives a multitask model: the same trunk and one head per
 * task (groups `head.<task>`, appended in task order where the single head would be); otherwise (absent or one
 * task) the single-task model with its one `head`, unchanged: same names, offsets and init stream.
 */
export function makeLayout(sizes: ModelSizes, tasks?: readonly string[]): Layout {
  validateSizes(sizes);
  const multi = tasks !== undefined && tasks.length >= 2;
  if (multi && new Set(tasks).size !== tasks.length)
    throw new Error(`head names must be distinct, got ${tasks.join(", ")}`);
  const { p, d, dff, layers } = sizes;
  const raw: Omit<ParamSpec, "size" | "offset">[] = [];
  const add = (name: string, shape: number[], group: string, init: Init) =>
    raw.push({ name, shape, group, init });
  // Weights are stored [in, out] so the forward pass is x @ W with no transposed operand (slow on wasm).
  // nn.MultiheadAttention: in_proj_weight is Xavier-uniform over the fused [3d, d] matrix; out_proj keeps
  // nn.Linear's default U(±1/sqrt(fan_in)); all attention biases start at zero.
  const xavier = Math.sqrt(6 / (d + 3 * d));
  for (let i = 0; i < layers; i++) {
    for (const m of ["wq", "wk", "wv"])
      add(`layers.${i}.attn.${m}`, [d, d], `layers.${i}.attn`, uniform(xavier));
    add(`layers.${i}.attn.wo`, [d, d], `layers.${i}.attn`, uniform(1 / Math.sqrt(d)));
  }
  add("embed.tok", [p, d], "embed", { kind: "normal", std: 1 });
  add("embed.pos", [2, d], "embed", { kind: "normal", std: 1 / Math.sqrt(d) });
  for (let i = 0; i < layers; i++) {
    for (const m of ["bq", "bk", "bv", "bo"])
      add(`layers.${i}.attn.${m}`, [d], `layers.${i}.attn_bias`, zero());
    add(`layers.${i}.ln1.g`, [d], `layers.${i}.ln`, one());
    add(`layers.${i}.ln1.b`, [d], `layers.${i}.ln`, zero());
    add(`layers.${i}.ln2.g`, [d], `layers.${i}.ln`, one());
    add(`layers.${i}.ln2.b`, [d], `layers.${i}.ln`, zero());
    add(`layers.${i}.mlp.w1`, [d, dff], `layers.${i}.mlp`, uniform(1 / Math.sqrt(d)));
    add(`layers.${i}.mlp.b1`, [dff], `layers.${i}.mlp`, uniform(1 / Math.sqrt(d)));
    add(`layers.${i}.mlp.w2`, [dff, d], `layers.${i}.mlp`, uniform(1 / Math.sqrt(dff)));
    add(`layers.${i}.mlp.b2`, [d], `layers.${i}.mlp`, uniform(1 / Math.sqrt(dff)));
  }
  add("ln_f.g", [d], "ln_f", one());
  add("ln_f.b", [d], "ln_f", zero());
  const heads: HeadSpec[] = multi
    ? tasks.map((t) => ({ task: t, group: `head.${t}`, w: `head.${t}.w`, b: `head.${t}.b` }))
    : [{ task: null, group: "head", w: "head.w", b: "head.b" }];
  for (const h of heads) {
    add(h.w, [d, p], h.group, uniform(1 / Math.sqrt(d)));
    add(h.b, [p], h.group, uniform(1 / Math.sqrt(d)));
  }

  const specs: ParamSpec[] = [];
  let offset = 0;
  for (const r of raw) {
    const size = r.shape.reduce((x, y) => x * y, 1);
    specs.push({ ...r, size, offset });
    offset += size;
  }
  const groups = new Map<string, Range[]>();
  const push = (g: string, r: Range) => {
    const list = groups.get(g) ?? [];
    const last = list[list.length - 1];
    if (last && last.end === r.start) last.end = r.end;
    else list.push({ ...r });
    groups.set(g, list);
  };
  for (const s of specs) {
    const r = { start: s.offset, end: s.offset + s.size };
    push(s.group, r);
    if (/^layers\.\d+\.attn$/.test(s.group)) push("attn", r);
  }
  return { sizes, heads, specs, byName: new Map(specs.map((s) => [s.name, s])), size: offset, groups };
}

const uniform = (bound: number): Init => ({ kind: "uniform", bound });
const zero = (): Init => ({ kind: "const", value: 0 });
const one = (): Init => ({ kind: "const", value: 1 });

/**
 * Fresh parameters, initialised like PyTorch's defaults for these modules. nn.TransformerEncoder deep-copies
 * the one layer it is given, so in the paper's model every layer starts with identical weights; `copyLayers`
 * (default true) reproduces that, false draws each layer independently.
 */
export function initTheta(layout: Layout, rng: Rng, copyLayers = true): Float32Array {
  const theta = new Float32Array(layout.size);
  for (const s of layout.specs) {
    const view = theta.subarray(s.offset, s.offset + s.size);
    const m = /^layers\.(\d+)\.(.*)$/.exec(s.name);
    if (copyLayers && m && m[1] !== "0") {
      view.set(paramView(layout, theta, `layers.0.${m[2]}`));
    } else if (s.init.kind === "normal") rng.fillNormal(view, s.init.std);
    else if (s.init.kind === "uniform") rng.fillUniform(view, -s.init.bound, s.init.bound);
    else view.fill(s.init.value);
  }
  return theta;
}

/** The single contiguous range of a group (throws for groups that are split). */
export function groupRange(layout: Layout, group: string): Range {
  const ranges = layout.groups.get(group);
  if (!ranges)
    throw new Error(`unknown parameter group "${group}"; known: ${[...layout.groups.keys()].join(", ")}`);
  if (ranges.length !== 1) throw new Error(`parameter group "${group}" is not contiguous`);
  return ranges[0];
}

/** Zero-copy view of a contiguous group, e.g. `groupView(layout, theta, "attn")`. */
export function groupView(layout: Layout, theta: Float32Array, group: string): Float32Array {
  const r = groupRange(layout, group);
  return theta.subarray(r.start, r.end);
}

export function paramView(layout: Layout, theta: Float32Array, name: string): Float32Array {
  const s = layout.byName.get(name);
  if (!s) throw new Error(`unknown parameter "${name}"`);
  return theta.subarray(s.offset, s.offset + s.size);
}
