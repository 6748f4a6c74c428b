// Committed notebooks must be stripped (no outputs, no execution counts: executed ones embed plotly.js, ~5 MB)
// and must use the tslab (TypeScript) kernel. Fix with: node scripts/strip-notebooks.mjs
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const root = process.cwd();

/** notebooks/*.ipynb known to git (tracked or staged); all of them when git is unavailable (e.g. a tarball). */
function committedNotebooks(): string[] {
  const onDisk = readdirSync(join(root, "notebooks"))
    .filter((f) => f.endsWith(".ipynb") && !f.endsWith(".failed.ipynb"))
    .map((f) => `notebooks/${f}`);
  try {
    const tracked = execFileSync("git", ["ls-files", "--", "notebooks/*.ipynb"], {
      cwd: root,
      encoding: "utf8",
    })
      .split("\n")
      .filter((l) => l !== "");
    return onDisk.filter((f) => tracked.includes(f)).sort();
  } catch {
    return onDisk.sort();
  }
}

interface Cell {
  cell_type: string;
  outputs?: unknown[];
  execution_count?: number | null;
  metadata?: Record<string, unknown>;
}
interface Notebook {
  cells: Cell[];
  metadata?: { kernelspec?: { name?: string; language?: string }; widgets?: unknown };
}

const FIX = "run: node scripts/strip-notebooks.mjs";

/** Why `nb` is not a committable notebook (what scripts/strip-notebooks.mjs strips, and the kernel); [] if it is. */
function problems(rel: string, nb: Notebook): string[] {
  const out: string[] = [];
  const kernel = nb.metadata?.kernelspec;
  if (kernel?.name !== "tslab")
    out.push(`${rel}: kernelspec.name must be "tslab" (TypeScript), not ${kernel?.name}`);
  if (kernel?.language !== "typescript")
    out.push(`${rel}: kernelspec.language must be "typescript", not ${kernel?.language}`);
  if (nb.metadata?.widgets !== undefined) out.push(`${rel}: saved widget state - ${FIX}`);
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type === "code") {
      const n = cell.outputs?.length ?? 0;
      if (n > 0) out.push(`${rel}: cell ${i + 1} has ${n} output(s) - ${FIX}`);
      if ((cell.execution_count ?? null) !== null)
        out.push(`${rel}: cell ${i + 1} has an execution count - ${FIX}`);
    }
    for (const k of ["execution", "collapsed", "scrolled"]) {
      if (cell.metadata?.[k] !== undefined) out.push(`${rel}: cell ${i + 1} has metadata.${k} - ${FIX}`);
    }
  });
  return out;
}

const notebooks = committedNotebooks();
const read = (rel: string) => JSON.parse(readFileSync(join(root, rel), "utf8")) as Notebook;

test("the notebooks are committed, and the check finds an output left in one", () => {
  assert.ok(notebooks.length > 0, "no committed notebooks/*.ipynb: the stripped checks below check nothing");
  // A committed notebook as Jupyter saves it after running a cell: the check must name what is left in.
  const rel = notebooks[0] as string;
  const ran = read(rel);
  const i = ran.cells.findIndex((c) => c.cell_type === "code");
  assert.ok(i >= 0, `${rel} has no code cell`);
  ran.cells[i] = {
    ...ran.cells[i],
    execution_count: 1,
    outputs: [{ output_type: "stream", name: "stdout", text: ["hello\n"] }],
    metadata: { ...ran.cells[i].metadata, execution: { "iopub.status.busy": "2024-01-01T00:00:00Z" } },
  };
  assert.deepEqual(problems(rel, ran), [
    `${rel}: cell ${i + 1} has 1 output(s) - ${FIX}`,
    `${rel}: cell ${i + 1} has an execution count - ${FIX}`,
    `${rel}: cell ${i + 1} has metadata.execution - ${FIX}`,
  ]);
});

for (const rel of notebooks) {
  test(`${rel}: stripped (no outputs, no execution counts) and kernel tslab`, () => {
    assert.deepEqual(problems(rel, read(rel)), []);
  });
}
