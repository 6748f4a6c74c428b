// The explorer's training worker: TensorFlow.js on its WebAssembly backend (with sedlab's fused kernels), the
// same loop, observers and record as `sedlab train` (src/runs/liveSession.ts), driven by the page's messages.
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { LiveSession } from "../../src/runs/liveSession";
import type { BuildStamp, FromWorker, ToWorker } from "./protocol";

declare const SEDLAB_BUILD: BuildStamp;

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m);
let session: LiveSession | undefined;

// tfjs' .wasm binaries sit beside this script in the build.
setWasmPaths(new URL("./", self.location.href).href);
const ready = (async () => {
  if (!(await tf.setBackend("wasm")))
    throw new Error("TensorFlow.js could not start its WebAssembly backend");
  await tf.ready();
})();
ready.then(
  () => post({ type: "ready", backend: tf.getBackend() }),
  (e: Error) => post({ type: "error", message: `backend: ${e.message}` }),
);

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.type === "start") {
    await ready;
    if (session?.state === "running") return post({ type: "error", message: "a run is already training" });
    try {
      session = new LiveSession(
        m.config,
        { backend: "wasm", sedlabVersion: SEDLAB_BUILD.version, commit: SEDLAB_BUILD.commit },
        post,
      );
    } catch (e) {
      return post({ type: "error", message: (e as Error).message });
    }
    post({ type: "started", id: session.id });
    await session.run();
  } else if (m.type === "resume") {
    if (session?.state === "paused") await session.run();
  } else if (m.type === "pause") {
    session?.pause();
  } else if (m.type === "stop") {
    session?.stop();
  }
};
