// The BLAS bridge: tfjs' BatchMatMul on the wasm backend runs as the machine's cblas_sgemm (OpenBLAS, MKL,
// Accelerate, reference BLAS), called through koffi on the wasm heap in place — no copies: the operands and the
// output are Float32Array views of the backend's WebAssembly.Memory. Node-only and loaded on demand (the compute
// core never imports it); without a usable BLAS, or where a call would not pay, wasm's own kernel runs.
//
// Chosen by measurement, not presence: an old OpenBLAS may misdetect a new CPU and fall back to a slow kernel, so
// at start-up both paths multiply the engine's typical shapes and the faster is kept, saying which and why.
// OPENBLAS_CORETYPE is never set or changed here: some machines set it for a reason.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { ptr, type WasmBackend } from "../model/fusedKernels";

export interface BlasInfo {
  /** "OpenBLAS 0.3.21", "Accelerate", "MKL", or the library file. */
  library: string;
  /** The file loaded. */
  path: string;
  /** OpenBLAS' kernel name (Haswell, SkylakeX, Cooperlake, Prescott, …) when the library says. */
  kernel: string | null;
  threads: number;
  /** Measured at start-up on the same shapes: GFLOP/s of BLAS and of wasm's kernel. */
  blasGflops: number;
  wasmGflops: number;
  /** Whether matmuls run on BLAS (false: it was slower than wasm here, and wasm runs). */
  active: boolean;
  /** One line: what runs and why. */
  description: string;
}

/** Why there is no BLAS path: "off" (SEDLAB_BLAS=off), "not found", "not wasm", or a load error. */
export interface NoBlas {
  reason: string;
  description: string;
}

type Sgemm = (
  order: number,
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;
/** Below this many multiply-adds a product stays on wasm: the call and view overhead would not pay. */
export const MIN_BLAS_MACS = 32 * 32 * 32;

let state: BlasInfo | NoBlas | undefined;
/** wasm's own BatchMatMul kernel and ours, kept to switch between them (bench, tests). */
let kernels: { wasm: tf.KernelConfig; blas: tf.KernelConfig } | undefined;

/** The libraries tried, in order: SEDLAB_BLAS (a path), a conda env's, the system's. */
export function blasCandidates(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string[] {
  const out: string[] = [];
  const forced = env.SEDLAB_BLAS;
  if (forced && forced !== "off" && forced !== "auto") return [forced];
  if (env.CONDA_PREFIX) {
    const lib = join(env.CONDA_PREFIX, "lib");
    for (const f of [
      "libopenblas.so.0",
      "libopenblas.so",
      "libmkl_rt.so.2",
      "libmkl_rt.so",
      "libcblas.so.3",
      "libopenblas.dylib",
      "libcblas.dylib",
    ])
      out.push(join(lib, f));
  }
  if (platform === "darwin") {
    out.push(
      "/System/Library/Frameworks/Accelerate.framework/Accelerate",
      "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
      "/usr/local/opt/openblas/lib/libopenblas.dylib",
    );
  } else {
    // By soname: the dynamic loader finds them (Debian's libopenblas0, libblas3 + libcblas).
    out.push("libopenblas.so.0", "libcblas.so.3", "libblas.so.3");
  }
  return out;
}

/** Threads per process: SEDLAB_THREADS, default 1 (sweeps run one process per core). */
export function blasThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SEDLAB_THREADS;
  if (v === undefined || v === "") return 1;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`SEDLAB_THREADS="${v}" must be a positive integer`);
  return n;
}

interface Loaded {
  sgemm: Sgemm;
  library: string;
  kernel: string | null;
  path: string;
}

function load(threads: number): Loaded | string {
  let koffi: typeof import("koffi");
  try {
    // Resolved from the working directory, as backend.ts does: tslab compiles src/ to CommonJS (no import.meta).
    koffi = createRequire(`${process.cwd()}/`)("koffi");
  } catch (e) {
    return `koffi is not installed (${(e as Error).message.split("\n")[0]})`;
  }
  const tried: string[] = [];
  for (const path of blasCandidates()) {
    if (path.startsWith("/") && !existsSync(path)) continue;
    let lib: ReturnType<typeof koffi.load>;
    try {
      lib = koffi.load(path);
    } catch (e) {
      tried.push(`${path}: ${(e as Error).message}`);
      continue;
    }
    let sgemm: Sgemm;
    try {
      sgemm = lib.func(
        "void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, _Inout_ float *, int)",
      ) as Sgemm;
    } catch {
      tried.push(`${path}: no cblas_sgemm`);
      continue;
    }
    const optional = <T>(decl: string): T | undefined => {
      try {
        return lib.func(decl) as T;
      } catch {
        return undefined;
      }
    };
    const setThreads =
      optional<(n: number) => void>("void openblas_set_num_threads(int)") ??
      optional<(n: number) => void>("void MKL_Set_Num_Threads(int)");
    setThreads?.(threads);
    const config = optional<() => string>("const char *openblas_get_config()")?.();
    const core = optional<() => string>("const char *openblas_get_corename()")?.() ?? null;
    const version = /OpenBLAS\s+(\S+)/.exec(config ?? "")?.[1];
    const library = version
      ? `OpenBLAS ${version}`
      : path.includes("Accelerate")
        ? "Accelerate"
        : path.includes("mkl")
          ? "MKL"
          : path;
    return { sgemm, library, kernel: core, path };
  }
  return tried.length ? `no usable CBLAS (${tried.join("; ")})` : "no CBLAS library found";
}

/**
 * Multiply on the heap: C[M×N] = op(A)·op(B) for each batch, row-major, with BLAS' own transposes. Views are
 * taken after the output is allocated (allocation may grow the heap and detach older views).
 */
function blasMatMul(sgemm: Sgemm, original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const be = args.backend as unknown as WasmBackend;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    // Broadcast batches other than 1-vs-n, other dtypes and tiny products: wasm's kernel (it also checks shapes).
    const sameBatch = batchA === batchB || batchA === 1 || batchB === 1;
    if (
      a.dtype !== "float32" ||
      b.dtype !== "float32" ||
      K !== Kb ||
      !sameBatch ||
      ra !== rb ||
      M * N * K < MIN_BLAS_MACS
    )
      return original(args);
    const batch = Math.max(batchA, batchB);
    const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), M, N];
    const out = be.makeOutput(outShape, "float32");
    const buf = be.wasm.asm.memory.buffer;
    const pa = ptr(be, a);
    const pb = ptr(be, b);
    const pc = ptr(be, out);
    for (let i = 0; i < batch; i++) {
      const A = new Float32Array(buf, pa + (batchA === 1 ? 0 : i * M * K * 4), M * K);
      const B = new Float32Array(buf, pb + (batchB === 1 ? 0 : i * K * N * 4), K * N);
      const C = new Float32Array(buf, pc + i * M * N * 4, M * N);
      sgemm(
        ROW_MAJOR,
        transposeA ? TRANS : NO_TRANS,
        transposeB ? TRANS : NO_TRANS,
        M,
        N,
        K,
        1,
        A,
        transposeA ? M : K,
        B,
        transposeB ? K : N,
        0,
        C,
        N,
      );
    }
    return out;
  };
}

/** The engine's typical products [M, N, K] (paper preset: batch 512, d 128, MLP 256, p 97). */
const RATE_SHAPES: [number, number, number][] = [
  [1024, 384, 128],
  [512, 128, 256],
  [129, 256, 1024],
];

/**
 * GFLOP/s of tf.matMul with each kernel, on the same random operands: a warm-up pass each, then `rounds`
 * alternating timed passes, keeping each kernel's best (so a burst of load elsewhere does not decide).
 */
function matMulRates(paths: tf.KernelConfig[], rounds: number): number[] {
  const ops = RATE_SHAPES.map(
    ([m, n, k]) => [tf.randomNormal([m, k]), tf.randomNormal([k, n])] as tf.Tensor2D[],
  );
  const pass = () => {
    for (const [x, y] of ops) {
      const c = tf.matMul(x, y);
      c.dataSync();
      c.dispose();
    }
  };
  const flops = RATE_SHAPES.reduce((s, [m, n, k]) => s + 2 * m * n * k, 0);
  const best = paths.map(() => 0);
  for (const k of paths) {
    use(k);
    pass();
  }
  for (let r = 0; r < rounds; r++) {
    paths.forEach((k, i) => {
      use(k);
      const t0 = performance.now();
      pass();
      best[i] = Math.max(best[i], flops / ((performance.now() - t0) * 1e6));
    });
  }
  tf.dispose(ops.flat());
  return best;
}

/**
 * Route wasm's matrix products to BLAS when one is found and measures faster here; idempotent. `SEDLAB_BLAS=off`
 * disables it, `SEDLAB_BLAS=/path/lib.so` picks the library. Call after the wasm backend is active.
 */
export function enableBlas(): BlasInfo | NoBlas {
  if (state) return state;
  const setting = process.env.SEDLAB_BLAS;
  if (setting === "off") {
    state = { reason: "off", description: "BLAS off (SEDLAB_BLAS=off): wasm's matmul" };
    return state;
  }
  if (tf.getBackend() !== "wasm") {
    state = { reason: "not wasm", description: `no BLAS bridge on the ${tf.getBackend()} backend` };
    return state;
  }
  const threads = blasThreads();
  const lib = load(threads);
  if (typeof lib === "string") {
    if (setting && setting !== "auto") throw new Error(`SEDLAB_BLAS=${setting}: ${lib}`);
    state = {
      reason: lib,
      description:
        `no BLAS (${lib}): wasm's matmul. For 2–5× faster matrix products install one: Debian/Ubuntu ` +
        "`apt-get install libopenblas0`; conda `conda install openblas` (or mkl); macOS has Accelerate",
    };
    return state;
  }
  const original = tf.getKernel("BatchMatMul", "wasm");
  if (!original) throw new Error("the wasm backend has no BatchMatMul kernel to replace");
  kernels = { wasm: original, blas: { ...original, kernelFunc: blasMatMul(lib.sgemm, original.kernelFunc) } };
  // Keep BLAS unless it is clearly slower: a flip between processes would make their records differ in rounding.
  const [wasmGflops, blasGflops] = matMulRates([kernels.wasm, kernels.blas], 2);
  // A library named in SEDLAB_BLAS is used as asked (the measurement is still reported).
  const forced = setting !== undefined && setting !== "" && setting !== "auto";
  const active = forced || blasGflops >= 0.9 * wasmGflops;
  use(active ? kernels.blas : kernels.wasm);
  const kernel = lib.kernel ? `${lib.kernel} kernel, ` : "";
  const what = `${lib.library} (${kernel}${threads} thread${threads === 1 ? "" : "s"})`;
  state = {
    library: lib.library,
    path: lib.path,
    kernel: lib.kernel,
    threads,
    blasGflops,
    wasmGflops,
    active,
    description: active
      ? `${what}: ${blasGflops.toFixed(0)} vs wasm's ${wasmGflops.toFixed(0)} GFLOP/s here`
      : `${what} found but slower than wasm here (${blasGflops.toFixed(0)} vs ${wasmGflops.toFixed(0)} GFLOP/s): wasm's matmul`,
  };
  return state;
}

function use(k: tf.KernelConfig): void {
  tf.unregisterKernel(k.kernelName, k.backendName);
  tf.registerKernel(k);
}

/**
 * Switch wasm's matrix products between BLAS (true) and wasm's kernel (false) in this process, e.g. to time both
 * paths in one run. Returns the previous setting; false when no BLAS was loaded (then nothing changes).
 */
export function setBlasActive(on: boolean): boolean {
  if (!kernels || !state || !("active" in state)) return false;
  const was = state.active;
  use(on ? kernels.blas : kernels.wasm);
  state = { ...state, active: on };
  return was;
}

/** Whether a BLAS library was loaded (active or not). */
export function blasLoaded(): boolean {
  return kernels !== undefined;
}

/**
 * The SEDLAB_BLAS value that makes another process take this one's decision without measuring again (a sweep's
 * workers get it, so that all of a sweep's runs use one path): the library's path, or "off".
 */
export function blasDecision(): string | undefined {
  if (!state) return undefined;
  if ("active" in state) return state.active ? state.path : "off";
  return state.reason === "not wasm" ? undefined : "off";
}

/** The bridge's state (undefined before enableBlas ran). */
export function blasState(): BlasInfo | NoBlas | undefined {
  return state;
}

/** "OpenBLAS 0.3.21 (Cooperlake kernel, 1 thread)" when matmuls run on BLAS, else null. */
export function activeBlas(): string | null {
  if (!state || !("active" in state) || !state.active) return null;
  const kernel = state.kernel ? `${state.kernel} kernel, ` : "";
  return `${state.library} (${kernel}${state.threads} thread${state.threads === 1 ? "" : "s"})`;
}
