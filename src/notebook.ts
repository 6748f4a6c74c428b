// The first cell of every notebook in one call: the backend line, the preset the notebook runs at, and a live
// progress line for whatever it trains.
import type { PresetName } from "./config/config";
import { type LiveLine, liveLine } from "./present/nbdisplay";
import { type BackendInfo, initBackend } from "./runs/backend";
import { notebookPreset } from "./runs/experiments";
import { type Progress, progressLine } from "./util/progress";

export interface NotebookSession {
  backend: BackendInfo;
  /** `SEDLAB_PRESET` when set (the test suite sets "test"), else the notebook's own. */
  preset: PresetName;
  /** One line that updates in place; `done(text)` ends it. */
  line: LiveLine;
  /** Progress callback drawing on `line`. */
  onProgress: (p: Progress) => void;
}

/** Initialise the backend, print which one runs, and pick the preset (`fallback` unless SEDLAB_PRESET says). */
export async function notebookSession(fallback: PresetName): Promise<NotebookSession> {
  const backend = await initBackend();
  console.log(`TensorFlow.js backend: ${backend.description}`);
  const preset = notebookPreset(fallback);
  const line = liveLine();
  return { backend, preset, line, onProgress: (p) => line.update(progressLine(p)) };
}
