// The sweep runner: trains runs in a pool of worker processes (wasm runs one thread per process, so parallelism
// means processes). Runs with a valid record are skipped and interrupted ones resume from their checkpoints, so
// rerunning a sweep is always safe.
import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import type { SweepRun } from "../../grids/spec";
import { findRecord } from "../../records/records";
import { NODE_FLAGS } from "../../util/nodeFlags";
import { checkpointsDir, repoRoot, runsDir } from "../../util/paths";
import { computePathEnv } from "../backend";
import { checkpointPath, loadCheckpoint, removeCheckpoint } from "../checkpointFile";
import { doneLine, statusLine } from "./status";
import type { FromWorker, RunProgress, ToWorker } from "./worker";

export interface SweepOptions {
  /** Worker processes (default: the number of cores). */
  jobs?: number;
  /** Folder for the run records (default data/runs). */
  recordDir?: string;
  /** Aborting stops the workers (each saves a checkpoint) and ends the sweep as interrupted. */
  signal?: AbortSignal;
  /** Label for progress lines. */
  name?: string;
  /** Event lines (a run done, failed, …); default: stdout. */
  log?: (line: string) => void;
  /** Progress display; null: none. Default: stderr, redrawn on a TTY, a line every 10 s otherwise. */
  progress?: NodeJS.WriteStream | null;
  /** The `sedlab` entry the workers run (default: bin/sedlab.mjs of this checkout). */
  workerScript?: string;
}

export interface SweepResult {
  total: number;
  skipped: string[];
  trained: string[];
  failed: { id: string; error: string }[];
  /** Runs started but stopped by an interruption (they resume from their checkpoints). */
  interrupted: string[];
  /** Runs never started (interruption, or no worker could start). */
  notStarted: string[];
  /** The sweep was stopped by its signal. */
  aborted: boolean;
  seconds: number;
}

/** Train the runs that have no valid record yet, `jobs` at a time in worker processes. */
export async function runSweep(runs: readonly SweepRun[], opts: SweepOptions = {}): Promise<SweepResult> {
  const t0 = performance.now();
  const recordDir = resolve(opts.recordDir ?? runsDir());
  const result = emptyResult(runs.length);
  const pending = skipDone(runs, recordDir, result);
  if (pending.length > 0) {
    const jobs = Math.max(1, Math.min(opts.jobs ?? availableParallelism(), pending.length));
    // The BLAS path is decided once, here, and handed to every worker: one sweep, one compute path.
    Object.assign(process.env, await computePathEnv());
    const pool = new Pool(pending, result, { ...opts, jobs, recordDir, t0 });
    await pool.run(opts.signal);
    result.notStarted = pending.map((r) => r.id);
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

function emptyResult(total: number): SweepResult {
  return {
    total,
    skipped: [],
    trained: [],
    failed: [],
    interrupted: [],
    notStarted: [],
    aborted: false,
    seconds: 0,
  };
}

/**
 * A run is done when its valid record exists. A process killed between writing the record and removing its
 * checkpoint leaves a stale checkpoint behind: remove it here, since the run will never resume.
 */
function isDone(r: SweepRun, recordDir?: string, quiet = false): boolean {
  // An invalid file is reported once, when the sweep starts; the worker moves it aside before writing.
  if (!findRecord(r.config, recordDir, quiet ? () => {} : undefined)) return false;
  removeCheckpoint(checkpointPath(checkpointsDir(), r.id));
  return true;
}

/** The runs still to train; the done ones go to result.skipped. */
function skipDone(runs: readonly SweepRun[], recordDir: string, result: SweepResult): SweepRun[] {
  const pending: SweepRun[] = [];
  for (const r of runs) {
    if (isDone(r, recordDir)) result.skipped.push(r.id);
    else pending.push(r);
  }
  return pending;
}

/** " (resuming from step N)" when the run has a readable checkpoint, else "". */
function resumeNote(id: string): string {
  const ck = checkpointPath(checkpointsDir(), id);
  try {
    const step = existsSync(ck) ? loadCheckpoint(ck)?.header.step : undefined;
    return typeof step === "number" ? ` (resuming from step ${step})` : "";
  } catch {
    // an unreadable checkpoint is reported by the worker's train() as the run's error
    return "";
  }
}

/** The progress display: redrawn in place on a TTY (at most every 200 ms), a line every 10 s otherwise. */
class StatusDisplay {
  private lastDraw = 0;
  private drawn = false;
  private readonly out: NodeJS.WriteStream | null;
  private readonly line: () => string;
  private readonly log: (line: string) => void;

  constructor(out: NodeJS.WriteStream | null, line: () => string, log: (line: string) => void) {
    this.out = out;
    this.line = line;
    this.log = log;
  }

  draw(force = false): void {
    const out = this.out;
    if (!out) return;
    const now = performance.now();
    if (out.isTTY) {
      if (!force && now - this.lastDraw < 200) return;
      out.write(`\r${this.line().slice(0, (out.columns ?? 120) - 1)}\x1b[K`);
      this.drawn = true;
    } else {
      // Logs get events as their own lines; a periodic status line is enough besides.
      if (force || now - this.lastDraw < 10_000) return;
      out.write(`${this.line()}\n`);
    }
    this.lastDraw = now;
  }

  /** An event line (a run done, failed, …), above the status line. */
  event(line: string): void {
    this.clear();
    this.log(line);
    this.draw(true);
  }

  clear(): void {
    if (this.out?.isTTY && this.drawn) this.out.write("\r\x1b[K");
  }
}

/** A worker process and the run it is on. */
interface Slot {
  child: ChildProcess;
  ready: boolean;
  /** Told to exit: its exit is expected. */
  retiring: boolean;
  run?: SweepRun;
  progress?: RunProgress;
  stderr: string;
}

interface PoolSettings extends SweepOptions {
  jobs: number;
  recordDir: string;
  /** When the sweep started (performance.now()). */
  t0: number;
}

/** The workers of one sweep: hands out `pending` (which it empties) and records the outcomes in `result`. */
class Pool {
  private readonly slots = new Set<Slot>();
  /** Wall seconds of the runs trained so far. */
  private readonly durations: number[] = [];
  private startFailures = 0;
  private stopping = false;
  private settle: () => void = () => {};
  private readonly display: StatusDisplay;
  private readonly script: string;
  private readonly pending: SweepRun[];
  private readonly result: SweepResult;
  private readonly s: PoolSettings;

  constructor(pending: SweepRun[], result: SweepResult, settings: PoolSettings) {
    this.pending = pending;
    this.result = result;
    this.s = settings;
    this.script = settings.workerScript ?? join(repoRoot(), "bin", "sedlab.mjs");
    this.display = new StatusDisplay(
      settings.progress === undefined ? process.stderr : settings.progress,
      () => this.statusLine(),
      settings.log ?? ((l: string) => console.log(l)),
    );
  }

  /** Start the workers and wait until every one has exited (the work is out, or the signal stopped them). */
  async run(signal?: AbortSignal): Promise<void> {
    const finished = new Promise<void>((r) => {
      this.settle = r;
    });
    const stopAll = () => this.stopAll();
    if (signal?.aborted) stopAll();
    else signal?.addEventListener("abort", stopAll, { once: true });
    if (!this.stopping) for (let k = 0; k < this.s.jobs; k++) this.spawn();
    if (this.slots.size > 0) await finished;
    signal?.removeEventListener("abort", stopAll);
    this.display.clear();
  }

  private doneCount(): number {
    return this.result.skipped.length + this.result.trained.length;
  }

  private statusLine(): string {
    const running = [...this.slots].flatMap((s) => (s.run ? [{ id: s.run.id, progress: s.progress }] : []));
    return statusLine({
      name: this.s.name,
      total: this.result.total,
      done: this.doneCount(),
      failed: this.result.failed.length,
      running,
      pending: this.pending.length,
      jobs: this.s.jobs,
      elapsedSeconds: (performance.now() - this.s.t0) / 1000,
      durations: this.durations,
    });
  }

  /** The next run without a record; another process (a second sweep on a shared disk) may have done some. */
  private nextRun(): SweepRun | undefined {
    while (!this.stopping && this.pending.length > 0) {
      const r = this.pending.shift() as SweepRun;
      if (isDone(r, this.s.recordDir, true)) this.result.skipped.push(r.id);
      else return r;
    }
    return undefined;
  }

  /** Give an idle, ready worker the next run, or tell it to exit when there is none. */
  private dispatch(slot: Slot): void {
    if (slot.run || !slot.ready || slot.retiring) return;
    const next = this.nextRun();
    if (!next) {
      slot.retiring = true;
      slot.child.send({ type: "stop" } satisfies ToWorker);
      return;
    }
    slot.run = next;
    slot.progress = undefined;
    const resume = resumeNote(next.id);
    if (resume) this.display.event(`resume ${next.id}${resume}`);
    slot.child.send({
      type: "run",
      id: next.id,
      config: next.config,
      recordDir: this.s.recordDir,
    } satisfies ToWorker);
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    switch (m.type) {
      case "ready":
        slot.ready = true;
        this.dispatch(slot);
        return;
      case "progress":
        slot.progress = m;
        this.display.draw();
        return;
      case "warning":
        this.display.event(`note  ${m.id}: ${m.message}`);
        return;
    }
    // The run is over: free the slot first so the status line drops it.
    slot.run = undefined;
    slot.progress = undefined;
    switch (m.type) {
      case "done":
        this.durations.push(m.wallSeconds);
        this.result.trained.push(m.id);
        this.display.event(doneLine(m, this.doneCount(), this.result.total));
        break;
      case "interrupted":
        this.result.interrupted.push(m.id);
        break;
      case "failed":
        this.result.failed.push({ id: m.id, error: m.error });
        this.display.event(`FAILED ${m.id}: ${m.error}`);
        break;
    }
    this.dispatch(slot);
  }

  private onExit(slot: Slot, code: number | null, sig: NodeJS.Signals | null): void {
    this.slots.delete(slot);
    const how = sig ? `signal ${sig}` : `code ${code}`;
    const tail = slot.stderr.trim().split("\n").slice(-5).join("\n    ");
    if (slot.run) {
      // Killed while training, e.g. a second Ctrl-C: its last checkpoint stands.
      if (this.stopping) this.result.interrupted.push(slot.run.id);
      else {
        const error = `worker exited with ${how}${tail ? `:\n    ${tail}` : ""}`;
        this.result.failed.push({ id: slot.run.id, error });
        this.display.event(`FAILED ${slot.run.id}: ${error}`);
      }
    } else if (!slot.ready && !this.stopping) {
      this.startFailures += 1;
      this.display.event(`a worker failed to start (${how})${tail ? `:\n    ${tail}` : ""}`);
    }
    // Replace a lost worker while there is work, unless workers cannot even start.
    if (!this.stopping && this.pending.length > 0 && this.startFailures < 2) this.spawn();
    if (this.slots.size === 0) this.settle();
  }

  private spawn(): void {
    const child = fork(this.script, ["_worker"], {
      // The parent's flags (e.g. node --test's) are not the worker's; the bin script registers tsx itself.
      execArgv: [...NODE_FLAGS],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      env: process.env,
    });
    const slot: Slot = { child, ready: false, retiring: false, stderr: "" };
    this.slots.add(slot);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      slot.stderr = (slot.stderr + d).slice(-4000);
    });
    child.on("message", (m: FromWorker) => this.onMessage(slot, m));
    child.on("error", (e) => {
      slot.stderr += `\n${e.message}`;
    });
    child.on("exit", (code, sig) => this.onExit(slot, code, sig));
  }

  /** Tell every worker to stop (each checkpoints its run); the sweep ends as aborted. */
  private stopAll(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.result.aborted = true;
    for (const s of this.slots) {
      if (s.child.connected) s.child.send({ type: "stop" } satisfies ToWorker);
    }
  }
}
