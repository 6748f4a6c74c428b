// Messages between the explorer page (main.ts) and its training Web Worker (worker.ts).
import type { TrainConfig } from "../../src/config/config";
import type { LiveEvent } from "../../src/runs/liveSession";

export type ToWorker =
  | { type: "start"; config: TrainConfig }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "stop" };

export type FromWorker =
  /** The worker's backend is up (or could not start: `error`). */
  { type: "ready"; backend: string } | { type: "started"; id: string } | LiveEvent;

/** What the build stamps into the bundles (src/explore/build.ts defines it). */
export interface BuildStamp {
  commit: string;
  version: string;
  date: string;
}
