// `sedlab slurm` and `sedlab collect`: the job script on its own, collect on made-up records, and the real thing:
// a one-node Slurm cluster on localhost (Debian's slurm-wlm and munge, as root) that runs the job array, whose
// records must match a local sweep's. Without Slurm, munge or root the cluster test skips and says why, outside CI
// only: under CI=true that fails, and with them present any failure to start the cluster (a daemon that exits, sinfo
// timing out, a slurm.conf the daemons refuse) fails the test.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { expandRuns, SpecError, type SweepRun, validateSpec } from "../src/grids/spec";
import { loadRecord, recordPath, saveRecord } from "../src/records/records";
import type { RunRecord } from "../src/records/schema";
import { saveCheckpoint } from "../src/runs/checkpointFile";
import {
  type CollectReport,
  collect,
  collectCommand,
  type SbatchOptions,
  sbatchScript,
  slurmCommand,
} from "../src/runs/slurm";
import { inCI, samePathEnv } from "./helpers";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(repoRoot, "bin", "sedlab.mjs");
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-slurm-test-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (label: string) => fs.mkdtempSync(path.join(tmpRoot, `${label}${dirCount++}-`));

/** Two runs at the test preset: add, seeds 1 and 2. */
const SPEC = { name: "slurm-e2e", preset: "test", ops: ["add"], seeds: [1, 2] };

function writeSpec(dir: string, spec: object = SPEC): string {
  const file = path.join(dir, "spec.json");
  fs.writeFileSync(file, JSON.stringify(spec));
  return file;
}

/** Run a command in this process with console.log/error captured. */
async function capture(f: () => number | Promise<number>): Promise<{ code: number; out: string }> {
  const { log, error } = console;
  let out = "";
  const keep = (...a: unknown[]) => {
    out += `${a.join(" ")}\n`;
  };
  console.log = keep;
  console.error = keep;
  try {
    return { code: await f(), out };
  } finally {
    console.log = log;
    console.error = error;
  }
}

// ---------------------------------------------------------------------------------------------------------

const BASE: SbatchOptions = {
  specPath: "/shared/exp/grid.json",
  name: "grid",
  runs: 5,
  logDir: "/shared/exp/slurm/logs",
  workDir: "/shared/exp",
  node: "/opt/node/bin/node",
  sedlab: "/shared/sedlab/bin/sedlab.mjs",
};

const scriptError = (o: Partial<SbatchOptions>, re: RegExp) =>
  assert.throws(
    () => sbatchScript({ ...BASE, ...o }),
    (e: unknown) => e instanceof SpecError && re.test(e.message),
    `expected ${re} for ${JSON.stringify(o)}`,
  );

describe("sbatchScript", () => {
  it("one array task per run, each running its shard of the spec with absolute paths", () => {
    const s = sbatchScript(BASE);
    assert.match(s, /^#!\/bin\/bash\n/);
    assert.match(s, /^#SBATCH --array=0-4$/m);
    assert.match(s, /^#SBATCH --cpus-per-task=1$/m);
    assert.match(s, /^#SBATCH --job-name=sedlab-grid$/m);
    assert.match(s, /^#SBATCH --output=\/shared\/exp\/slurm\/logs\/grid_%A_%a\.out$/m);
    assert.match(s, /^#SBATCH --chdir=\/shared\/exp$/m);
    assert.match(s, /^cd \/shared\/exp$/m);
    assert.match(
      s,
      /^exec \/opt\/node\/bin\/node \/shared\/sedlab\/bin\/sedlab\.mjs sweep \/shared\/exp\/grid\.json --shard "\$\{SLURM_ARRAY_TASK_ID\}\/5" --jobs 1$/m,
    );
    assert.doesNotMatch(s, /--time|--partition|--mem|--account/);
    // #SBATCH lines must come before the first command, or sbatch ignores them.
    const lines = s.split("\n");
    const firstCommand = lines.findIndex((l) => l !== "" && !l.startsWith("#"));
    assert.ok(lines.every((l, i) => !l.startsWith("#SBATCH") || i < firstCommand));
  });

  it("groups runs with --tasks, throttles with --array-max, passes the sbatch options", () => {
    const s = sbatchScript({
      ...BASE,
      tasks: 2,
      arrayMax: 3,
      partition: "gpu,cpu",
      time: "1-12:00:00",
      cpusPerTask: 4,
      mem: "4G",
      account: "grok-lab",
      jobName: "mine",
      env: { SEDLAB_DATA: "/shared/my data", SEDLAB_CHECKPOINTS: "/shared/ck" },
    });
    assert.match(s, /^#SBATCH --array=0-1%3$/m);
    assert.match(s, /--shard "\$\{SLURM_ARRAY_TASK_ID\}\/2" --jobs 4$/m);
    assert.match(s, /^#SBATCH --partition=gpu,cpu$/m);
    assert.match(s, /^#SBATCH --time=1-12:00:00$/m);
    assert.match(s, /^#SBATCH --cpus-per-task=4$/m);
    assert.match(s, /^#SBATCH --mem=4G$/m);
    assert.match(s, /^#SBATCH --account=grok-lab$/m);
    assert.match(s, /^#SBATCH --job-name=mine$/m);
    assert.match(s, /^export SEDLAB_DATA='\/shared\/my data'$/m);
    assert.match(s, /^export SEDLAB_CHECKPOINTS=\/shared\/ck$/m);
    assert.match(s, /runs i, i\+2, i\+4, … in task i/);
    assert.match(sbatchScript({ ...BASE, time: "00:30:00" }), /^#SBATCH --time=00:30:00$/m);
  });

  it("rejects bad options with errors naming them", () => {
    for (const time of ["2h", "90", "1:00", "00:60:00", "00:00:60", "00:00:00", "1-2:3:4", " 01:00:00"]) {
      scriptError({ time }, new RegExp(`--time expects .*HH:MM:SS.*got "${time}"`));
    }
    for (const cpusPerTask of [0, -1, 1.5, Number.NaN]) {
      scriptError({ cpusPerTask }, /--cpus-per-task expects a positive integer/);
    }
    scriptError({ arrayMax: 0 }, /--array-max expects a positive integer/);
    scriptError({ tasks: 0 }, /--tasks expects a positive integer/);
    scriptError({ tasks: 6 }, /--tasks 6 is more than the spec's 5 runs/);
    scriptError({ partition: "debug; rm -rf /" }, /--partition expects a partition name/);
    scriptError({ account: "a b" }, /--account expects an account name/);
    scriptError({ mem: "4GB" }, /--mem expects a size/);
    scriptError({ logDir: "slurm/logs" }, /log folder must be an absolute path/);
    scriptError({ workDir: "/my work" }, /working directory "\/my work" contains whitespace/);
    scriptError({ sedlab: "bin/sedlab.mjs" }, /sedlab path must be absolute/);
    scriptError({ env: { "BAD-NAME": "x" } }, /bad environment variable name "BAD-NAME"/);
  });

  it("the script is valid bash and refuses to run outside a job array", () => {
    const dir = freshDir("bash");
    const file = path.join(dir, "job.sbatch");
    fs.writeFileSync(file, sbatchScript(BASE));
    const syntax = spawnSync("bash", ["-n", file], { encoding: "utf8" });
    assert.equal(syntax.status, 0, syntax.stderr);
    const env = { ...process.env };
    delete env.SLURM_ARRAY_TASK_ID;
    const r = spawnSync("bash", [file], { encoding: "utf8", env });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /submit this script with sbatch: it is a job array/);
  });
});

describe("sedlab slurm", () => {
  it("writes the script and the log folder, and says how to submit and check", async () => {
    const dir = freshDir("cmd");
    const spec = writeSpec(dir);
    const out = path.join(dir, "job");
    const results = path.join(dir, "results");
    const r = await capture(() =>
      slurmCommand([spec, "--results", results, "--out", out, "--time", "00:10:00", "--partition", "debug"]),
    );
    assert.equal(r.code, 0, r.out);
    const file = path.join(out, "slurm-e2e.sbatch");
    assert.match(r.out, new RegExp(`submit: +sbatch ${file}`));
    assert.match(r.out, /2 runs in 2 array tasks/);
    assert.match(r.out, new RegExp(`check: +npx sedlab collect ${spec} --results ${results}`));
    assert.ok(fs.statSync(path.join(out, "logs")).isDirectory(), "Slurm does not create the --output folder");
    const s = fs.readFileSync(file, "utf8");
    assert.match(s, /^#SBATCH --array=0-1$/m);
    assert.match(s, new RegExp(`^export SEDLAB_DATA=${results}$`, "m"));
    assert.match(s, new RegExp(`^exec ${process.execPath} ${bin} sweep ${spec} `, "m"));
  });

  it("bad input: exit 2 with the problem named", async () => {
    const dir = freshDir("bad");
    const spec = writeSpec(dir);
    const cases: [string[], RegExp][] = [
      [[path.join(dir, "nope.json")], /cannot read sweep spec .*nope\.json/],
      [[spec, "--time", "2h"], /--time expects a wall-clock limit HH:MM:SS or D-HH:MM:SS .*got "2h"/],
      [[spec, "--cpus-per-task", "two"], /--cpus-per-task expects a positive integer, got "two"/],
      [[spec, "--tasks", "3"], /--tasks 3 is more than the spec's 2 runs/],
      [[spec, "--bogus"], /Unknown option '--bogus'/],
      [[], /give one spec file/],
      [[writeSpec(freshDir("out"), { ...SPEC, out: "elsewhere" }), "--results", dir], /sets "out".*drop one/],
    ];
    for (const [args, re] of cases) {
      const r = await capture(() => slurmCommand([...args, "--out", path.join(dir, "job")]));
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.out}`);
      assert.match(r.out, re);
    }
    assert.ok(!fs.existsSync(path.join(dir, "job")), "nothing is written on bad input");
  });
});

// ---------------------------------------------------------------------------------------------------------

/** A valid record for a run, as if trained (collect only reads records). */
function fakeRecord(run: SweepRun, grokStep: number | null = 100): RunRecord {
  const point = { step: 150, loss: 0.1, trainAcc: 1, testAcc: 0.9 };
  return {
    schema: "sedlab.run",
    schemaVersion: 1,
    id: run.id,
    config: run.config,
    task: run.config.op ?? "expr",
    backend: "cpu",
    sedlabVersion: "0.1.0",
    commit: "test",
    date: new Date(0).toISOString(),
    wallSeconds: 1,
    steps: 150,
    stopReason: "maxSteps",
    metrics: [point],
    grokStep,
    firstTest98Step: null,
    final: point,
  };
}

describe("collect", () => {
  const spec = validateSpec({ preset: "test", ops: ["add", "sub"], seeds: [1, 2], name: "c" });
  const runs = expandRuns(spec);
  const status = (rep: CollectReport) => rep.rows.map((r) => r.status);

  it("done, missing (with its checkpoint), corrupt and mismatched records, in run order", () => {
    const dir = freshDir("collect");
    const ck = path.join(dir, "ck");
    for (const r of runs) saveRecord(fakeRecord(r), dir);
    const all = collect(spec, { recordDir: dir, checkpointDir: ck });
    assert.deepEqual(status(all), ["done", "done", "done", "done"]);
    assert.equal(all.ok, true);
    assert.deepEqual(
      all.rows.map((r) => r.id),
      runs.map((r) => r.id),
    );
    assert.equal(all.rows[0].grokStep, 100);

    fs.rmSync(recordPath(runs[1].id, dir));
    fs.rmSync(recordPath(runs[2].id, dir));
    saveCheckpoint(path.join(ck, `${runs[2].id}.ckpt`), { header: { step: 50 }, arrays: {} });
    fs.writeFileSync(recordPath(runs[3].id, dir), '{"schema": "sedlab.run", "id": ');
    const rep = collect(spec, { recordDir: dir, checkpointDir: ck });
    assert.equal(rep.ok, false);
    assert.deepEqual([rep.done, rep.missing, rep.invalid, rep.total], [1, 2, 1, 4]);
    assert.deepEqual(status(rep), ["done", "missing", "missing", "invalid"]);
    assert.equal(rep.rows[1].reason, "no record");
    assert.match(rep.rows[2].reason ?? "", /checkpoint at step 50/);
    assert.match(rep.rows[3].reason ?? "", /corrupt \(not valid JSON.*delete it and rerun/);
  });

  it("flags records that fail validation or hold another run", () => {
    const dir = freshDir("collect");
    saveRecord(fakeRecord(runs[0]), dir);
    fs.writeFileSync(recordPath(runs[1].id, dir), JSON.stringify({ ...fakeRecord(runs[1]), metrics: [] }));
    fs.writeFileSync(recordPath(runs[2].id, dir), JSON.stringify({ ...fakeRecord(runs[2]), id: runs[0].id }));
    fs.writeFileSync(
      recordPath(runs[3].id, dir),
      JSON.stringify({ ...fakeRecord(runs[3]), schemaVersion: 99 }),
    );
    const rep = collect(spec, { recordDir: dir, checkpointDir: dir });
    assert.deepEqual(status(rep), ["done", "invalid", "invalid", "invalid"]);
    assert.match(rep.rows[1].reason ?? "", /field "metrics" missing or empty/);
    assert.match(rep.rows[2].reason ?? "", /holds run "add_p23_test_seed1", not "sub_p23_test_seed1"/);
    assert.match(rep.rows[3].reason ?? "", /incompatible sedlab version/);
  });

  it("sedlab collect prints the table and exits 1 unless every run is done", async () => {
    const dir = freshDir("collect-cmd");
    const specFile = writeSpec(dir, { preset: "test", ops: ["add", "sub"], seeds: [1, 2], name: "c" });
    const results = path.join(dir, "results");
    const records = path.join(results, "runs");
    for (const r of runs.slice(0, 3)) saveRecord(fakeRecord(r), records);
    fs.writeFileSync(recordPath(runs[2].id, records), "not json");
    let r = await capture(() => collectCommand([specFile, "--results", results]));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^done +add_p23_test_seed1 +grok@100, 150 steps, test 90\.0%$/m);
    assert.match(r.out, /^invalid +sub_p23_test_seed1 +run record .* is corrupt/m);
    assert.match(r.out, /^missing +sub_p23_test_seed2 +no record$/m);
    assert.match(r.out, /c: 2 of 4 runs done, 1 missing, 1 invalid; records in .*results\/runs$/m);
    saveRecord(fakeRecord(runs[2]), records);
    saveRecord(fakeRecord(runs[3]), records);
    r = await capture(() => collectCommand([specFile, "--results", results, "--json"]));
    assert.equal(r.code, 0, r.out);
    assert.equal(JSON.parse(r.out).done, 4);
    r = await capture(() => collectCommand([path.join(dir, "missing.yaml")]));
    assert.equal(r.code, 2);
    assert.match(r.out, /sedlab collect: cannot read sweep spec .*missing\.yaml/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// A one-node Slurm cluster on localhost, all of its state in a temporary folder.

const SBIN = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"];

/** What the cluster needs and this machine lacks (not Linux, not root, a program missing): the one reason to skip. */
class Missing extends Error {}

/**
 * What a failed cluster start means for the test: a skip only when something is missing and this is not CI;
 * anything else (a daemon that exits, a timeout, a refused slurm.conf), or anything at all under CI, fails.
 */
function startVerdict(e: unknown, ci: boolean): { skip: string } | { fail: string } {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof Missing && !ci) return { skip: msg };
  return {
    fail: `the one-node Slurm cluster ${e instanceof Missing ? "cannot run under CI (CI is set, so nothing may skip)" : "failed to start"}: ${msg}`,
  };
}

function findExe(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), ...SBIN];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ms: number, ready: () => boolean, why = () => ""): Promise<void> {
  const end = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000}s waiting for ${what}${why()}`);
    await sleep(250);
  }
}

const tail = (file: string, n = 15) =>
  fs.existsSync(file) ? fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-n).join("\n    ") : "";

class Cluster {
  readonly daemons: { name: string; child: ChildProcess; log: string }[] = [];
  readonly jobs: string[] = [];
  conf = "";
  env: NodeJS.ProcessEnv = process.env;
  private readonly exe: Record<string, string> = {};
  private readonly onExit = () => {
    for (const d of this.daemons) if (alive(d.child)) d.child.kill("SIGKILL");
  };

  /** `extraConf`: lines appended to the generated slurm.conf (a test breaks the cluster with a bad one). */
  constructor(
    readonly dir: string,
    readonly extraConf: string[] = [],
  ) {}

  /** Start munged, slurmctld and slurmd; throws saying what is missing (a Missing) or what failed. */
  async start(): Promise<void> {
    if (process.platform !== "linux") throw new Missing(`needs Linux (this is ${process.platform})`);
    if (process.getuid?.() !== 0) {
      throw new Missing("needs root (munged and slurmd run as root here); run the tests as root");
    }
    const names = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel"];
    const missing = names.filter((n) => {
      const p = findExe(n);
      if (p) this.exe[n] = p;
      return !p;
    });
    if (missing.length > 0) {
      throw new Missing(
        `${missing.join(", ")} not found; install Debian's slurm-wlm and munge (bash scripts/setup.sh as root does)`,
      );
    }
    process.on("exit", this.onExit);
    const d = this.dir;
    fs.chmodSync(d, 0o755); // munged wants the socket's folders searchable by everyone
    for (const sub of ["state", "spool", "log"]) fs.mkdirSync(path.join(d, sub));
    fs.mkdirSync(path.join(d, "munge"), { mode: 0o700 });
    fs.mkdirSync(path.join(d, "sock"), { mode: 0o755 });
    // Our own key and socket: the machine's munge (if any) is left alone.
    const key = path.join(d, "munge", "munge.key");
    fs.writeFileSync(key, randomBytes(128), { mode: 0o600 });
    const socket = path.join(d, "sock", "munge.socket");
    this.spawnDaemon("munged", [
      "-F",
      `--socket=${socket}`,
      `--key-file=${key}`,
      `--log-file=${path.join(d, "log", "munged.log")}`,
      `--pid-file=${path.join(d, "sock", "munged.pid")}`,
      `--seed-file=${path.join(d, "munge", "munged.seed")}`,
    ]);
    await this.waitUp("munged", () => fs.existsSync(socket));

    // The node as slurmd sees it (CPUs, sockets, cores), without RealMemory: memory is not scheduled here.
    const probe = spawnSync(this.exe.slurmd, ["-C"], { encoding: "utf8" });
    const nodeLine = /^NodeName=\S+.*$/m.exec(probe.stdout ?? "")?.[0];
    if (!nodeLine) throw new Error(`slurmd -C printed no node line: ${probe.stdout}${probe.stderr}`);
    const nodeName = /^NodeName=(\S+)/.exec(nodeLine)?.[1] as string;
    const node = nodeLine.replace(/\s*RealMemory=\S+/, "");
    const [ctldPort, dPort] = [await freePort(), await freePort()];
    this.conf = path.join(d, "slurm.conf");
    fs.writeFileSync(
      this.conf,
      [
        "ClusterName=sedlabtest",
        `SlurmctldHost=${nodeName}(127.0.0.1)`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${dPort}`,
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        `AuthInfo=socket=${socket}`,
        `StateSaveLocation=${path.join(d, "state")}`,
        `SlurmdSpoolDir=${path.join(d, "spool")}`,
        `SlurmctldPidFile=${path.join(d, "slurmctld.pid")}`,
        `SlurmdPidFile=${path.join(d, "slurmd.pid")}`,
        `SlurmctldLogFile=${path.join(d, "log", "slurmctld.log")}`,
        `SlurmdLogFile=${path.join(d, "log", "slurmd.log")}`,
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerType=sched/backfill",
        "MpiDefault=none",
        "ReturnToService=2",
        "MailProg=/bin/true",
        `${node} NodeAddr=127.0.0.1 State=UNKNOWN`,
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ...this.extraConf,
        "",
      ].join("\n"),
    );
    this.env = { ...process.env, SLURM_CONF: this.conf };
    this.spawnDaemon("slurmctld", ["-D", "-f", this.conf]);
    this.spawnDaemon("slurmd", ["-D", "-f", this.conf, "-N", nodeName]);
    let state = "";
    await this.waitUp(
      `node ${nodeName} to be idle in sinfo`,
      () => {
        state = this.slurm("sinfo", ["-h", "-N", "-o", "%T"]).stdout.trim();
        return state === "idle";
      },
      () => ` (state: ${JSON.stringify(state)})`,
    );
  }

  private spawnDaemon(name: string, args: string[]): void {
    const log = path.join(this.dir, "log", `${name}.out`);
    const fd = fs.openSync(log, "a");
    const child = spawn(this.exe[name], args, {
      stdio: ["ignore", fd, fd],
      env: this.env,
    });
    fs.closeSync(fd);
    child.on("error", () => {}); // reported through its exit
    this.daemons.push({ name, child, log });
  }

  /** Wait until `ready`, failing early (with the logs) when a daemon has died. */
  private async waitUp(what: string, ready: () => boolean, why = () => ""): Promise<void> {
    const dead = () => this.daemons.find((x) => !alive(x.child));
    await waitFor(
      what,
      30_000,
      () => {
        const x = dead();
        if (x)
          throw new Error(
            `${x.name} exited (${x.child.exitCode ?? x.child.signalCode}):\n    ${tail(x.log)}`,
          );
        return ready();
      },
      () => `${why()}\n${this.logs()}`,
    );
  }

  logs(): string {
    return this.daemons.map((x) => `  ${x.name}:\n    ${tail(x.log, 8)}`).join("\n");
  }

  slurm(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(this.exe[cmd], args, { encoding: "utf8", env: this.env, timeout: 30_000 });
    return { status: r.status, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error?.message ?? ""}` };
  }

  sbatch(script: string, cwd: string): string {
    const r = spawnSync(this.exe.sbatch, ["--parsable", script], { encoding: "utf8", env: this.env, cwd });
    assert.equal(r.status, 0, `sbatch failed: ${r.stderr}`);
    const id = r.stdout.trim().split(";")[0];
    this.jobs.push(id);
    return id;
  }

  /** Wait until the job left the queue; then every array task must have completed with exit code 0. */
  async waitJob(id: string, ms: number, logs: () => string): Promise<void> {
    await waitFor(
      `job ${id} to finish`,
      ms,
      () => {
        const q = this.slurm("squeue", ["-h", "-j", id, "-o", "%i %T"]);
        return q.status === 0 ? q.stdout.trim() === "" : /Invalid job id/i.test(q.stderr);
      },
      () => `\nsqueue:\n${this.slurm("squeue", ["-a"]).stdout}\n${logs()}\n${this.logs()}`,
    );
    const show = this.slurm("scontrol", ["show", "job", id]).stdout;
    const states = [...show.matchAll(/JobState=(\S+)/g)].map((m) => m[1]);
    const codes = [...show.matchAll(/ ExitCode=(\S+)/g)].map((m) => m[1]);
    assert.ok(states.length > 0, `scontrol show job ${id} shows no tasks:\n${show}`);
    assert.ok(
      states.every((s) => s === "COMPLETED") && codes.every((c) => c === "0:0"),
      `job ${id}: states ${states.join(", ")}, exit codes ${codes.join(", ")}\n${logs()}`,
    );
  }

  /** Cancel our jobs, then stop slurmd, slurmctld and munged (only the processes started here). */
  async stop(): Promise<void> {
    if (this.jobs.length > 0 && this.exe.scancel) {
      this.slurm("scancel", this.jobs);
      try {
        await waitFor("cancelled jobs to leave the queue", 15_000, () => {
          const q = this.slurm("squeue", ["-h", "-o", "%i"]);
          return q.status !== 0 || q.stdout.trim() === "";
        });
      } catch {
        // stop the daemons anyway
      }
    }
    for (const x of [...this.daemons].reverse()) {
      if (!alive(x.child)) continue;
      const exited = new Promise((r) => x.child.once("exit", r));
      x.child.kill("SIGTERM");
      if ((await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])) === false) {
        x.child.kill("SIGKILL");
        await exited;
      }
    }
    process.off("exit", this.onExit);
  }
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

/** Records by id, without the fields that differ between two trainings of the same config. */
function comparable(dir: string, ids: string[]): Map<string, unknown> {
  return new Map(
    ids.map((id) => {
      const { date: _d, wallSeconds: _w, commit: _c, ...rest } = loadRecord(recordPath(id, dir));
      return [id, rest];
    }),
  );
}

function sweepLocally(
  spec: string,
  dataDir: string,
  pin: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [bin, "sweep", spec, "--jobs", "2"], {
    cwd: repoRoot,
    env: { ...process.env, ...pin, SEDLAB_DATA: dataDir, SEDLAB_CHECKPOINTS: path.join(dataDir, "ck") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (x) => {
    out += x;
  });
  child.stderr.on("data", (x) => {
    out += x;
  });
  return new Promise((res) => child.on("close", (code) => res({ code, out })));
}

describe("on a one-node Slurm cluster (slurm-wlm + munge on localhost)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-slurm-e2e-"));
  const cluster = new Cluster(fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-slurm-cluster-")));
  /** Why the test skips: Slurm, munge or root missing, outside CI. */
  let unavailable: string | undefined;
  /** Why the cluster did not start although it could have (or, under CI, anything that kept it from starting). */
  let failed: Error | undefined;

  before(
    async () => {
      try {
        await cluster.start();
      } catch (e) {
        const v = startVerdict(e, inCI());
        if ("skip" in v) unavailable = v.skip;
        else failed = new Error(v.fail, { cause: e });
      }
    },
    { timeout: 60_000 },
  );
  after(
    async () => {
      await cluster.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(cluster.dir, { recursive: true, force: true });
    },
    { timeout: 60_000 },
  );

  it(
    "the job array trains every run; collect finds them all, identical to a local sweep; resubmitting repairs",
    {
      timeout: 180_000,
    },
    async (t) => {
      if (unavailable !== undefined) {
        t.skip(`SKIPPED, no Slurm cluster: ${unavailable.replace(/\n\s*/g, " | ")}`);
        return;
      }
      if (failed !== undefined) throw failed;
      // The array's tasks and the local sweep are separate processes compared bit for bit: they take this one's
      // compute path rather than each timing BLAS at start-up (which can flip under load). sbatch passes it on.
      const pin = await samePathEnv();
      cluster.env = { ...cluster.env, ...pin };
      const spec = writeSpec(dir);
      const results = path.join(dir, "results");
      const records = path.join(results, "runs");
      const jobDir = path.join(dir, "job");
      const ids = expandRuns(validateSpec(SPEC)).map((r) => r.id);
      const made = await capture(() =>
        slurmCommand([
          spec,
          "--results",
          results,
          "--checkpoints",
          path.join(dir, "ck"),
          "--out",
          jobDir,
          "--partition",
          "debug",
          "--time",
          "00:05:00",
        ]),
      );
      assert.equal(made.code, 0, made.out);
      const script = path.join(jobDir, "slurm-e2e.sbatch");
      const logs = (job: string) =>
        fs
          .readdirSync(path.join(jobDir, "logs"))
          .filter((f) => f.includes(`_${job}_`))
          .map((f) => `--- ${f}:\n${fs.readFileSync(path.join(jobDir, "logs", f), "utf8")}`)
          .join("\n");

      // Submitted from an unrelated folder: the script must not depend on the submitter's directory.
      const job = cluster.sbatch(script, os.tmpdir());
      await cluster.waitJob(job, 120_000, () => logs(job));
      const taskLogs = fs.readdirSync(path.join(jobDir, "logs")).sort();
      assert.deepEqual(taskLogs, [`slurm-e2e_${job}_0.out`, `slurm-e2e_${job}_1.out`]);
      assert.match(logs(job), /shard 0\/2: 1 of 2 runs/);
      assert.match(logs(job), /shard 1\/2: 1 of 2 runs/);

      const rep = await capture(() => collectCommand([spec, "--results", results]));
      assert.equal(rep.code, 0, rep.out);
      assert.match(rep.out, /slurm-e2e: 2 of 2 runs done, 0 missing, 0 invalid/);

      const local = path.join(dir, "local");
      const sw = await sweepLocally(spec, local, pin);
      assert.equal(sw.code, 0, sw.out);
      const onSlurm = comparable(records, ids);
      const atHome = comparable(path.join(local, "runs"), ids);
      assert.deepEqual(onSlurm, atHome, "the cluster's records differ from a local sweep's");

      // A lost record and a corrupt one: collect names both and fails.
      const kept = fs.readFileSync(recordPath(ids[0], records));
      fs.writeFileSync(recordPath(ids[0], records), "{ truncated");
      fs.rmSync(recordPath(ids[1], records));
      const bad = await capture(() => collectCommand([spec, "--results", results]));
      assert.equal(bad.code, 1, bad.out);
      assert.match(bad.out, new RegExp(`^invalid +${ids[0]} +run record .* is corrupt`, "m"));
      assert.match(bad.out, new RegExp(`^missing +${ids[1]} +no record`, "m"));

      // Submitting the same script again trains only what is missing.
      fs.writeFileSync(recordPath(ids[0], records), kept);
      const again = cluster.sbatch(script, os.tmpdir());
      await cluster.waitJob(again, 120_000, () => logs(again));
      assert.deepEqual(fs.readFileSync(recordPath(ids[0], records)), kept, "a done run was retrained");
      assert.match(logs(again), /1 trained, 0 skipped/);
      assert.match(logs(again), /0 trained, 1 skipped/);
      assert.equal(collect(validateSpec(SPEC), { recordDir: records }).ok, true);
      assert.deepEqual(comparable(records, ids), atHome);
    },
  );
});

describe("a Slurm cluster that fails to start is a failure, not a skip", () => {
  it("only a missing prerequisite outside CI skips; under CI, or for any other error, the test fails", () => {
    assert.deepEqual(startVerdict(new Missing("slurmd not found"), false), { skip: "slurmd not found" });
    const ci = startVerdict(new Missing("slurmd not found"), true);
    assert.ok("fail" in ci && /cannot run under CI/.test(ci.fail), JSON.stringify(ci));
    for (const ciSet of [false, true]) {
      const v = startVerdict(new Error("slurmctld exited (1)"), ciSet);
      assert.ok("fail" in v && /failed to start: slurmctld exited/.test(v.fail), JSON.stringify(v));
    }
  });

  it(
    "a slurm.conf the daemons refuse makes start() fail with their reason (never Missing)",
    { timeout: 60_000 },
    async (t) => {
      const c = new Cluster(fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-slurm-bad-")), ["BogusOption=1"]);
      try {
        await c.start();
        assert.fail("a cluster with an unknown slurm.conf key started");
      } catch (e) {
        if (e instanceof Missing && !inCI()) {
          t.skip(`SKIPPED, no Slurm cluster: ${e.message}`);
          return;
        }
        assert.ok(!(e instanceof Missing), `expected a start failure, got a missing prerequisite: ${e}`);
        assert.match((e as Error).message, /BogusOption|exited/);
        assert.ok("fail" in startVerdict(e, true) && "fail" in startVerdict(e, false));
      } finally {
        await c.stop();
        fs.rmSync(c.dir, { recursive: true, force: true });
      }
    },
  );
});
