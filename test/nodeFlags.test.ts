// The V8 flags of src/util/nodeFlags.ts are repeated where TypeScript cannot be imported: the bin script's shebang,
// the bench script and the kernel registration. This keeps the copies in step with the constant.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { NODE_FLAGS } from "../src/util/nodeFlags";

const root = join(import.meta.dirname, "..");
const read = (p: string) => readFileSync(join(root, p), "utf8");

describe("node flags", () => {
  test("are a young-generation size V8 accepts (what the measured gain came from)", () => {
    assert.ok(NODE_FLAGS.length > 0);
    for (const f of NODE_FLAGS) assert.match(f, /^--max-semi-space-size=\d+$/);
  });

  test("bin/sedlab.mjs passes them to node in its shebang", () => {
    const shebang = read("bin/sedlab.mjs").split("\n")[0];
    assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(" ")}`);
  });

  test("npm run bench runs node with them", () => {
    const bench: string = JSON.parse(read("package.json")).scripts.bench;
    assert.ok(bench.startsWith(`node ${NODE_FLAGS.join(" ")} `), bench);
  });

  test("scripts/setup.sh writes them into the tslab kernel's NODE_OPTIONS", () => {
    assert.match(read("scripts/setup.sh"), new RegExp(`^NODE_FLAGS="${NODE_FLAGS.join(" ")}"$`, "m"));
  });
});
