// Sweeps on a Slurm cluster: a job-array script whose task i runs `sedlab sweep <spec> --shard i/n`, all tasks
// writing records to one shared folder, and `collect`, which checks afterwards that every run's record is there
// and valid. Both reuse the sweep's spec expansion and the records' validation.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadSpec } from "../grids/load";
import { expandRuns, SpecError, type SweepSpec } from "../grids/spec";
import { loadRecord, recordPath } from "../records/records";
import { RecordError } from "../records/schema";
import { checkpointsDir, repoRoot, runsDir } from "../util/paths";
import { checkpointPath, loadCheckpoint } from "./checkpointFile";

// ---------------------------------------------------------------------------------------------------------
// The job script.

export interface SbatchOptions {
  /** The spec file, absolute (the compute nodes read it). */
  specPath: string;
  /** Label for the job and log names (the spec's name). */
  name: string;
  /** Runs in the spec. */
  runs: number;
  /** Array tasks n (default: one per run); task i trains runs i, i+n, i+2n, … (`--shard i/n`). */
  tasks?: number;
  /** At most this many tasks at once (`--array=0-(n-1)%max`). */
  arrayMax?: number;
  partition?: string;
  /** Wall-clock limit per task: HH:MM:SS or D-HH:MM:SS. */
  time?: string;
  /** CPUs per task (default 1); the task's sweep runs this many worker processes. */
  cpusPerTask?: number;
  /** Memory per node, e.g. 4G. */
  mem?: string;
  account?: string;
  /** Default: sedlab-<name>. */
  jobName?: string;
  /** Folder for the per-task logs, absolute; it must exist when the job starts (Slurm does not create it). */
  logDir: string;
  /** Working directory of every task, absolute (relative paths in the spec, e.g. `out`, resolve from here). */
  workDir: string;
  /** Absolute path of the node executable. */
  node: string;
  /** Absolute path of the checkout's bin/sedlab.mjs. */
  sedlab: string;
  /** Environment set before the sweep starts, e.g. SEDLAB_DATA and SEDLAB_CHECKPOINTS. */
  env?: Record<string, string>;
  /** Where the records end up, for the script's header comment. */
  recordDir?: string;
}

/** A name usable in file and job names. */
export function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._-]+/, "") || "sweep";
}

const TIME_RE = /^(?:(\d+)-)?(\d{1,3}):([0-5]\d):([0-5]\d)$/;
const WORD_RE = /^[A-Za-z0-9_.,:@+-]+$/;

function positiveInt(flag: string, x: number | undefined): void {
  if (x !== undefined && !(Number.isInteger(x) && x >= 1)) {
    throw new SpecError(`${flag} expects a positive integer, got ${JSON.stringify(x)}`);
  }
}

function checkWord(flag: string, x: string | undefined, what: string): void {
  if (x !== undefined && !WORD_RE.test(x)) {
    throw new SpecError(
      `${flag} expects ${what} (letters, digits and . _ , : @ + -), got ${JSON.stringify(x)}`,
    );
  }
}

/** Paths that go on #SBATCH lines, where sbatch splits at whitespace. */
function checkSbatchPath(what: string, p: string): void {
  if (!isAbsolute(p)) throw new SpecError(`${what} must be an absolute path, got ${JSON.stringify(p)}`);
  if (/[\s"'\\]/.test(p)) {
    throw new SpecError(
      `${what} ${JSON.stringify(p)} contains whitespace, quotes or backslashes, which #SBATCH lines cannot hold; ` +
        "use a folder without them",
    );
  }
}

/** A word for bash: as is when safe, else single-quoted. */
function sh(s: string): string {
  return /^[A-Za-z0-9_/.,:+=@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Validate `--time`: HH:MM:SS or D-HH:MM:SS, more than zero. */
export function checkTime(time: string): void {
  const m = TIME_RE.exec(time);
  if (!m || m.slice(1).every((x) => x === undefined || Number(x) === 0)) {
    throw new SpecError(
      `--time expects a wall-clock limit HH:MM:SS or D-HH:MM:SS (e.g. 02:00:00 or 1-12:00:00), got "${time}"`,
    );
  }
}

/** The sbatch script for a sweep as a job array. Throws SpecError naming the first bad option. */
export function sbatchScript(o: SbatchOptions): string {
  positiveInt("runs", o.runs);
  const tasks = o.tasks ?? o.runs;
  positiveInt("--tasks", tasks);
  if (tasks > o.runs) {
    throw new SpecError(
      `--tasks ${tasks} is more than the spec's ${o.runs} runs (some tasks would be empty)`,
    );
  }
  positiveInt("--array-max", o.arrayMax);
  positiveInt("--cpus-per-task", o.cpusPerTask);
  if (o.time !== undefined) checkTime(o.time);
  checkWord("--partition", o.partition, "a partition name or list");
  checkWord("--account", o.account, "an account name");
  checkWord("--job-name", o.jobName, "a job name");
  if (o.mem !== undefined && !/^\d+[KMGT]?$/i.test(o.mem)) {
    throw new SpecError(`--mem expects a size such as 4000 (MB), 4G or 512M, got "${o.mem}"`);
  }
  checkSbatchPath("the log folder", o.logDir);
  checkSbatchPath("the working directory", o.workDir);
  for (const [what, p] of [
    ["the spec path", o.specPath],
    ["the node path", o.node],
    ["the sedlab path", o.sedlab],
  ] as const) {
    if (!isAbsolute(p)) throw new SpecError(`${what} must be absolute, got ${JSON.stringify(p)}`);
  }
  for (const k of Object.keys(o.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new SpecError(`bad environment variable name "${k}"`);
  }

  const cpus = o.cpusPerTask ?? 1;
  const name = slug(o.name);
  const per = o.runs === tasks ? "one run each" : `runs i, i+${tasks}, i+${2 * tasks}, … in task i`;
  const sbatch = [
    `--job-name=${o.jobName ?? `sedlab-${name}`}`,
    `--array=0-${tasks - 1}${o.arrayMax === undefined ? "" : `%${o.arrayMax}`}`,
    "--ntasks=1",
    `--cpus-per-task=${cpus}`,
    ...(o.time === undefined ? [] : [`--time=${o.time}`]),
    ...(o.partition === undefined ? [] : [`--partition=${o.partition}`]),
    ...(o.account === undefined ? [] : [`--account=${o.account}`]),
    ...(o.mem === undefined ? [] : [`--mem=${o.mem}`]),
    // %A: the array's job id, %a: the task index; a literal % in the folder is written %%.
    `--output=${join(o.logDir.replace(/%/g, "%%"), `${name}_%A_%a.out`)}`,
    `--chdir=${o.workDir}`,
  ];
  const lines = [
    "#!/bin/bash",
    `# sedlab sweep ${JSON.stringify(o.name)} as a Slurm job array: ${o.runs} run${o.runs === 1 ? "" : "s"} in ${tasks} task${tasks === 1 ? "" : "s"} (${per}).`,
    "# Written by `sedlab slurm`. Submit it with sbatch; submitting it again is safe: runs with a valid record",
    "# are skipped and interrupted ones resume from their checkpoints. Then check with `sedlab collect`.",
    ...(o.recordDir ? [`# Records: ${o.recordDir.replace(/[\r\n]+/g, " ")}`] : []),
    ...sbatch.map((s) => `#SBATCH ${s}`),
    "",
    "set -euo pipefail",
    `: "\${SLURM_ARRAY_TASK_ID:?submit this script with sbatch: it is a job array}"`,
    ...Object.entries(o.env ?? {}).map(([k, v]) => `export ${k}=${sh(v)}`),
    `cd ${sh(o.workDir)}`,
    `exec ${sh(o.node)} ${sh(o.sedlab)} sweep ${sh(o.specPath)} --shard "\${SLURM_ARRAY_TASK_ID}/${tasks}" --jobs ${cpus}`,
    "",
  ];
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// Checking the records.

export interface CollectRow {
  id: string;
  condition: string | null;
  status: "done" | "missing" | "invalid";
  path: string;
  /** Why a run is missing or invalid. */
  reason?: string;
  /** Of a done run. */
  grokStep?: number | null;
  steps?: number;
  testAcc?: number;
}

export interface CollectReport {
  name: string;
  recordDir: string;
  total: number;
  done: number;
  missing: number;
  invalid: number;
  /** Every run is done. */
  ok: boolean;
  /** One row per run, in the spec's run order. */
  rows: CollectRow[];
}

/**
 * Which runs of a spec have a valid record in `recordDir` (default: the spec's `out`, else data/runs). A missing
 * run's reason mentions its checkpoint when one exists in `checkpointDir` (interrupted, or still training).
 */
export function collect(
  spec: SweepSpec,
  opts: { recordDir?: string; checkpointDir?: string } = {},
): CollectReport {
  const recordDir = resolve(opts.recordDir ?? spec.out ?? runsDir());
  const ckDir = opts.checkpointDir ?? checkpointsDir();
  const rows: CollectRow[] = expandRuns(spec).map(({ id, condition }) => {
    const path = recordPath(id, recordDir);
    if (!existsSync(path)) {
      let reason = "no record";
      const ck = checkpointPath(ckDir, id);
      if (existsSync(ck)) {
        try {
          reason += `; checkpoint at step ${loadCheckpoint(ck)?.header.step} (interrupted or still training)`;
        } catch (e) {
          reason += `; ${(e as Error).message}`;
        }
      }
      return { id, condition, status: "missing", path, reason };
    }
    try {
      const r = loadRecord(path);
      if (r.id !== id) {
        return {
          id,
          condition,
          status: "invalid",
          path,
          reason: `${path} holds run "${r.id}", not "${id}"; delete it and rerun`,
        };
      }
      return {
        id,
        condition,
        status: "done",
        path,
        grokStep: r.grokStep,
        steps: r.steps,
        testAcc: r.final?.testAcc,
      };
    } catch (e) {
      if (!(e instanceof RecordError)) throw e;
      return { id, condition, status: "invalid", path, reason: e.message };
    }
  });
  const count = (s: CollectRow["status"]) => rows.filter((r) => r.status === s).length;
  const done = count("done");
  return {
    name: spec.name ?? "sweep",
    recordDir,
    total: rows.length,
    done,
    missing: count("missing"),
    invalid: count("invalid"),
    ok: done === rows.length,
    rows,
  };
}

/** The report as a table, one line per run, and a summary line. */
export function formatCollect(rep: CollectReport): string {
  const detail = (r: CollectRow): string => {
    if (r.status !== "done") return r.reason ?? "";
    const g = r.grokStep === null ? "no grok" : `grok@${r.grokStep}`;
    const acc = typeof r.testAcc === "number" ? `, test ${(100 * r.testAcc).toFixed(1)}%` : "";
    return `${g}, ${r.steps} steps${acc}`;
  };
  const w = Math.max(3, ...rep.rows.map((r) => r.id.length));
  const lines = [`${"status".padEnd(8)} ${"run".padEnd(w)}  detail`];
  for (const r of rep.rows) {
    const cond = r.condition === null ? "" : `[${r.condition}] `;
    lines.push(`${r.status.padEnd(8)} ${r.id.padEnd(w)}  ${cond}${detail(r)}`);
  }
  lines.push(
    `${rep.name}: ${rep.done} of ${rep.total} runs done, ${rep.missing} missing, ${rep.invalid} invalid; records in ${rep.recordDir}`,
  );
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// The `sedlab slurm` and `sedlab collect` commands.

export const SLURM_HELP = `sedlab slurm <spec.json|spec.yaml> [options]

Writes a Slurm job-array script for a sweep and prints how to submit it. Array task i runs
\`sedlab sweep <spec> --shard i/n\`, so the n tasks share out the spec's runs (default: one run per task). All
tasks write their records to one folder, which every node must see. Submitting the script again is safe: runs
with a valid record are skipped and interrupted ones (time limit, preemption) resume from their checkpoints.
Afterwards \`sedlab collect <spec>\` (with the same --results) checks that every record is there.

options:
  --results DIR        data folder on a shared disk: records go to DIR/runs (sets SEDLAB_DATA for the tasks;
                       default: $SEDLAB_DATA, else the checkout's data/; a spec with "out" uses that instead)
  --checkpoints DIR    checkpoint folder on a shared disk (sets SEDLAB_CHECKPOINTS; default: $SEDLAB_CHECKPOINTS,
                       else the checkout's checkpoints/)
  --tasks N            array tasks (default: the number of runs); task i trains runs i, i+N, i+2N, …
  --array-max N        run at most N tasks at once (--array=0-(n-1)%N)
  --partition P        sbatch --partition
  --time T             time limit per task, HH:MM:SS or D-HH:MM:SS
  --cpus-per-task N    sbatch --cpus-per-task (default 1); the task runs N sweep workers
  --mem SIZE           memory per task's node, e.g. 4G
  --account A          sbatch --account
  --job-name NAME      default sedlab-<spec name>
  --out DIR            folder for the script and the task logs (default slurm/<spec name>)

The script calls this checkout's bin/sedlab.mjs with this node by absolute path, so it runs from any directory
on a compute node that sees the same paths.`;

export const COLLECT_HELP = `sedlab collect <spec.json|spec.yaml> [--results DIR] [--checkpoints DIR] [--json]

Checks that every run of a sweep has a valid record: prints one line per run (done, missing or invalid, with the
reason) and exits 1 if any run is missing or invalid.

options:
  --results DIR        data folder the sweep wrote to (records in DIR/runs; default: $SEDLAB_DATA, else the
                       checkout's data/; a spec with "out" uses that)
  --checkpoints DIR    where to look for the checkpoints of missing runs (default: $SEDLAB_CHECKPOINTS, else the
                       checkout's checkpoints/)
  --json               print the report as JSON instead of a table`;

function parse(
  cmd: string,
  help: string,
  args: string[],
  options: Record<string, { type: "string" | "boolean" }>,
): { values: Record<string, string | boolean | undefined>; spec?: string } | number {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    console.error(`sedlab ${cmd}: ${(e as Error).message}\n\n${help}`);
    return 2;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`sedlab ${cmd}: give one spec file\n\n${help}`);
    return 2;
  }
  return { values, spec: positionals[0] };
}

function intOption(flag: string, v: string | boolean | undefined): number | undefined {
  if (typeof v !== "string") return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isInteger(x) || x < 1) {
    throw new SpecError(`${flag} expects a positive integer, got "${v}"`);
  }
  return x;
}

/** The record folder: the spec's `out`, else DIR/runs for --results DIR, else data/runs ($SEDLAB_DATA). */
function recordDirFor(spec: SweepSpec, specPath: string, results: string | undefined): string {
  if (spec.out !== undefined && results !== undefined) {
    throw new SpecError(
      `${specPath} sets "out" (${spec.out}), so --results would be ignored; drop one of them`,
    );
  }
  if (spec.out !== undefined) return resolve(spec.out);
  return results === undefined ? runsDir() : join(resolve(results), "runs");
}

function withErrors(cmd: string, f: () => number): number {
  try {
    return f();
  } catch (e) {
    if (e instanceof SpecError) {
      console.error(`sedlab ${cmd}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

export function slurmCommand(args: string[]): number {
  const p = parse("slurm", SLURM_HELP, args, {
    results: { type: "string" },
    checkpoints: { type: "string" },
    tasks: { type: "string" },
    "array-max": { type: "string" },
    partition: { type: "string" },
    time: { type: "string" },
    "cpus-per-task": { type: "string" },
    mem: { type: "string" },
    account: { type: "string" },
    "job-name": { type: "string" },
    out: { type: "string" },
  });
  if (typeof p === "number") return p;
  return withErrors("slurm", () => {
    const v = p.values;
    const s = (k: string) => (typeof v[k] === "string" ? (v[k] as string) : undefined);
    const spec = loadSpec(p.spec as string);
    const specPath = resolve(p.spec as string);
    const runs = expandRuns(spec).length;
    const results = s("results");
    const recordDir = recordDirFor(spec, specPath, results);
    const env: Record<string, string> = {};
    const data = results ?? process.env.SEDLAB_DATA;
    if (data) env.SEDLAB_DATA = resolve(data);
    const ck = s("checkpoints") ?? process.env.SEDLAB_CHECKPOINTS;
    if (ck) env.SEDLAB_CHECKPOINTS = resolve(ck);
    if (process.env.SEDLAB_BACKEND) env.SEDLAB_BACKEND = process.env.SEDLAB_BACKEND;
    const name = spec.name ?? "sweep";
    const out = resolve(s("out") ?? join("slurm", slug(name)));
    const logDir = join(out, "logs");
    const tasks = intOption("--tasks", v.tasks) ?? runs;
    const script = sbatchScript({
      specPath,
      name,
      runs,
      tasks,
      arrayMax: intOption("--array-max", v["array-max"]),
      partition: s("partition"),
      time: s("time"),
      cpusPerTask: intOption("--cpus-per-task", v["cpus-per-task"]),
      mem: s("mem"),
      account: s("account"),
      jobName: s("job-name"),
      logDir,
      workDir: process.cwd(),
      node: process.execPath,
      sedlab: join(repoRoot(), "bin", "sedlab.mjs"),
      env,
      recordDir,
    });
    const file = join(out, `${slug(name)}.sbatch`);
    mkdirSync(logDir, { recursive: true }); // sbatch does not create the --output folder
    writeFileSync(file, script, { mode: 0o755 });
    // Paths inside the current folder are shown relative to it.
    const rel = (x: string) => {
      const r = relative(process.cwd(), x);
      return r === "" || r.startsWith("..") || isAbsolute(r) ? x : r;
    };
    const collectArgs = [p.spec as string, ...(results === undefined ? [] : ["--results", results])];
    console.log(
      `wrote ${rel(file)}: ${runs} run${runs === 1 ? "" : "s"} in ${tasks} array task${tasks === 1 ? "" : "s"}; ` +
        `records in ${recordDir}, task logs in ${rel(logDir)}/\n` +
        `submit:  sbatch ${rel(file)}\n` +
        `watch:   squeue --me\n` +
        `check:   npx sedlab collect ${collectArgs.map(sh).join(" ")}`,
    );
    return 0;
  });
}

export function collectCommand(args: string[]): number {
  const p = parse("collect", COLLECT_HELP, args, {
    results: { type: "string" },
    checkpoints: { type: "string" },
    json: { type: "boolean" },
  });
  if (typeof p === "number") return p;
  return withErrors("collect", () => {
    const specPath = p.spec as string;
    const spec = loadSpec(specPath);
    const results = typeof p.values.results === "string" ? p.values.results : undefined;
    const ck = typeof p.values.checkpoints === "string" ? resolve(p.values.checkpoints) : undefined;
    const rep = collect(spec, {
      recordDir: recordDirFor(spec, specPath, results),
      checkpointDir: ck,
    });
    console.log(p.values.json ? JSON.stringify(rep, null, 1) : formatCollect(rep));
    return rep.ok ? 0 : 1;
  });
}
