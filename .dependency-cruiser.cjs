// The dependency rules of src/ (run by `npm run lint:deps`, part of `npm test`). Imports flow down the pipeline:
//   util → data → config → records → grids → model → train → sed, intervention → runs → analysis → present
//   → cli, notebook.ts, index.ts
// The compute core (what trains, and what a browser tab will run) never reaches a Node-only module, and
// analysis and presentation never load the trainer or TensorFlow.js.
const LAYERS = [
  ["util"],
  ["data"],
  ["config"],
  ["records"],
  ["grids"],
  ["model"],
  ["train"],
  ["sed", "intervention"],
  ["runs"],
  ["analysis"],
  ["present"],
  ["explore"],
];
const TOP = "^src/(cli/|notebook\\.ts$|index\\.ts$)";
const folder = (names) => `^src/(${names.join("|")})/`;

const layered = LAYERS.map((layer, i) => ({
  name: `layer-${layer.join("-")}`,
  comment: `${layer.join(", ")} may import only from the layers below it`,
  severity: "error",
  from: { path: folder(layer) },
  to: { path: [folder(LAYERS.slice(i + 1).flat()), TOP] },
}));

// Pure modules the core may use; everything else in util/ and records/ does I/O. runs/observers and
// runs/liveSession are the portable runners (the browser explorer's worker drives training through them).
const CORE = [
  "^src/util/(rng|linalg|progress|fourier|base64|wasm|rowStore|frameBuffer)\\.ts$",
  "^src/util/kernels/",
  "^src/config/",
  "^src/data/",
  "^src/records/(schema|results|ids)\\.ts$",
  "^src/runs/(observers|liveSession)\\.ts$",
  "^src/model/(params|model|engine|fusedKernels)\\.ts$",
  "^src/model/kernels/",
  "^src/train/",
  "^src/sed/",
  "^src/intervention/",
];

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "no import cycles in src/",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    ...layered,
    {
      name: "core-stays-portable",
      comment: "the compute core imports only other core modules (so nothing it reaches is Node-only)",
      severity: "error",
      from: { path: CORE },
      to: { path: "^src/", pathNot: CORE },
    },
    {
      name: "core-no-node-builtins",
      comment: "the compute core never imports node:* modules (it must run in a browser tab)",
      severity: "error",
      from: { path: CORE },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "web-stays-portable",
      comment:
        "the browser explorer (web/src) imports the compute core and the pure figure modules only, never a Node-only module",
      severity: "error",
      from: { path: "^web/src/" },
      to: { path: "^src/", pathNot: [...CORE, "^src/present/(explorerFigures|style)\\.ts$"] },
    },
    {
      name: "web-no-node-builtins",
      comment: "the browser explorer never imports node:* modules",
      severity: "error",
      from: { path: "^web/src/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "analysis-present-never-train",
      comment:
        "analysis and presentation read records; they never load the trainer, the model or TensorFlow.js",
      severity: "error",
      from: { path: "^src/(analysis|present)/" },
      to: { path: ["^src/(model|train|sed|intervention|runs)/", "@tensorflow"], reachable: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default"],
    },
  },
};
