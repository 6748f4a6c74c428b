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
}
interface Notebook {
  cells: Cell[];
  metadata?: { kernelspec?: { name?: string; language?: string } };
}

const notebooks = committedNotebooks();

test("committed notebooks are listed", () => {
  // Informational: an empty list is fine while the notebooks are being written.
  assert.ok(Array.isArray(notebooks));
});

for (const rel of notebooks) {
  test(`${rel}: stripped (no outputs, no execution counts) and kernel tslab`, () => {
    const nb = JSON.parse(readFileSync(join(root, rel), "utf8")) as Notebook;
    const kernel = nb.metadata?.kernelspec;
    assert.equal(kernel?.name, "tslab", `${rel}: kernelspec.name must be "tslab" (TypeScript)`);
    assert.equal(kernel?.language, "typescript", `${rel}: kernelspec.language must be "typescript"`);
    nb.cells.forEach((cell, i) => {
      if (cell.cell_type !== "code") return;
      assert.equal(
        cell.outputs?.length ?? 0,
        0,
        `${rel}: cell ${i + 1} has outputs - run: node scripts/strip-notebooks.mjs`,
      );
      assert.equal(
        cell.execution_count ?? null,
        null,
        `${rel}: cell ${i + 1} has an execution count - run: node scripts/strip-notebooks.mjs`,
      );
    });
  });
}
