// The parts of the WebAssembly JS API our embedded kernels use, typed here once (the notebook kernel's TypeScript
// libs lack them), and kernels that run on a memory of their own.
import { base64Bytes } from "./base64";

export interface WasmMemory {
  buffer: ArrayBuffer;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (d: { initial: number; maximum: number }) => WasmMemory;
}

/** WebAssembly where the host has it (Node, browsers), else undefined. */
export const WebAssemblyApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

const modules = new Map<string, object>();

/** The compiled module of an embedded kernel (compiled once per process). */
export function kernelModule(base64: string): object {
  if (!WebAssemblyApi) throw new Error("kernelModule: this host has no WebAssembly");
  let m = modules.get(base64);
  if (!m) {
    m = new WebAssemblyApi.Module(base64Bytes(base64));
    modules.set(base64, m);
  }
  return m;
}

/** An instance of the kernel running on `memory` (imported as env.memory). */
export function kernelOn<T>(base64: string, memory: WasmMemory): T {
  if (!WebAssemblyApi) throw new Error("kernelOn: this host has no WebAssembly");
  return new WebAssemblyApi.Instance(kernelModule(base64), { env: { memory } }).exports as T;
}

/**
 * A fresh memory of at least `bytes` (whole 64 KiB pages) that never grows — so typed-array views of it stay
 * valid — with the kernel instantiated on it; undefined where there is no WebAssembly.
 */
export function kernelWithMemory<T>(
  base64: string,
  bytes: number,
): { memory: WasmMemory; kernel: T } | undefined {
  if (!WebAssemblyApi) return undefined;
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  const memory = new WebAssemblyApi.Memory({ initial: pages, maximum: pages });
  return { memory, kernel: kernelOn<T>(base64, memory) };
}

/** `n` rounded up to a multiple of 16 (SIMD-friendly offsets). */
export const align16 = (n: number): number => Math.ceil(n / 16) * 16;
