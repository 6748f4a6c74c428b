// A checkpoint kept in memory (the browser explorer's Pause, tests): the loop hands `save` its live arrays, so
// they are copied, as a file store's serialisation would.
import type { Checkpoint, CheckpointStore } from "./checkpoint";

export function memoryCheckpointStore(where = "memory"): CheckpointStore {
  let kept: Checkpoint | undefined;
  const copy = (ck: Checkpoint): Checkpoint => ({
    header: structuredClone(ck.header),
    arrays: Object.fromEntries(Object.entries(ck.arrays).map(([k, v]) => [k, v.slice()])),
  });
  return {
    where,
    load: () => (kept ? copy(kept) : undefined),
    save(ck) {
      kept = copy(ck);
    },
    remove() {
      kept = undefined;
    },
  };
}
