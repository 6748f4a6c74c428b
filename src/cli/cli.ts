// `sedlab` command line: thin wrappers over the library.
import { parseArgs } from "node:util";
import {
  type ConfigOverrides,
  INTERVENTION_MODES,
  type InterventionConfig,
  makeConfig,
  PRESETS,
  type PresetName,
  type TrainConfig,
} from "../config/config";
import { TaskError } from "../data/tasks";
import { findRecord, recordPath, runId } from "../records/records";
import { computePathOf } from "../records/schema";
import { initBackend } from "../runs/backend";
import { activeBlas, blasState } from "../runs/blas";
import { checkpointPath, removeCheckpoint } from "../runs/checkpointFile";
import { collectCommand, slurmCommand } from "../runs/slurm";
import { sweepCommand } from "../runs/sweep/command";
import { sweepWorker } from "../runs/sweep/worker";
import { trainRun } from "../runs/trainRun";
import { TrainingError } from "../train/checkpoint";
import { TrainingInterrupted } from "../train/train";
import { checkpointsDir, packageVersion } from "../util/paths";
import { formatDuration, terminalProgress } from "../util/progress";
import { gitCommit } from "../util/provenance";

const HELP = `sedlab — spectral edge dynamics and linear-centroid coupling in grokking transformers

Usage:
  sedlab train [options]     train one run and write its record to data/runs/
  sedlab sweep <spec> [--jobs N] [--shard i/n] [--dry-run]
                             train a grid of runs in parallel worker processes (sedlab sweep --help)
  sedlab slurm <spec> [--results DIR] [--partition P] [--time HH:MM:SS] [--cpus-per-task N] …
                             write a Slurm job-array script for a sweep (sedlab slurm --help)
  sedlab collect <spec> [--results DIR]
                             check that every run of a sweep has a valid record (done / missing / invalid)
  sedlab info                what computes here: the backend, the BLAS running its matrix products, and why
  sedlab explore [--port N] [--rebuild]
                             the browser explorer: builds web/ if needed, serves it on 127.0.0.1 and prints
                             the URL (train any operation live in a tab; Ctrl-C stops the server)
  sedlab help                this text

train options:
  --op NAME          built-in operation: add, sub, mul, sq_sum (default add)
  --expr EXPR        your own operation in a and b (mathjs syntax, exact integer arithmetic mod p),
                     e.g. --expr "a^3 + a*b"
  --tasks A,B,…      multitask: one shared trunk with a head per built-in operation, e.g. add,sub,mul,sq_sum
                     (paper preset: ≤ 50,000 steps, checkpoints every 200; --sed adds per-task diagnostics)
  --seed N           random seed (default 42)
  --preset NAME      ${PRESETS.join(" | ")} (default paper)
  --p N              modulus (paper: 97)
  --frac X           train fraction in (0, 1) (paper 0.5, quick 0.8)
  --steps N          maximum optimisation steps (paper 8000)
  --lr X, --wd X, --batch N      optimiser settings (paper 1e-3, 1.0, 512)
  --checkpoint-every N           eval/checkpoint spacing c (25)
  --sed              record SED diagnostics: update- and gradient-SED of the attention weights (W 20, K 3)
                     and their coupling R_k to the linear centroids, every 200 steps and at the end
  --readouts         with --sed (implies it): what the SED directions are — key frequencies of the embedding
                     at every eval; functional modes, centroid PCs in the Fourier basis and the per-example
                     gradient SVD at init, the first measurement, the first after the grok step and the end
  --intervention MODE  causal intervention on the attention gradient, from step W+1 (paper §5), or an
                     attention control (freeze, zero gradient, lr scale, Grokfast; README):
                     ${INTERVENTION_MODES.join(" | ")}
  --projection P     gradient (default: project the clipped gradient before AdamW) | update (project the
                     AdamW displacement instead, moments untouched)
  --rank K           rank of the kept/removed subspace (default 3)
  --lr-scale X       scale-attention-lr: the factor on the attention displacement (e.g. 0.1)
  --force            retrain even if a valid record for this config exists
  --no-checkpoint    do not write resumable checkpoints
  --out DIR          folder for the run record (default data/runs)
  --quiet            no progress bar

A run interrupted with Ctrl-C saves a checkpoint; the same command resumes it.
Environment: SEDLAB_BACKEND=wasm|cpu|tfjs-node|tfjs-node-gpu forces a TensorFlow.js backend;
SEDLAB_BLAS=off|/path/to/libblas.so turns the BLAS bridge off or picks its library; SEDLAB_THREADS=N gives
BLAS N threads (default 1: sweeps run one process per core).`;

/** `sedlab info`: the backend line every record and notebook gives, and the BLAS bridge's measurement. */
async function infoCommand(): Promise<number> {
  const b = await initBackend();
  const blas = blasState();
  const running = activeBlas();
  console.log(`backend:  ${b.description}`);
  console.log(
    `records:  backend "${b.name}"${running ? `, blas "${running}"` : ""} (segments: "${computePathOf(b.name, running)}")`,
  );
  if (blas && "library" in blas) {
    console.log(
      `blas:     ${blas.path}: ${blas.blasGflops.toFixed(1)} GFLOP/s vs wasm's ${blas.wasmGflops.toFixed(1)} (engine shapes, measured now)`,
    );
  }
  console.log(`OPENBLAS_CORETYPE: ${process.env.OPENBLAS_CORETYPE ?? "(unset)"}`);
  console.log(`sedlab ${packageVersion()} at ${gitCommit()}, node ${process.version}`);
  return 0;
}

/** `sedlab explore`: build the explorer when its sources changed, serve it until Ctrl-C. */
async function exploreCommand(args: string[]): Promise<number> {
  let values: { port?: string; rebuild?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: "string" },
        rebuild: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError(`explore: ${(e as Error).message}`);
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const port = num("port", values.port, true) ?? 8087;
  if (port < 0 || port > 65535) throw new UsageError(`--port expects 0..65535, got ${port}`);
  // Loaded here: esbuild and the HTTP server are needed by this command only.
  const { buildNeeded, buildWeb, webDist } = await import("../explore/build");
  const { serveStatic } = await import("../explore/serve");
  const why = values.rebuild ? "--rebuild" : buildNeeded();
  if (why) {
    console.log(`building the explorer (${why})…`);
    await buildWeb({ log: (m) => console.log(m) });
  }
  const served = await serveStatic(webDist(), port);
  console.log(`sedlab explorer: ${served.url}  (serving ${webDist()}; Ctrl-C stops it)`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await served.close();
  console.log("explorer stopped");
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "train":
        return await trainCommand(rest);
      case "sweep":
        return await sweepCommand(rest);
      case "slurm":
        return slurmCommand(rest);
      case "collect":
        return collectCommand(rest);
      case "info":
        return await infoCommand();
      case "explore":
        return await exploreCommand(rest);
      case "_worker": // internal: a sweep's worker process
        return await sweepWorker();
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(HELP);
        return cmd === undefined ? 1 : 0;
      default:
        console.error(`sedlab: unknown command "${cmd}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof TaskError || e instanceof TrainingError || e instanceof UsageError) {
      console.error(`sedlab: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

class UsageError extends Error {}

function num(name: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || (integer && !Number.isInteger(x))) {
    throw new UsageError(`--${name} expects ${integer ? "an integer" : "a number"}, got "${v}"`);
  }
  return x;
}

export function parseTrainArgs(args: string[]): {
  config: TrainConfig;
  force: boolean;
  checkpoint: boolean;
  out?: string;
  quiet: boolean;
  help: boolean;
} {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        op: { type: "string" },
        expr: { type: "string" },
        tasks: { type: "string" },
        seed: { type: "string" },
        preset: { type: "string" },
        p: { type: "string" },
        frac: { type: "string" },
        steps: { type: "string" },
        lr: { type: "string" },
        wd: { type: "string" },
        batch: { type: "string" },
        "checkpoint-every": { type: "string" },
        sed: { type: "boolean" },
        readouts: { type: "boolean" },
        intervention: { type: "string" },
        projection: { type: "string" },
        rank: { type: "string" },
        "lr-scale": { type: "string" },
        force: { type: "boolean" },
        "no-checkpoint": { type: "boolean" },
        out: { type: "string" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const preset = (values.preset as string | undefined) ?? "paper";
  if (!PRESETS.includes(preset as PresetName)) {
    throw new UsageError(`unknown preset "${preset}"; choose one of ${PRESETS.join(", ")}`);
  }
  const s = (k: string) => values[k] as string | undefined;
  const overrides: ConfigOverrides = {
    preset: preset as PresetName,
    op: s("op"),
    expr: s("expr"),
    tasks: s("tasks")
      ?.split(",")
      .map((t) => t.trim())
      .filter((t) => t !== ""),
    seed: num("seed", s("seed"), true),
    p: num("p", s("p")),
    frac: num("frac", s("frac")),
    maxSteps: num("steps", s("steps"), true),
    lr: num("lr", s("lr")),
    weightDecay: num("wd", s("wd")),
    batch: num("batch", s("batch"), true),
    checkpointEvery: num("checkpoint-every", s("checkpoint-every"), true),
    sed: values.sed === true ? true : undefined,
    readouts: values.readouts === true ? true : undefined,
    intervention: interventionArgs(
      s("intervention"),
      s("projection"),
      num("rank", s("rank"), true),
      num("lr-scale", s("lr-scale")),
    ),
  };
  if (overrides.op !== undefined && overrides.expr !== undefined)
    throw new UsageError("give --op or --expr, not both");
  let config: TrainConfig;
  try {
    config = makeConfig(overrides);
  } catch (e) {
    if (e instanceof TaskError) throw e;
    throw new UsageError((e as Error).message);
  }
  return {
    config,
    force: values.force === true,
    checkpoint: values["no-checkpoint"] !== true,
    out: s("out"),
    quiet: values.quiet === true,
    help: values.help === true,
  };
}

function interventionArgs(
  mode: string | undefined,
  projection: string | undefined,
  rank: number | undefined,
  lrScale: number | undefined,
): ConfigOverrides["intervention"] {
  if (mode === undefined) {
    if (projection !== undefined || rank !== undefined || lrScale !== undefined)
      throw new UsageError("--projection, --rank and --lr-scale need --intervention MODE");
    return undefined;
  }
  return {
    mode: mode as InterventionConfig["mode"],
    projection: projection as InterventionConfig["projection"] | undefined,
    rank,
    lrScale,
  };
}

async function trainCommand(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  const { config, force, checkpoint, out, quiet } = parseTrainArgs(args);
  const id = runId(config);
  const existing = force ? undefined : findRecord(config, out);
  if (existing) {
    // A run killed between writing its record and removing its checkpoint leaves the checkpoint behind.
    removeCheckpoint(checkpointPath(checkpointsDir(), id));
    console.log(`${id}: a valid record exists (${recordPath(id, out)}); use --force to retrain`);
    summarise(existing.grokStep, existing.steps, existing.wallSeconds, existing.final.testAcc);
    return 0;
  }
  const backend = await initBackend();
  const controller = new AbortController();
  let sigints = 0;
  const onSigint = () => {
    sigints += 1;
    if (sigints > 1) process.exit(130);
    console.error("\ninterrupt: saving a checkpoint (press Ctrl-C again to quit at once)");
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  // Announce only once Ctrl-C is handled (a signal sent on seeing this line must reach the handler).
  console.log(`${id}: training on ${backend.description}`);
  const progress = quiet ? undefined : terminalProgress();
  try {
    const rec = await trainRun(config, {
      signal: controller.signal,
      onProgress: progress,
      checkpointDir: checkpoint ? undefined : null,
      recordDir: out,
    });
    progress?.end();
    summarise(rec.grokStep, rec.steps, rec.wallSeconds, rec.final.testAcc);
    console.log(`record: ${recordPath(id, out)} (backend ${rec.backend})`);
    return 0;
  } catch (e) {
    progress?.end();
    if (e instanceof TrainingInterrupted) {
      console.error(e.message);
      return 130;
    }
    throw e;
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}

function summarise(grokStep: number | null, steps: number, wall: number, testAcc: number) {
  const g =
    grokStep === null ? "did not grok (test accuracy never reached 0.5)" : `grokked at step ${grokStep}`;
  console.log(
    `${g}; ${steps} steps, final test accuracy ${(100 * testAcc).toFixed(1)}%, ${formatDuration(wall)}`,
  );
}
