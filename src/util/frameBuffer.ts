// Random frames in a memory of their own, with the polar kernel (kernels/polar.wat) bound to it: drawing a
// fresh Gaussian frame every step (Rng.fillNormalPolar) and projecting onto it (projectOnGaussian, k = 3) run
// as WebAssembly there — bitwise the JavaScript loops, which stand in for other arrays or where there is no
// WebAssembly.
import { POLAR_WASM_BASE64 } from "./kernels/polarWasm";
import { align16, kernelWithMemory } from "./wasm";

interface PolarExports {
  polar(out: number, n: number, state: number, scratch: number): void;
  frameSums3(z: number, len: number, g: number, out: number): void;
  frameWrite3(z: number, len: number, g: number, a0: number, a1: number, a2: number, remove: number): void;
}

/** Scratch bytes the polar kernel needs. */
const POLAR_SCRATCH = 12288;

interface Bound {
  exports: PolarExports;
  /** xoshiro128** state words passed in and out. */
  state: Int32Array;
  scratch: number;
  /** The buffer's range (bytes), and a staging vector with room for ten float64 sums. */
  start: number;
  end: number;
  stage: Float32Array;
  sums: Float64Array;
}

const bound = new WeakMap<ArrayBuffer, Bound>();

/**
 * A zeroed Float32Array of n in a memory of its own with the polar kernel bound to it; `stage` floats of room
 * for the vector a frame is projected with (projectOnGaussian). A plain Float32Array where there is no
 * WebAssembly.
 */
export function normalBuffer(n: number, stage = 0): Float32Array {
  const sumsAt = 16;
  const scratch = sumsAt + 80;
  const stageAt = align16(scratch + POLAR_SCRATCH);
  const outAt = align16(stageAt + 4 * stage);
  const k = kernelWithMemory<PolarExports>(POLAR_WASM_BASE64, outAt + 4 * n);
  if (!k) return new Float32Array(n);
  const buffer = k.memory.buffer;
  bound.set(buffer, {
    exports: k.kernel,
    state: new Int32Array(buffer, 0, 4),
    scratch,
    start: outAt,
    end: outAt + 4 * n,
    stage: new Float32Array(buffer, stageAt, stage),
    sums: new Float64Array(buffer, sumsAt, 10),
  });
  return new Float32Array(buffer, outAt, n);
}

function boundTo(a: Float32Array): Bound | undefined {
  const b = bound.get(a.buffer as ArrayBuffer);
  return b && a.byteOffset >= b.start && a.byteOffset + a.byteLength <= b.end ? b : undefined;
}

/** The polar kernel for an array in a normalBuffer (its state words, and a run over the array). */
export function polarKernelFor(out: Float32Array): { state: Int32Array; run(): void } | undefined {
  const b = boundTo(out);
  if (!b) return undefined;
  return { state: b.state, run: () => b.exports.polar(out.byteOffset, out.length, 0, b.scratch) };
}

/**
 * The kernel of projectOnGaussian (k = 3) for a frame z (three columns of P) in a normalBuffer with P floats of
 * stage: `sums(g)` gives c = Zᵀg, ZᵀZ and ‖g‖² (c0 c1 c2 m00 m01 m02 m11 m12 m22 gg), `write(g, a, remove)`
 * sets g to (remove ? g − Za : Za).
 */
export function frame3KernelFor(
  z: Float32Array,
  P: number,
):
  | {
      sums(g: Float32Array): Float64Array;
      write(g: Float32Array, a: ArrayLike<number>, remove: boolean): void;
    }
  | undefined {
  const b = boundTo(z);
  if (!b || z.length !== 3 * P || b.stage.length !== P) return undefined;
  return {
    sums(g) {
      b.stage.set(g);
      b.exports.frameSums3(z.byteOffset, P, b.stage.byteOffset, b.sums.byteOffset);
      return b.sums.slice();
    },
    write(g, a, remove) {
      b.stage.set(g);
      b.exports.frameWrite3(z.byteOffset, P, b.stage.byteOffset, a[0], a[1], a[2], remove ? 1 : 0);
      g.set(b.stage);
    },
  };
}
