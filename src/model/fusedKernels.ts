// Our own kernels for the wasm backend: GELU (with its derivative) and LayerNorm (forward and backward), which
// tfjs composes from 5–10 elementwise ops, one pass over memory each (its Erf and Exp are scalar), as one SIMD
// pass each; and transposes, row swaps, row gathers and column concats, which otherwise cost a round trip
// through JavaScript or tfjs' row-by-row copies. They are registered as tfjs kernels on the wasm backend, so
// their outputs are ordinary tensors (tracked by tidy, disposed as usual), and they run in place on that
// backend's heap: src/model/kernels/fused.wat imports its memory. Other backends keep tfjs' ops.
import * as tf from "@tensorflow/tfjs";
import { kernelOn } from "../util/wasm";
import { FUSED_WASM_BASE64 } from "./kernels/fusedWasm";

interface FusedExports {
  gelu(x: number, y: number, dydx: number, n: number): void;
  scatterAddRows(x: number, rows: number, out: number, n: number, cols: number, nRows: number): void;
  layerNorm(
    x: number,
    g: number,
    b: number,
    y: number,
    xh: number,
    rs: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  layerNormGrad(
    dy: number,
    g: number,
    xh: number,
    rs: number,
    dx: number,
    dg: number,
    db: number,
    rows: number,
    d: number,
  ): void;
  transpose(x: number, out: number, rows: number, cols: number, ones: number): void;
  swapHalves(x: number, out: number, n: number): void;
  copyColumns(x: number, out: number, rows: number, cols: number, outCols: number, offset: number): void;
  gatherRows(
    table: number,
    rows: number,
    out: number,
    n: number,
    cols: number,
    offset: number,
    w: number,
  ): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm these kernels (and the BLAS bridge, runs/blas.ts) use. */
export interface WasmBackend {
  /** Its WebAssembly.Memory. */
  wasm: { asm: { memory: { buffer: ArrayBuffer } } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

const GELU = "SedlabGelu";
const LAYER_NORM = "SedlabLayerNorm";
const LAYER_NORM_GRAD = "SedlabLayerNormGrad";
const TRANSPOSE = "SedlabTranspose";
const SWAP_HALVES = "SedlabSwapHalves";
const SPLIT_HALVES = "SedlabSplitHalves";
const CONCAT_COLUMNS = "SedlabConcatColumns";
const GATHER_ROWS = "SedlabGatherRows";
const SCATTER_ADD_ROWS = "SedlabScatterAddRows";

const instances = new WeakMap<object, FusedExports>();

function exportsFor(backend: WasmBackend): FusedExports {
  let e = instances.get(backend);
  if (!e) {
    e = kernelOn<FusedExports>(FUSED_WASM_BASE64, backend.wasm.asm.memory);
    instances.set(backend, e);
  }
  return e;
}

/** A tensor's byte offset in the heap; 0 (the kernels' "absent") for an output not asked for. */
export const ptr = (backend: WasmBackend, t: tf.TensorInfo | undefined): number =>
  t ? backend.dataIdMap.get(t.dataId).memoryOffset : 0;

function register(kernelName: string, kernelFunc: tf.KernelFunc): void {
  if (!tf.getKernel(kernelName, "wasm")) tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc });
}

register(GELU, ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackend;
  const { x } = inputs as { x: tf.TensorInfo };
  const y = be.makeOutput(x.shape, "float32");
  const dydx = attrs?.withGrad ? be.makeOutput(x.shape, "float32") : undefined;
  exportsFor(be).gelu(ptr(be, x), ptr(be, y), ptr(be, dydx), tf.util.sizeFromShape(x.shape));
  return dydx ? [y, dydx] : [y];
});

register(LAYER_NORM, ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackend;
  const { x, g, b } = inputs as { x: tf.TensorInfo; g: tf.TensorInfo; b: tf.TensorInfo };
  const [rows, d] = x.shape;
  const y = be.makeOutput([rows, d], "float32");
  const keep = Boolean(attrs?.keep);
  const xhat = keep ? be.makeOutput([rows, d], "float32") : undefined;
  const rstd = keep ? be.makeOutput([rows, 1], "float32") : undefined;
  exportsFor(be).layerNorm(
    ptr(be, x),
    ptr(be, g),
    ptr(be, b),
    ptr(be, y),
    ptr(be, xhat),
    ptr(be, rstd),
    rows,
    d,
    attrs?.eps as number,
  );
  return xhat && rstd ? [y, xhat, rstd] : [y];
});

register(LAYER_NORM_GRAD, ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackend;
  const { dy, g, xhat, rstd } = inputs as Record<"dy" | "g" | "xhat" | "rstd", tf.TensorInfo>;
  const [rows, d] = dy.shape;
  const dx = be.makeOutput([rows, d], "float32");
  const params = Boolean(attrs?.params);
  const dg = params ? be.makeOutput([d], "float32") : undefined;
  const db = params ? be.makeOutput([d], "float32") : undefined;
  exportsFor(be).layerNormGrad(
    ptr(be, dy),
    ptr(be, g),
    ptr(be, xhat),
    ptr(be, rstd),
    ptr(be, dx),
    ptr(be, dg),
    ptr(be, db),
    rows,
    d,
  );
  return dg && db ? [dx, dg, db] : [dx];
});

register(TRANSPOSE, ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackend;
  const { x } = inputs as { x: tf.TensorInfo };
  const [rows, cols] = x.shape;
  const ones = Boolean(attrs?.ones);
  const out = be.makeOutput([ones ? cols + 1 : cols, rows], "float32");
  exportsFor(be).transpose(ptr(be, x), ptr(be, out), rows, cols, ones ? 1 : 0);
  return out;
});

register(SWAP_HALVES, ({ inputs, backend }) => {
  const be = backend as unknown as WasmBackend;
  const { x } = inputs as { x: tf.TensorInfo };
  const out = be.makeOutput(x.shape, "float32");
  exportsFor(be).swapHalves(ptr(be, x), ptr(be, out), tf.util.sizeFromShape(x.shape));
  return out;
});

// [x0; x1] → x0 and (with `both`) x1: two contiguous copies (tfjs' wasm SplitV and Slice copy these rows
// element by element, ~10× slower).
register(SPLIT_HALVES, ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackend;
  const { x } = inputs as { x: tf.TensorInfo };
  const [rows, cols] = x.shape;
  const both = Boolean(attrs?.both);
  const halves = (both ? [0, 1] : [0]).map(() => be.makeOutput([rows / 2, cols], "float32"));
  const n = (rows / 2) * cols;
  const e = exportsFor(be);
  halves.forEach((h, i) => {
    e.copyColumns(ptr(be, x) + 4 * n * i, ptr(be, h), 1, n, n, 0);
  });
  return both ? halves : halves[0];
});

register(CONCAT_COLUMNS, ({ inputs, backend }) => {
  const be = backend as unknown as WasmBackend;
  const xs = Object.keys(inputs)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => inputs[k] as tf.TensorInfo);
  const rows = xs[0].shape[0];
  const outCols = xs.reduce((n, x) => n + x.shape[1], 0);
  const out = be.makeOutput([rows, outCols], "float32");
  const e = exportsFor(be);
  let offset = 0;
  for (const x of xs) {
    e.copyColumns(ptr(be, x), ptr(be, out), rows, x.shape[1], outCols, offset);
    offset += x.shape[1];
  }
  return out;
});

register(GATHER_ROWS, ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackend;
  const { table, rows } = inputs as { table: tf.TensorInfo; rows: tf.TensorInfo };
  const cols = table.shape[1];
  const parts = Number(attrs?.parts ?? 1);
  const w = cols / parts;
  const n = rows.shape[0];
  const outs = Array.from({ length: parts }, () => be.makeOutput([n, w], "float32"));
  const e = exportsFor(be);
  outs.forEach((o, j) => {
    e.gatherRows(ptr(be, table), ptr(be, rows), ptr(be, o), n, cols, j * w, w);
  });
  return outs;
});

register(SCATTER_ADD_ROWS, ({ inputs, backend, attrs }) => {
  const be = backend as unknown as WasmBackend;
  const { x, rows } = inputs as { x: tf.TensorInfo; rows: tf.TensorInfo };
  const [n, cols] = x.shape;
  const nRows = Number(attrs?.nRows);
  const out = be.makeOutput([nRows, cols], "float32");
  exportsFor(be).scatterAddRows(ptr(be, x), ptr(be, rows), ptr(be, out), n, cols, nRows);
  return [out];
});

/** Whether the fused kernels can run: the active backend is wasm (the others keep tfjs' ops). */
export function fusedKernelsOn(): boolean {
  return tf.getBackend() === "wasm";
}

/** Whether the SIMD kernels serve rows of this width: on wasm, a multiple of 4 (SIMD lanes). */
export function fusedKernelsFor(width: number): boolean {
  return width > 0 && width % 4 === 0 && fusedKernelsOn();
}

/** The SIMD kernels read rows 4 floats at a time. */
function checkWidth(kernel: string, width: number): void {
  if (!(width > 0 && width % 4 === 0))
    throw new Error(
      `${kernel}: rows must have a positive multiple of 4 floats, got ${width} (use tfjs' ops)`,
    );
}

function run(
  kernel: string,
  inputs: tf.NamedTensorMap,
  attrs: Record<string, number | boolean> = {},
): tf.Tensor[] {
  for (const t of Object.values(inputs)) {
    if (t.dtype !== "float32") throw new Error(`${kernel}: expected float32 inputs, got ${t.dtype}`);
  }
  const out = tf.engine().runKernel(kernel, inputs, attrs) as unknown as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}

/** gelu(x) = x·Φ(x), and with `withGrad` also gelu'(x) = Φ(x) + x·φ(x) for the backward pass. */
export function fusedGelu(x: tf.Tensor2D, withGrad: boolean): { y: tf.Tensor2D; dydx?: tf.Tensor2D } {
  checkWidth("gelu", x.shape[1]);
  const [y, dydx] = run(GELU, { x }, { withGrad });
  return { y: y as tf.Tensor2D, dydx: dydx as tf.Tensor2D | undefined };
}

/** LayerNorm over the last axis; with `keep` also x̂ [N, d] and rstd [N, 1] for the backward pass. */
export function fusedLayerNorm(
  x: tf.Tensor2D,
  g: tf.Tensor1D,
  b: tf.Tensor1D,
  eps: number,
  keep: boolean,
): { y: tf.Tensor2D; xhat?: tf.Tensor2D; rstd?: tf.Tensor2D } {
  checkWidth("layerNorm", x.shape[1]);
  const [y, xhat, rstd] = run(LAYER_NORM, { x, g, b }, { eps, keep });
  return {
    y: y as tf.Tensor2D,
    xhat: xhat as tf.Tensor2D | undefined,
    rstd: rstd as tf.Tensor2D | undefined,
  };
}

/** LayerNorm backward to the input; with `params` also the gain's and bias's gradients (sums over rows). */
export function fusedLayerNormGrad(
  dy: tf.Tensor2D,
  g: tf.Tensor1D,
  xhat: tf.Tensor2D,
  rstd: tf.Tensor2D,
  params: boolean,
): { dx: tf.Tensor2D; dg?: tf.Tensor1D; db?: tf.Tensor1D } {
  checkWidth("layerNormGrad", dy.shape[1]);
  const [dx, dg, db] = run(LAYER_NORM_GRAD, { dy, g, xhat, rstd }, { params });
  return { dx: dx as tf.Tensor2D, dg: dg as tf.Tensor1D | undefined, db: db as tf.Tensor1D | undefined };
}

/** xᵀ for x [rows, cols] (cols a multiple of 4); with `ones`, [xᵀ; 1] ([cols + 1, rows]). */
export function fusedTranspose(x: tf.Tensor2D, ones: boolean): tf.Tensor2D {
  checkWidth("transpose", x.shape[1]);
  return run(TRANSPOSE, { x }, { ones })[0] as tf.Tensor2D;
}

/** [x0; x1] → [x1; x0] for x [2n, d]. */
export function fusedSwapHalves(x: tf.Tensor2D): tf.Tensor2D {
  if (x.shape[0] % 2 !== 0) throw new Error(`swapHalves: expected an even number of rows, got ${x.shape[0]}`);
  return run(SWAP_HALVES, { x })[0] as tf.Tensor2D;
}

/** [x0; x1] → [x0, x1] (an even number of rows). */
export function fusedSplitHalves(x: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
  if (x.shape[0] % 2 !== 0)
    throw new Error(`splitHalves: expected an even number of rows, got ${x.shape[0]}`);
  const [a, b] = run(SPLIT_HALVES, { x }, { both: true });
  return [a as tf.Tensor2D, b as tf.Tensor2D];
}

/** The first half of x's rows (an even number of rows). */
export function fusedFirstHalf(x: tf.Tensor2D): tf.Tensor2D {
  if (x.shape[0] % 2 !== 0) throw new Error(`firstHalf: expected an even number of rows, got ${x.shape[0]}`);
  return run(SPLIT_HALVES, { x }, { both: false })[0] as tf.Tensor2D;
}

/**
 * A float32 tensor's values without a copy where possible: on wasm a view of the backend's heap, valid only
 * until tfjs next allocates (read it at once, never keep it); elsewhere `dataSync()`.
 */
export function readNow(t: tf.Tensor): Float32Array {
  if (t.dtype !== "float32") throw new Error(`readNow: expected a float32 tensor, got ${t.dtype}`);
  if (tf.getBackend() !== "wasm") return t.dataSync() as Float32Array;
  const be = tf.backend() as unknown as WasmBackend;
  return new Float32Array(be.wasm.asm.memory.buffer, ptr(be, t), t.size);
}

/**
 * The [nRows, C] sums of the rows of x [n, C] by destination: out[rows[i]] += x[i], in the order of i (bitwise
 * the JavaScript loop's sums). `rowsT` holds the same indices as an int32 tensor; they are checked here.
 */
export function fusedScatterAddRows(
  x: tf.Tensor2D,
  rows: Int32Array,
  rowsT: tf.Tensor1D,
  nRows: number,
): tf.Tensor2D {
  const [n, C] = x.shape;
  checkWidth("scatterAddRows", C);
  if (rowsT.dtype !== "int32" || rowsT.size !== rows.length || n !== rows.length)
    throw new Error(`scatterAddRows: rowsT must be the ${n} indices as int32`);
  for (const r of rows)
    if (!(r >= 0 && r < nRows)) throw new Error(`scatterAddRows: row ${r} outside [0, ${nRows})`);
  if (x.dtype !== "float32") throw new Error(`scatterAddRows: expected float32 rows, got ${x.dtype}`);
  // Not run(): its float32 check would refuse the int32 indices (checked above, as gatherRows does).
  const out = tf
    .engine()
    .runKernel(SCATTER_ADD_ROWS, { x, rows: rowsT }, { nRows }) as unknown as tf.Tensor[];
  return out[0] as tf.Tensor2D;
}

/** [x0, x1, …] side by side: the column concat of [N, c_i] tensors. */
export function fusedConcatColumns(xs: tf.Tensor2D[]): tf.Tensor2D {
  const rows = xs[0]?.shape[0];
  if (rows === undefined) throw new Error("concatColumns: no tensors");
  for (const x of xs) {
    if (x.rank !== 2 || x.shape[0] !== rows)
      throw new Error(`concatColumns: expected [${rows}, c] tensors, got [${x.shape.join(", ")}]`);
  }
  return run(CONCAT_COLUMNS, Object.fromEntries(xs.map((x, i) => [String(i), x])))[0] as tf.Tensor2D;
}

/**
 * Rows `rows` of table [R, C], split into `parts` column blocks: parts tensors [n, C / parts]. `rowsT` holds the
 * same indices as an int32 tensor (the kernel reads them from the heap); they are checked against R here.
 */
export function fusedGatherRows(
  table: tf.Tensor2D,
  rows: Int32Array,
  rowsT: tf.Tensor1D,
  parts = 1,
): tf.Tensor2D[] {
  const [R, C] = table.shape;
  if (!Number.isInteger(parts) || parts < 1 || C % parts !== 0)
    throw new Error(`gatherRows: ${C} columns do not split into ${parts} parts`);
  if (rowsT.dtype !== "int32" || rowsT.size !== rows.length)
    throw new Error(`gatherRows: rowsT must be the ${rows.length} indices as int32`);
  for (const r of rows) if (!(r >= 0 && r < R)) throw new Error(`gatherRows: row ${r} outside [0, ${R})`);
  if (table.dtype !== "float32") throw new Error(`gatherRows: expected a float32 table, got ${table.dtype}`);
  return tf.engine().runKernel(GATHER_ROWS, { table, rows: rowsT }, { parts }) as unknown as tf.Tensor2D[];
}
