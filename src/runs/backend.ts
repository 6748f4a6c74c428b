// Backend selection: tfjs-node-gpu, then tfjs-node (only when a user installed them: both download
// libtensorflow at install time, which our CI cannot), else wasm, else the pure-JS cpu backend.
import { createRequire } from "node:module";
import * as tf from "@tensorflow/tfjs";
import { blasDecision, enableBlas } from "./blas";

export type BackendChoice = "tfjs-node-gpu" | "tfjs-node" | "wasm" | "cpu";
export const BACKEND_CHOICES: readonly BackendChoice[] = ["tfjs-node-gpu", "tfjs-node", "wasm", "cpu"];

export interface BackendInfo {
  /** What we chose, e.g. "wasm" or "tfjs-node". */
  name: BackendChoice;
  /** tfjs' own name for the active backend ("tensorflow", "wasm", "cpu"). */
  tfBackend: string;
  /** One line for logs and notebooks (with the BLAS bridge's verdict on wasm; `activeBlas()` says what runs). */
  description: string;
}

let active: BackendInfo | undefined;
const requireHere = createRequire(`${process.cwd()}/`);

// danfojs-node depends on @tensorflow/tfjs-node; our package.json overrides it with plain tfjs so the install
// needs no download. Importing "@tensorflow/tfjs-node" can therefore succeed without registering the native
// backend: trust only the registration.
function tryNative(pkg: "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node"): boolean {
  try {
    requireHere(pkg);
  } catch {
    return false;
  }
  return tf.findBackendFactory("tensorflow") != null;
}

async function activate(choice: BackendChoice): Promise<boolean> {
  if (choice === "tfjs-node-gpu" || choice === "tfjs-node") {
    if (!tryNative(choice === "tfjs-node-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node"))
      return false;
    return tf.setBackend("tensorflow");
  }
  if (choice === "wasm") {
    try {
      await import("@tensorflow/tfjs-backend-wasm");
    } catch {
      return false;
    }
  }
  return tf.setBackend(choice);
}

/**
 * Initialise TensorFlow.js once per process. `SEDLAB_BACKEND` (or `prefer`) forces a backend and fails loudly
 * when it is not available, rather than silently running somewhere else.
 */
export async function initBackend(prefer?: string): Promise<BackendInfo> {
  const forced = prefer ?? process.env.SEDLAB_BACKEND;
  if (active && (!forced || forced === active.name)) return active;
  let candidates: BackendChoice[];
  if (forced) {
    if (!BACKEND_CHOICES.includes(forced as BackendChoice)) {
      throw new Error(
        `Unknown backend "${forced}" (SEDLAB_BACKEND); choose one of ${BACKEND_CHOICES.join(", ")}`,
      );
    }
    candidates = [forced as BackendChoice];
  } else {
    candidates = [...BACKEND_CHOICES];
  }
  for (const choice of candidates) {
    if (await activate(choice)) {
      await tf.ready();
      // On wasm (Node), matrix products go to the machine's BLAS when it measures faster (runs/blas.ts).
      const bridge = choice === "wasm" ? enableBlas() : undefined;
      active = {
        name: choice,
        tfBackend: tf.getBackend(),
        description: bridge ? `${describe(choice)}; ${bridge.description}` : describe(choice),
      };
      return active;
    }
  }
  throw new Error(
    forced
      ? `Backend "${forced}" is not available in this installation (is its npm package installed?)`
      : "No TensorFlow.js backend could be initialised",
  );
}

function describe(choice: BackendChoice): string {
  switch (choice) {
    case "wasm":
      return "wasm (TensorFlow.js WebAssembly backend, one thread per process)";
    case "cpu":
      return "cpu (TensorFlow.js pure-JavaScript backend: slow)";
    default:
      return `${choice} (native TensorFlow)`;
  }
}

/**
 * The environment that makes another sedlab process take this one's compute path instead of timing BLAS against
 * wasm again at start-up (which can flip on a loaded machine): `SEDLAB_BLAS` set to this process's decision. Empty
 * when SEDLAB_BLAS is already set (a child inherits it; the backend is then not started for this) or no decision
 * applies (not on wasm).
 */
export async function computePathEnv(): Promise<Record<string, string>> {
  if (process.env.SEDLAB_BLAS !== undefined) return {};
  await initBackend();
  const decided = blasDecision();
  return decided === undefined ? {} : { SEDLAB_BLAS: decided };
}

export function currentBackend(): BackendInfo {
  if (!active) throw new Error("Backend not initialised: call `await initBackend()` first");
  return active;
}
