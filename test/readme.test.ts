// The README is part of the product: every environment variable and npm script it names must exist.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
};

/** Every tracked file of the code that could read a variable (src, scripts, bin, .ci, test). */
function codeText(): string {
  const files = execFileSync("git", ["ls-files", "src", "scripts", "bin", ".ci", "test"], {
    cwd: root,
    encoding: "utf8",
  })
    .split("\n")
    .filter((f) => f && /\.(ts|mts|mjs|sh|js)$|^\.ci\/run$/.test(f) && f !== "test/readme.test.ts");
  return files.map((f) => fs.readFileSync(path.join(root, f), "utf8")).join("\n");
}

describe("the README names only what exists", () => {
  it("every SEDLAB_* variable it mentions is read by the code", () => {
    const vars = [...new Set(readme.match(/SEDLAB_[A-Z_]+/g) ?? [])];
    assert.ok(vars.length >= 4, `expected the README to document its variables, found ${vars.join(", ")}`);
    const code = codeText();
    // Read means process.env.X, env.X, ${X…} in a shell script, or X in an env object.
    const unread = vars.filter(
      (v) => !new RegExp(`(process\\.env\\.|\\$\\{?|env\\.|\\[")${v}\\b|\\b${v}:`).test(code),
    );
    assert.deepEqual(unread, [], `README mentions variables no code reads: ${unread.join(", ")}`);
  });

  it("every `npm run X` it mentions is a script in package.json", () => {
    const scripts = [...new Set([...readme.matchAll(/npm run ([a-z][a-z:-]*)/g)].map((m) => m[1]))];
    assert.ok(scripts.length >= 4, `found ${scripts.join(", ")}`);
    const missing = scripts.filter((s) => !(s in pkg.scripts));
    assert.deepEqual(missing, [], `README mentions npm scripts package.json lacks: ${missing.join(", ")}`);
  });

  it("the quick start's test command is the one CI runs", () => {
    assert.match(readme, /bash scripts\/quickstart\.sh\nnpm test\n/);
    assert.match(fs.readFileSync(path.join(root, ".ci/run"), "utf8"), /^npm test$/m);
  });
});
