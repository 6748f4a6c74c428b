// Where things live. Found from the working directory (the CLI runs at the repo root, notebook kernels in
// notebooks/), so it works the same under tsx (ESM) and tslab (which compiles src/ to CommonJS).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

let cachedRoot: string | undefined;

/** The sedlab checkout: `SEDLAB_ROOT` (set by the CLI), else the nearest folder upwards from cwd whose package.json is named "sedlab". */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  if (process.env.SEDLAB_ROOT) {
    cachedRoot = resolve(process.env.SEDLAB_ROOT);
    return cachedRoot;
  }
  let dir = resolve(process.cwd());
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, "utf8")).name === "sedlab") {
          cachedRoot = dir;
          return dir;
        }
      } catch {
        // not ours; keep looking upwards
      }
    }
    const up = dirname(dir);
    if (up === dir)
      throw new Error(`not inside the sedlab repository (looked upwards from ${process.cwd()})`);
    dir = up;
  }
}

/** Cached run records (committed). `SEDLAB_DATA` redirects them, e.g. for tests or a cluster's shared disk. */
export function dataDir(): string {
  return process.env.SEDLAB_DATA ? resolve(process.env.SEDLAB_DATA) : join(repoRoot(), "data");
}

export function runsDir(): string {
  return join(dataDir(), "runs");
}

/** Resumable training checkpoints (generated, not committed). */
export function checkpointsDir(): string {
  return process.env.SEDLAB_CHECKPOINTS
    ? resolve(process.env.SEDLAB_CHECKPOINTS)
    : join(repoRoot(), "checkpoints");
}

export function packageVersion(): string {
  return JSON.parse(readFileSync(join(repoRoot(), "package.json"), "utf8")).version;
}
