// Builds the browser explorer (web/) into web/dist/: the page and its training worker bundled by esbuild from
// the same src/ modules the CLI runs, tfjs' .wasm binaries beside them, and the cached single-task SED records
// so a live run can be set beside them. Stamped with the commit and version like every record.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { build } from "esbuild";
import { loadRecords } from "../records/records";
import { isMultitaskCoupling } from "../records/results";
import { packageVersion, repoRoot, runsDir } from "../util/paths";
import { gitCommit } from "../util/provenance";

export interface BuildInfo {
  commit: string;
  version: string;
  date: string;
  /** Cached records copied into the build. */
  records: number;
  outDir: string;
}

/** The build's folder (generated, not committed). */
export const webDist = (): string => join(repoRoot(), "web", "dist");

/** What a build reads: the explorer's own sources and everything in src/ it bundles. */
const inputDirs = () => [join(repoRoot(), "web", "src"), join(repoRoot(), "src")];
const inputFiles = () => [join(repoRoot(), "web", "index.html"), join(repoRoot(), "web", "style.css")];

function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    const st = statSync(join(dir, f));
    if (st.isFile()) newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

/**
 * Why `outDir` needs (re)building, or null when it is current: no build yet, another commit, or a source
 * (web/, src/) or cached record changed since.
 */
export function buildNeeded(outDir = webDist()): string | null {
  const stampFile = join(outDir, "build.json");
  if (!existsSync(stampFile)) return "no build yet";
  const stamp = JSON.parse(readFileSync(stampFile, "utf8")) as BuildInfo;
  const commit = gitCommit(["src", "web"]);
  if (stamp.commit !== commit) return `built at ${stamp.commit}, the checkout is at ${commit}`;
  const built = statSync(stampFile).mtimeMs;
  const changed = [...inputDirs(), runsDir()].find((d) => existsSync(d) && newestMtime(d) > built);
  if (changed) return `${relative(repoRoot(), changed) || changed} changed since the build`;
  if (inputFiles().some((f) => statSync(f).mtimeMs > built)) return "web/ changed since the build";
  return null;
}

/** Single-task SED records (no intervention, no readouts: small), labelled for the page's list. */
function cachedRecords(): { file: string; label: string; path: string }[] {
  const { records } = loadRecords(runsDir());
  return records
    .filter((r) => r.coupling && !isMultitaskCoupling(r.coupling) && !r.intervention && !r.readouts)
    .sort((a, b) => a.config.preset.localeCompare(b.config.preset) || a.id.localeCompare(b.id))
    .map((r) => ({
      file: `${r.id}.json`,
      label: `${r.task} mod ${r.config.p}, ${r.config.preset}, seed ${r.config.seed}${r.grokStep === null ? "" : ` (grok ${r.grokStep})`}`,
      path: join(runsDir(), `${r.id}.json`),
    }));
}

/** Bundles web/ into `outDir` (replacing it). */
export async function buildWeb(
  opts: { outDir?: string; log?: (m: string) => void } = {},
): Promise<BuildInfo> {
  const root = repoRoot();
  const outDir = opts.outDir ?? webDist();
  const log = opts.log ?? (() => {});
  const info: BuildInfo = {
    commit: gitCommit(["src", "web"]),
    version: packageVersion(),
    date: new Date().toISOString(),
    records: 0,
    outDir,
  };
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, "records"), { recursive: true });
  await build({
    entryPoints: { main: join(root, "web/src/main.ts"), worker: join(root, "web/src/worker.ts") },
    outdir: outDir,
    bundle: true,
    // Classic scripts: a module worker is not needed, and any static host serves these.
    format: "iife",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: true,
    legalComments: "linked",
    define: { SEDLAB_BUILD: JSON.stringify({ commit: info.commit, version: info.version, date: info.date }) },
    logLevel: "warning",
    absWorkingDir: root,
  });
  for (const f of inputFiles()) copyFileSync(f, join(outDir, relative(join(root, "web"), f)));
  // tfjs' WebAssembly binaries (the page loads the SIMD one where it can, as Node does).
  const wasmDir = dirname(createRequire(join(root, "package.json")).resolve("@tensorflow/tfjs-backend-wasm"));
  for (const f of readdirSync(wasmDir).filter((n) => n.endsWith(".wasm")))
    copyFileSync(join(wasmDir, f), join(outDir, f));
  const cached = cachedRecords();
  for (const c of cached) copyFileSync(c.path, join(outDir, "records", c.file));
  writeFileSync(
    join(outDir, "records", "index.json"),
    `${JSON.stringify(
      cached.map(({ file, label }) => ({ file, label })),
      null,
      1,
    )}\n`,
  );
  info.records = cached.length;
  writeFileSync(join(outDir, "build.json"), `${JSON.stringify(info, null, 1)}\n`);
  log(
    `built the explorer at ${info.commit} into ${relative(root, outDir) || outDir} (${cached.length} cached records)`,
  );
  return info;
}
