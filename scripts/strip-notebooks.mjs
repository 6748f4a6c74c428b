#!/usr/bin/env node
// Strips outputs and execution counts from notebooks, in place (notebooks are committed stripped: an executed one
// embeds plotly.js, ~5 MB). Also drops per-cell execution timing metadata and saved widget state.
//
//   node scripts/strip-notebooks.mjs [--check] [NOTEBOOK.ipynb ...]     (default: notebooks/*.ipynb)
//
// --check: change nothing; list the notebooks that are not stripped and exit 1 if there are any.
// A notebook whose content is already stripped is not rewritten (whatever its formatting). Rewritten ones are
// formatted like Jupyter/nbformat does (1-space indent, sorted keys, trailing newline).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");

/** Recursively sorts object keys (arrays keep their order), like nbformat's json.dumps(sort_keys=True). */
function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  }
  return v;
}

/** Returns the stripped notebook object (the input is not modified). */
export function stripNotebook(nb) {
  const out = structuredClone(nb);
  for (const cell of out.cells ?? []) {
    if (cell.cell_type === "code") {
      cell.outputs = [];
      cell.execution_count = null;
    }
    if (cell.metadata) {
      delete cell.metadata.execution; // JupyterLab's record_timing
      delete cell.metadata.collapsed;
      delete cell.metadata.scrolled;
    }
  }
  if (out.metadata) delete out.metadata.widgets;
  return out;
}

export function serialize(nb) {
  return `${JSON.stringify(sortKeys(nb), null, 1)}\n`;
}

function main(argv) {
  const check = argv.includes("--check");
  let files = argv.filter((a) => a !== "--check");
  if (files.length === 0) {
    const dir = join(root, "notebooks");
    files = readdirSync(dir)
      .filter((f) => f.endsWith(".ipynb") && !f.endsWith(".failed.ipynb"))
      .sort()
      .map((f) => join(dir, f));
  }
  const dirty = [];
  for (const file of files) {
    const nb = JSON.parse(readFileSync(file, "utf8"));
    const stripped = stripNotebook(nb);
    // Compare content, not bytes: a notebook that is already stripped is left alone whatever its formatting.
    if (JSON.stringify(sortKeys(stripped)) === JSON.stringify(sortKeys(nb))) continue;
    dirty.push(file);
    if (!check) writeFileSync(file, serialize(stripped));
  }
  if (check) {
    for (const f of dirty) console.error(`not stripped: ${f}`);
    if (dirty.length > 0) {
      console.error("run: node scripts/strip-notebooks.mjs");
      return 1;
    }
    console.log(`strip-notebooks: ${files.length} notebook(s) clean`);
    return 0;
  }
  console.log(
    `strip-notebooks: stripped ${dirty.length} of ${files.length} notebook(s)${dirty.length ? ":" : ""}`,
  );
  for (const f of dirty) console.log(`  ${f}`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
