// Provenance stamped on every run record: which code produced it.
import { execFileSync } from "node:child_process";
import { repoRoot } from "./paths";

/**
 * The checkout's commit, with "-dirty" when tracked files under `paths` (default src/) differ from it; "unknown"
 * outside git. Not cached: a long-lived sweep worker must stamp each record with the code as it is when the
 * record is made.
 */
export function gitCommit(paths: readonly string[] = ["src"]): string {
  const git = (...args: string[]) =>
    execFileSync("git", args, {
      cwd: repoRoot(),
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  try {
    const head = git("rev-parse", "--short=12", "HEAD");
    const dirty = git("status", "--porcelain", "--untracked-files=no", "--", ...paths) !== "";
    return dirty ? `${head}-dirty` : head;
  } catch {
    return "unknown";
  }
}
