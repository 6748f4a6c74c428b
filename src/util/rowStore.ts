// Where a RowWindow's rows live: `capacity` float32 rows of length P side by side in a WebAssembly memory of their
// own, with the rows kernel (kernels/rows.wat) bound to it, so the window's float64 dot products and
// combinations run as SIMD — bitwise linalg's dots, dot and combine, which stand in where there is no
// WebAssembly.
import { ROWS_WASM_BASE64 } from "./kernels/rowsWasm";
import { combine, dot, dots, type Vec } from "./linalg";
import { align16, kernelWithMemory } from "./wasm";

interface RowsExports {
  dots(ptrs: number, n: number, x: number, len: number, out: number): void;
  dot4(ptrs: number, n: number, x: number, len: number, out: number): void;
  combine(
    ptrs: number,
    coefs: number,
    n: number,
    g: number,
    out: number,
    len: number,
    remove: number,
    scratch: number,
  ): number;
}

/** The kernel's scratch for combine (a block of 512 float64 partial sums). */
const COMBINE_SCRATCH = 4096;

interface Bound {
  kernel: RowsExports;
  buffer: ArrayBuffer;
  /** A length-P staging vector and an output vector in the memory. */
  x: Float32Array;
  out: Float32Array;
  ptrs: Int32Array;
  coefs: Float64Array;
  res: Float64Array;
  scratch: number;
}

export class RowStore {
  /** The rows, one view per slot. */
  readonly rows: Float32Array[];
  readonly length: number;
  private readonly k: Bound | undefined;

  /** `kernel: false` keeps the rows in a plain array and runs linalg's JavaScript (the kernel's reference). */
  constructor(capacity: number, length: number, opts: { kernel?: boolean } = {}) {
    this.length = length;
    const rowBytes = align16(4 * length);
    const at = {
      x: capacity * rowBytes,
      out: (capacity + 1) * rowBytes,
      ptrs: (capacity + 2) * rowBytes,
      coefs: (capacity + 2) * rowBytes + align16(4 * capacity),
      res: (capacity + 2) * rowBytes + align16(4 * capacity) + 8 * capacity,
      scratch: (capacity + 2) * rowBytes + align16(4 * capacity) + 16 * capacity,
    };
    const made =
      opts.kernel === false
        ? undefined
        : kernelWithMemory<RowsExports>(ROWS_WASM_BASE64, at.scratch + COMBINE_SCRATCH);
    if (!made) {
      const data = new Float32Array(capacity * length);
      this.rows = Array.from({ length: capacity }, (_, s) => data.subarray(s * length, (s + 1) * length));
      return;
    }
    const buffer = made.memory.buffer;
    this.rows = Array.from({ length: capacity }, (_, s) => new Float32Array(buffer, s * rowBytes, length));
    this.k = {
      kernel: made.kernel,
      buffer,
      x: new Float32Array(buffer, at.x, length),
      out: new Float32Array(buffer, at.out, length),
      ptrs: new Int32Array(buffer, at.ptrs, capacity),
      coefs: new Float64Array(buffer, at.coefs, capacity),
      res: new Float64Array(buffer, at.res, capacity),
      scratch: at.scratch,
    };
  }

  /** Byte offset of x in the memory: x itself when it lives there (a row), else a copy in the staging vector. */
  private stage(k: Bound, x: Float32Array): number {
    if (x.buffer === k.buffer) return x.byteOffset;
    k.x.set(x);
    return k.x.byteOffset;
  }

  private pointTo(k: Bound, slots: readonly number[]): void {
    slots.forEach((s, t) => {
      k.ptrs[t] = this.rows[s].byteOffset;
    });
  }

  private check(x: Vec, what: string): void {
    if (x.length !== this.length)
      throw new RangeError(`RowStore.${what}: length ${x.length}, expected ${this.length}`);
  }

  /** rows[s] · x for each slot s, each summed in index order: linalg.dots(rows, x) bitwise. */
  dots(slots: readonly number[], x: Vec): Float64Array {
    this.check(x, "dots");
    const k = this.k;
    if (!k || !(x instanceof Float32Array))
      return dots(
        slots.map((s) => this.rows[s]),
        x,
      );
    this.pointTo(k, slots);
    k.kernel.dots(k.ptrs.byteOffset, slots.length, this.stage(k, x), this.length, k.res.byteOffset);
    return k.res.slice(0, slots.length);
  }

  /** dot(x, rows[s]) for each slot s: linalg.dot bitwise (its four partial sums). */
  dot(slots: readonly number[], x: Vec): Float64Array {
    this.check(x, "dot");
    const k = this.k;
    if (!k || !(x instanceof Float32Array)) return Float64Array.from(slots, (s) => dot(x, this.rows[s]));
    this.pointTo(k, slots);
    k.kernel.dot4(k.ptrs.byteOffset, slots.length, this.stage(k, x), this.length, k.res.byteOffset);
    return k.res.slice(0, slots.length);
  }

  /**
   * out ← float32(keep ? acc : g − acc) with acc = linalg.combine(rows of `slots`, coefs, zeros), and returns
   * Σ_i out_i² (of the stored float32 values, in index order). `out` may alias g.
   */
  combineInto(
    slots: readonly number[],
    coefs: ArrayLike<number>,
    g: Float32Array,
    mode: "keep" | "remove",
    out: Float32Array,
  ): number {
    this.check(g, "combineInto");
    this.check(out, "combineInto");
    const k = this.k;
    if (!k) {
      const acc = combine(
        slots.map((s) => this.rows[s]),
        coefs,
        new Float64Array(this.length),
      );
      let self = 0;
      for (let i = 0; i < out.length; i++) {
        out[i] = mode === "keep" ? acc[i] : g[i] - acc[i];
        self += out[i] * out[i];
      }
      return self;
    }
    // combine skips zero coefficients (and so groups the rest four by four)
    let n = 0;
    slots.forEach((s, t) => {
      if (coefs[t] === 0) return;
      k.ptrs[n] = this.rows[s].byteOffset;
      k.coefs[n] = coefs[t];
      n++;
    });
    const gAt = this.stage(k, g);
    const self = k.kernel.combine(
      k.ptrs.byteOffset,
      k.coefs.byteOffset,
      n,
      gAt,
      k.out.byteOffset,
      this.length,
      mode === "remove" ? 1 : 0,
      k.scratch,
    );
    out.set(k.out);
    return self;
  }
}
