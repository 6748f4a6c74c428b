#!/usr/bin/env node
// The `sedlab` command: runs the TypeScript CLI through tsx, with the checkout as the project root.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

process.env.SEDLAB_ROOT ??= join(dirname(fileURLToPath(import.meta.url)), "..");
register();
const { main } = await import("../src/cli.ts");
process.exitCode = await main(process.argv.slice(2));
