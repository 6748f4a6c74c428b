#!/usr/bin/env -S node --max-semi-space-size=32
// The `sedlab` command: runs the TypeScript CLI through tsx, with the checkout as the project root. The
// shebang's V8 flag is src/nodeFlags.ts's (why: there).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

process.env.SEDLAB_ROOT ??= join(dirname(fileURLToPath(import.meta.url)), "..");
register();
const { main } = await import("../src/cli/cli.ts");
process.exitCode = await main(process.argv.slice(2));
