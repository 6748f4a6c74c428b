// What notebooks and scripts import: `import { … } from "./src"` in notebooks/ (notebooks/src -> ../src). The
// pipeline's stages, top to bottom; the compute core (model, train, sed, intervention) is reached through
// runs/ (trainRun, runOrLoad) and tests import it module by module.
export * from "./analysis/attentionControls";
export * from "./analysis/interventions";
export * from "./analysis/multitask";
export * from "./analysis/paper";
export * from "./analysis/readouts";
export * from "./analysis/runTimes";
export * from "./analysis/sed";
export * from "./config/config";
export * from "./data/tasks";
export * from "./grids/experiments";
export * from "./grids/load";
export * from "./notebook";
export * from "./present/attentionControlFigures";
export * from "./present/figures";
export * from "./present/multitaskFigures";
export * from "./present/nbdisplay";
export * from "./present/readoutFigures";
export * from "./present/tables";
export * from "./records/records";
export * from "./records/results";
export * from "./records/schema";
export * from "./runs/backend";
export * from "./runs/experiments";
export * from "./runs/newops";
export * from "./runs/trainRun";
export * from "./util/progress";
