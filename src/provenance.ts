// Provenance stamped on every run record: which code produced it.
import { execFileSync } from "node:child_process";
import { repoRoot } from "./paths";

let cached: string | undefined;

/** The checkout's commit, with "-dirty" when tracked files differ from it; "unknown" outside git. */
export function gitCommit(): string {
  if (cached) return cached;
  const git = (...args: string[]) =>
    execFileSync("git", args, {
      cwd: repoRoot(),
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  try {
    const head = git("rev-parse", "--short=12", "HEAD");
    const dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src") !== "";
    cached = dirty ? `${head}-dirty` : head;
  } catch {
    cached = "unknown";
  }
  return cached;
}
