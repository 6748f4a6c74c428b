// AdamW's per-parameter update as a WebAssembly SIMD kernel (kernels/adamw.wat): bitwise the JavaScript loop of
// optim.ts (the same float64 operations in the same order), about twice as fast. It needs θ, the gradient and
// both moments in one WebAssembly.Memory, so the training loop allocates them together with `optimBuffers`;
// adamwStep uses the kernel whenever its arrays are such buffers, and the loop otherwise.
import { align16, kernelWithMemory } from "../util/wasm";
import { ADAMW_WASM_BASE64 } from "./kernels/adamwWasm";

interface AdamwExports {
  adamw(
    theta: number,
    grad: number,
    m: number,
    v: number,
    n: number,
    b1: number,
    omb1: number,
    b2: number,
    omb2: number,
    stepSize: number,
    decay: number,
    sqrtBc2: number,
    eps: number,
  ): void;
}

/** θ, its gradient and AdamW's two moments, side by side in one memory the kernel runs on. */
export interface OptimBuffers {
  theta: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

interface Bound {
  kernel: AdamwExports;
  /** Byte offsets of theta, grad, m, v in the memory. */
  offsets: [number, number, number, number];
  size: number;
}

/** Which memory's buffers are which (looked up by adamwStep from its arrays' ArrayBuffer). */
const bound = new WeakMap<ArrayBuffer, Bound>();

/**
 * Four zeroed float32 arrays of `size` in one fresh WebAssembly memory (never grown, so the views stay valid),
 * bound to the AdamW kernel; plain Float32Arrays where there is no WebAssembly.
 */
export function optimBuffers(size: number): OptimBuffers {
  // 16-byte aligned slots (SIMD loads).
  const slot = align16(4 * size);
  const k = kernelWithMemory<AdamwExports>(ADAMW_WASM_BASE64, 4 * slot);
  if (!k) {
    return {
      theta: new Float32Array(size),
      grad: new Float32Array(size),
      m: new Float32Array(size),
      v: new Float32Array(size),
    };
  }
  const offsets: Bound["offsets"] = [0, slot, 2 * slot, 3 * slot];
  const [theta, grad, m, v] = offsets.map((o) => new Float32Array(k.memory.buffer, o, size));
  bound.set(k.memory.buffer, { kernel: k.kernel, offsets, size });
  return { theta, grad, m, v };
}

/** The kernel for these arrays, when they are one optimBuffers set (else undefined: run the JavaScript loop). */
export function adamwKernelFor(
  theta: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
): ((c: AdamwConstants) => void) | undefined {
  const b = bound.get(theta.buffer as ArrayBuffer);
  if (!b) return undefined;
  const arrays = [theta, grad, m, v];
  if (
    arrays.some((a, i) => a.buffer !== theta.buffer || a.byteOffset !== b.offsets[i] || a.length !== b.size)
  )
    return undefined;
  return (c) =>
    b.kernel.adamw(
      b.offsets[0],
      b.offsets[1],
      b.offsets[2],
      b.offsets[3],
      b.size,
      c.beta1,
      1 - c.beta1,
      c.beta2,
      1 - c.beta2,
      c.stepSize,
      c.decay,
      c.sqrtBc2,
      c.eps,
    );
}

/** The step's constants, as optim.ts computes them. */
export interface AdamwConstants {
  beta1: number;
  beta2: number;
  stepSize: number;
  decay: number;
  sqrtBc2: number;
  eps: number;
}
