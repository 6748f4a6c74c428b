// Modular-arithmetic tasks `a ∘ b mod p` and their train/test splits.

import { type MathNode, parse } from "mathjs";
import { Rng } from "../util/rng";

export type BuiltinOp = "add" | "sub" | "mul" | "sq_sum";
export const BUILTIN_OPS: readonly BuiltinOp[] = ["add", "sub", "mul", "sq_sum"];

export interface Task {
  name: string;
  p: number;
  /** Smallest operand: operands range over lo..p-1. */
  lo: number;
  /** a ∘ b mod p, in [0, p). */
  label(a: number, b: number): number;
}

export class TaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TaskError";
  }
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

// Labels are stored in Int32Array, so p must fit in int32.
const MAX_P = 2 ** 31 - 1;

function checkP(p: unknown): number {
  if (typeof p !== "number" || !Number.isInteger(p) || p < 3 || p > MAX_P) {
    throw new TaskError(`p must be an integer ≥ 3 (and ≤ ${MAX_P}), got ${String(p)}`);
  }
  return p;
}

function checkLo(lo: unknown, p: number): number {
  if (typeof lo !== "number" || !Number.isInteger(lo) || lo < 0 || lo >= p - 1) {
    throw new TaskError(`lo must be an integer in [0, p-2] = [0, ${p - 2}] for p=${p}, got ${String(lo)}`);
  }
  return lo;
}

function mod(x: number, p: number): number {
  const r = x % p;
  return r < 0 ? r + p : r;
}

function bigMod(x: bigint, p: bigint): bigint {
  const r = x % p;
  return r < 0n ? r + p : r;
}

function builtinLabel(op: BuiltinOp, p: number): (a: number, b: number) => number {
  // Doubles are exact only below 2^53; products of operands < p need p² (and 2p² for sq_sum) to fit.
  const small = 2 * (p - 1) * (p - 1) <= Number.MAX_SAFE_INTEGER;
  const P = BigInt(p);
  switch (op) {
    case "add":
      return (a, b) => mod(a + b, p);
    case "sub":
      return (a, b) => mod(a - b, p);
    case "mul":
      return small ? (a, b) => mod(a * b, p) : (a, b) => Number(bigMod(BigInt(a) * BigInt(b), P));
    case "sq_sum":
      return small
        ? (a, b) => mod(a * a + b * b, p)
        : (a, b) => Number(bigMod(BigInt(a) * BigInt(a) + BigInt(b) * BigInt(b), P));
  }
}

// ---------------------------------------------------------------------------
// User expressions: parsed by mathjs, evaluated exactly by our own BigInt compiler.
// Only ring operations (+, -, *, ^ with a constant exponent) are allowed, so reducing
// mod p after every step gives exactly (true integer value) mod p while keeping numbers small.

type Fn = (a: bigint, b: bigint) => bigint;

const ALLOWED =
  "only integer constants, a, b, +, -, *, ^ (constant non-negative integer exponent) and parentheses";

function intConstant(node: MathNode): bigint {
  const v = (node as MathNode & { value: unknown }).value;
  if (typeof v === "bigint") return v;
  if (typeof v !== "number") throw new TaskError(`unsupported ${typeof v} constant '${node.toString()}'`);
  if (!Number.isFinite(v)) throw new TaskError(`non-finite constant ${v} in expression`);
  if (!Number.isInteger(v)) {
    throw new TaskError(`non-integer constant ${v} in expression: the result would be a non-integer`);
  }
  if (!Number.isSafeInteger(v)) {
    throw new TaskError(
      `integer constant ${v} exceeds 2^53 and was rounded by the parser; write it reduced mod p instead`,
    );
  }
  return BigInt(v);
}

type OpNode = MathNode & { fn: string; op: string; args: MathNode[] };

/** Throws the most specific error for a node neither evaluator handles. */
function reject(node: MathNode): never {
  const text = node.toString();
  if (node.type === "OperatorNode") {
    const { fn, op } = node as OpNode;
    if (fn === "divide" || fn === "dotDivide") {
      throw new TaskError(
        `division ('${op}') in '${text}' is not supported: it can give a non-integer result`,
      );
    }
    if (fn === "mod") {
      throw new TaskError(
        `operator '${op}' in '${text}' is not supported (the result is already reduced mod p)`,
      );
    }
    throw new TaskError(`operator '${op}' (${fn}) in '${text}' is not supported: ${ALLOWED} are allowed`);
  }
  if (node.type === "FunctionNode") {
    const name = (node as MathNode & { fn: MathNode }).fn.toString();
    throw new TaskError(`function '${name}' in '${text}' is not supported: ${ALLOWED} are allowed`);
  }
  throw new TaskError(`unsupported ${node.type} '${text}' in expression: ${ALLOWED} are allowed`);
}

function negativeExponent(node: MathNode, e: bigint): TaskError {
  return new TaskError(
    `negative exponent ${e} in '${node.toString()}': the result would be a non-integer (division is not supported)`,
  );
}

/** Exact value of a constant sub-expression (exponents must not be reduced mod p). */
function exactConstant(node: MathNode): bigint {
  switch (node.type) {
    case "ConstantNode":
      return intConstant(node);
    case "ParenthesisNode":
      return exactConstant((node as MathNode & { content: MathNode }).content);
    case "SymbolNode":
      throw new TaskError(
        `exponent must be a constant non-negative integer, but it uses '${node.toString()}'`,
      );
    case "OperatorNode": {
      const { fn, args } = node as OpNode;
      if (fn === "unaryMinus") return -exactConstant(args[0]);
      if (fn === "unaryPlus") return exactConstant(args[0]);
      if (fn === "add") return exactConstant(args[0]) + exactConstant(args[1]);
      if (fn === "subtract") return exactConstant(args[0]) - exactConstant(args[1]);
      if (fn === "multiply") return exactConstant(args[0]) * exactConstant(args[1]);
      if (fn === "pow") {
        const base = exactConstant(args[0]);
        const e = exactConstant(args[1]);
        if (e < 0n) throw negativeExponent(node, e);
        // Guard against constants like 10^10^10 that would exhaust memory.
        const bits = BigInt((base < 0n ? -base : base).toString(2).length);
        if (bits > 1n && bits * e > 1_000_000n) {
          throw new TaskError(`constant '${node.toString()}' is too large`);
        }
        return base ** e;
      }
      return reject(node);
    }
    default:
      return reject(node);
  }
}

function modPow(base: bigint, e: bigint, p: bigint): bigint {
  let result = 1n % p;
  let x = base;
  for (let k = e; k > 0n; k >>= 1n) {
    if (k & 1n) result = (result * x) % p;
    x = (x * x) % p;
  }
  return result;
}

/** Compiles to a closure returning the value mod P in [0, P), given a, b in [0, P). */
function compileNode(node: MathNode, P: bigint): Fn {
  switch (node.type) {
    case "ConstantNode": {
      const c = bigMod(intConstant(node), P);
      return () => c;
    }
    case "SymbolNode": {
      const name = (node as MathNode & { name: string }).name;
      if (name === "a") return (a) => a;
      if (name === "b") return (_a, b) => b;
      throw new TaskError(`unknown symbol '${name}' in expression: only a and b are allowed`);
    }
    case "ParenthesisNode":
      return compileNode((node as MathNode & { content: MathNode }).content, P);
    case "OperatorNode": {
      const { fn, args } = node as OpNode;
      if (fn === "pow") {
        const base = compileNode(args[0], P);
        const e = exactConstant(args[1]);
        if (e < 0n) throw negativeExponent(node, e);
        return (a, b) => modPow(base(a, b), e, P);
      }
      if (fn === "unaryPlus") return compileNode(args[0], P);
      if (fn === "unaryMinus") {
        const x = compileNode(args[0], P);
        return (a, b) => bigMod(-x(a, b), P);
      }
      if (fn === "add" || fn === "subtract" || fn === "multiply") {
        const x = compileNode(args[0], P);
        const y = compileNode(args[1], P);
        if (fn === "add") return (a, b) => (x(a, b) + y(a, b)) % P;
        if (fn === "subtract") return (a, b) => bigMod(x(a, b) - y(a, b), P);
        return (a, b) => (x(a, b) * y(a, b)) % P;
      }
      return reject(node);
    }
    default:
      return reject(node);
  }
}

/** All symbol names used as values (not as function names). */
function symbolNames(root: MathNode): string[] {
  const names = new Set<string>();
  root.traverse((n, path) => {
    if (n.type === "SymbolNode" && path !== "fn") names.add((n as MathNode & { name: string }).name);
  });
  return [...names];
}

function compileExpr(expr: string, p: number): { name: string; label: (a: number, b: number) => number } {
  if (typeof expr !== "string" || expr.trim() === "") {
    throw new TaskError(`expression must be a non-empty string in a and b, got ${JSON.stringify(expr)}`);
  }
  let root: MathNode;
  try {
    root = parse(expr);
  } catch (e) {
    throw new TaskError(`cannot parse expression '${expr}': ${(e as Error).message}`);
  }
  const unknown = symbolNames(root).filter((s) => s !== "a" && s !== "b");
  if (unknown.length > 0) {
    throw new TaskError(
      `expression '${expr}' uses unknown symbol(s) ${unknown.map((s) => `'${s}'`).join(", ")}: only a and b are allowed`,
    );
  }
  const P = BigInt(p);
  const f = compileNode(root, P);
  // Reduce operands first: the compiled closure assumes inputs in [0, p).
  return { name: root.toString(), label: (a, b) => Number(f(bigMod(BigInt(a), P), bigMod(BigInt(b), P))) };
}

export function makeTask(spec: { op?: string; expr?: string; p: number; lo?: number }): Task {
  const hasOp = spec.op !== undefined;
  const hasExpr = spec.expr !== undefined;
  if (hasOp === hasExpr) {
    throw new TaskError(
      hasOp
        ? `give exactly one of op or expr, not both (op='${spec.op}', expr='${spec.expr}')`
        : `give exactly one of op (${BUILTIN_OPS.join(", ")}) or expr (e.g. 'a^2 + a*b')`,
    );
  }
  const p = checkP(spec.p);
  let task: Task;
  if (hasOp) {
    const op = spec.op as string;
    if (!(BUILTIN_OPS as readonly string[]).includes(op)) {
      throw new TaskError(
        `unknown op '${op}': valid ops are ${BUILTIN_OPS.join(", ")}; for other operations use --expr (e.g. --expr 'a^3 + a*b')`,
      );
    }
    // The paper draws mul operands from 1..p-1 (0 would make every product 0).
    const lo = checkLo(spec.lo ?? (op === "mul" ? 1 : 0), p);
    task = { name: op, p, lo, label: builtinLabel(op as BuiltinOp, p) };
  } else {
    const { name, label } = compileExpr(spec.expr as string, p);
    task = { name, p, lo: checkLo(spec.lo ?? 0, p), label };
  }
  if (!isPrime(p)) {
    console.warn(
      `warning: p=${p} is not prime; modular arithmetic tasks normally use a prime modulus ` +
        "(without one, Z_p is not a field: division and the structure of mul differ)",
    );
  }
  return task;
}

// ---------------------------------------------------------------------------
// Datasets

export interface Pairs {
  a: Int32Array;
  b: Int32Array;
  y: Int32Array;
}

export interface Dataset {
  /** The task (a multitask dataset's first task). */
  task: Task;
  trainA: Int32Array;
  trainB: Int32Array;
  trainY: Int32Array;
  testA: Int32Array;
  testB: Int32Array;
  testY: Int32Array;
  /** Every task on the same pairs (one for a single-task dataset), and their labels: trainYs[t][i] is task t's
   * label of train pair i (trainYs[0] is trainY). */
  tasks: Task[];
  trainYs: Int32Array[];
  testYs: Int32Array[];
}

/** Gathers pairs for the given row-major domain indices (i = (a-lo)·m + (b-lo)). */
function pairsAt(task: Task, idx: Int32Array): Pairs {
  const m = task.p - task.lo;
  const n = idx.length;
  const out: Pairs = { a: new Int32Array(n), b: new Int32Array(n), y: new Int32Array(n) };
  for (let k = 0; k < n; k++) {
    const a = task.lo + Math.floor(idx[k] / m);
    const b = task.lo + (idx[k] % m);
    out.a[k] = a;
    out.b[k] = b;
    out.y[k] = task.label(a, b);
  }
  return out;
}

function domainSize(task: Task): number {
  const m = task.p - task.lo;
  return m * m;
}

/** Whole domain [lo,p)², row-major (a outer, b inner). */
export function allPairs(task: Task): Pairs {
  const idx = new Int32Array(domainSize(task));
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return pairsAt(task, idx);
}

/** n pairs drawn uniformly with replacement from [lo,p)². */
export function samplePairs(task: Task, n: number, rng: Rng): Pairs {
  if (!Number.isInteger(n) || n < 0) {
    throw new TaskError(`samplePairs: n must be a non-negative integer, got ${n}`);
  }
  const m = task.p - task.lo;
  const idx = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const a = rng.int(m);
    idx[k] = a * m + rng.int(m);
  }
  return pairsAt(task, idx);
}

/** Shuffles all pairs with `new Rng(seed)`; the first ⌊frac·N⌋ are train, the rest test. */
export function makeDataset(task: Task, frac: number, seed: number): Dataset {
  if (!(Number.isFinite(frac) && frac > 0 && frac < 1)) {
    throw new TaskError(`train fraction must be in the open interval (0, 1), got ${frac}`);
  }
  const n = domainSize(task);
  const nTrain = Math.floor(frac * n);
  if (nTrain === 0 || nTrain === n) {
    throw new TaskError(
      `train fraction ${frac} of ${n} pairs gives ${nTrain} train / ${n - nTrain} test: both splits must be non-empty`,
    );
  }
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  new Rng(seed).shuffle(idx);
  const train = pairsAt(task, idx.subarray(0, nTrain));
  const test = pairsAt(task, idx.subarray(nTrain));
  return {
    task,
    trainA: train.a,
    trainB: train.b,
    trainY: train.y,
    testA: test.a,
    testB: test.b,
    testY: test.y,
    tasks: [task],
    trainYs: [train.y],
    testYs: [test.y],
  };
}

/** Each task's labels of the pairs (a[i], b[i]). */
export function labelsOf(tasks: readonly Task[], a: Int32Array, b: Int32Array): Int32Array[] {
  return tasks.map((t) => Int32Array.from(a, (ai, i) => t.label(ai, b[i])));
}

/**
 * Several tasks on one shared split: the pairs and their train/test split are `makeDataset`'s for the first
 * task (so the tasks must share p and the operand range lo), and every pair carries every task's label.
 */
export function makeMultitaskDataset(tasks: readonly Task[], frac: number, seed: number): Dataset {
  if (tasks.length === 0) throw new TaskError("makeMultitaskDataset: no tasks");
  const first = tasks[0];
  for (const t of tasks) {
    if (t.p !== first.p || t.lo !== first.lo) {
      throw new TaskError(
        `multitask tasks must share p and the operand range: ${first.name} has p ${first.p}, lo ${first.lo}; ${t.name} has p ${t.p}, lo ${t.lo}`,
      );
    }
  }
  const ds = makeDataset(first, frac, seed);
  const trainYs = labelsOf(tasks, ds.trainA, ds.trainB);
  const testYs = labelsOf(tasks, ds.testA, ds.testB);
  return { ...ds, tasks: [...tasks], trainYs, testYs, trainY: trainYs[0], testY: testYs[0] };
}
