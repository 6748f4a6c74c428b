// The `sedlab sweep` command: a grid spec's runs (or one shard of them) listed with --dry-run, or trained in a
// pool of workers with Ctrl-C handling and a summary.
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadSpec } from "../../grids/load";
import { expandRuns, parseShard, SpecError, type SweepRun, shard } from "../../grids/spec";
import { lookupRecord } from "../../records/records";
import { checkpointsDir, runsDir } from "../../util/paths";
import { formatDuration } from "../../util/progress";
import { checkpointPath, loadCheckpoint } from "../checkpointFile";
import { runSweep, type SweepResult } from "./pool";

export const SWEEP_HELP = `sedlab sweep <spec.json|spec.yaml> [options]

Trains every run of a grid: presets × ops/exprs × conditions × seeds. Runs with a valid record are skipped,
interrupted ones resume from their checkpoints: rerun the same command after Ctrl-C, a crash or a kill.

options:
  --jobs N       worker processes (default: number of cores; each wasm worker uses one core)
  --shard i/n    run only runs i, i+n, i+2n, … (0-based) to spread one spec over machines or batch jobs
  --dry-run      list the runs and which are done or resumable, train nothing

spec fields: name, preset (name or list), ops, exprs, seeds, base (config overrides for every run),
conditions (named overrides, e.g. {"wd0": {"weightDecay": 0}, "sed": {"sed": true}}), out (record folder,
default data/runs). Example: experiments/quick-demo.json`;

export async function sweepCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        jobs: { type: "string", short: "j" },
        shard: { type: "string" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    console.error(`sedlab sweep: ${(e as Error).message}\n\n${SWEEP_HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(SWEEP_HELP);
    return 0;
  }
  try {
    if (positionals.length !== 1) throw new SpecError(`give one spec file\n\n${SWEEP_HELP}`);
    let jobs: number | undefined;
    if (values.jobs !== undefined) {
      jobs = Number(values.jobs);
      if (!Number.isInteger(jobs) || jobs < 1)
        throw new SpecError(`--jobs expects a positive integer, got "${values.jobs}"`);
    }
    const sh = values.shard === undefined ? undefined : parseShard(values.shard as string);
    const spec = loadSpec(positionals[0]);
    const all = expandRuns(spec);
    const runs = sh ? shard(all, sh.index, sh.count) : all;
    const recordDir = spec.out === undefined ? runsDir() : resolve(spec.out);
    const where = sh
      ? `shard ${sh.index}/${sh.count}: ${runs.length} of ${all.length} runs`
      : `${runs.length} runs`;
    if (values["dry-run"]) return dryRun(spec.name ?? "sweep", where, runs, recordDir);
    return await runCommand(spec.name ?? "sweep", where, runs, recordDir, jobs);
  } catch (e) {
    if (e instanceof SpecError) {
      console.error(`sedlab sweep: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

/**
 * --dry-run: each run's state (done, todo, resume@step, bad-ckpt; "invalid" when a file that fails validation
 * sits where its record goes: it will be moved aside and retrained, and the reason is printed), training nothing.
 */
function dryRun(name: string, where: string, runs: SweepRun[], recordDir: string): number {
  const rows = runs.map((r) => {
    const l = lookupRecord(r.config, recordDir);
    if (l.status === "ok") return { r, state: "done" };
    if (l.status === "invalid") return { r, state: "invalid", why: l.error };
    const ck = checkpointPath(checkpointsDir(), r.id);
    if (!existsSync(ck)) return { r, state: "todo" };
    try {
      return { r, state: `resume@${loadCheckpoint(ck)?.header.step}` };
    } catch {
      return { r, state: "bad-ckpt" };
    }
  });
  const done = rows.filter((x) => x.state === "done").length;
  console.log(
    `sweep ${name} (${where}): ${done} done, ${runs.length - done} to train; records in ${recordDir}`,
  );
  for (const row of rows) {
    const { r, state } = row;
    const why = "why" in row ? `\n               ${row.why}` : "";
    console.log(`  ${state.padEnd(12)} ${r.id}${r.condition === null ? "" : `  [${r.condition}]`}${why}`);
  }
  return 0;
}

/** Train the runs; the first SIGINT/SIGTERM stops the workers after a checkpoint, a second quits at once. */
async function runCommand(
  name: string,
  where: string,
  runs: SweepRun[],
  recordDir: string,
  jobs: number | undefined,
): Promise<number> {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    // A second Ctrl-C quits at once; workers notice the lost parent and stop after checkpointing.
    if (signals > 1) process.exit(130);
    console.error(
      "\ninterrupt: stopping the workers (each saves a checkpoint; Ctrl-C again to quit at once)",
    );
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const n = Math.min(jobs ?? availableParallelism(), runs.length);
  console.log(
    `sweep ${name} (${where}) with up to ${n} worker${n === 1 ? "" : "s"}; records in ${recordDir}`,
  );
  let res: SweepResult;
  try {
    res = await runSweep(runs, { jobs, recordDir, signal: controller.signal, name });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return summarise(name, res);
}

/** The closing lines and the exit code: 0 all done, 1 failures or runs not started, 130 interrupted. */
function summarise(name: string, res: SweepResult): number {
  const done = res.skipped.length + res.trained.length;
  for (const f of res.failed) console.error(`failed: ${f.id}: ${f.error}`);
  if (res.aborted && done < res.total) {
    console.log(
      `interrupted: ${done} of ${res.total} runs done; rerun the same command to resume (${formatDuration(res.seconds)})`,
    );
    return 130;
  }
  const unstarted = res.notStarted.length ? `, ${res.notStarted.length} not started` : "";
  console.log(
    `sweep ${name}: ${done} of ${res.total} runs done (${res.trained.length} trained, ${res.skipped.length} skipped` +
      `${res.failed.length ? `, ${res.failed.length} failed` : ""}${unstarted}) in ${formatDuration(res.seconds)}`,
  );
  return res.failed.length > 0 || res.notStarted.length > 0 ? 1 : 0;
}
