// V8 flags for every process that trains or measures. A training step or centroid pass allocates a few MB of
// short-lived typed arrays and tfjs tensor objects; with V8's default 16 MB young generation that means a
// scavenge every few steps, and each promotes live tensors' wrappers. A 32 MB young generation cut the CPU time
// of a paper-preset run with diagnostics by ~28% (600 steps, 75.6 → 54.6 CPU s; 64 and 128 MB gained no more).
// Sweep workers get these through fork's execArgv; bin/sedlab.mjs's shebang, `npm run bench` and the tslab
// kernel's NODE_OPTIONS (scripts/setup.sh) repeat them, and test/nodeFlags.test.ts checks that they agree.
export const NODE_FLAGS: readonly string[] = ["--max-semi-space-size=32"];
