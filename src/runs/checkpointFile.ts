// Resumable training checkpoints: one binary file per run (magic, JSON header, float32 payload), written
// atomically so a run killed at any moment resumes from its last complete checkpoint.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Checkpoint, CheckpointStore } from "../train/checkpoint";
import { writeFileAtomic } from "../util/atomic";

export type { Checkpoint };

const MAGIC = "SEDLABCK";
const VERSION = 1;

export function checkpointPath(dir: string, id: string): string {
  return join(dir, `${id}.ckpt`);
}

export function saveCheckpoint(path: string, ck: Checkpoint): void {
  const names = Object.keys(ck.arrays);
  const header = JSON.stringify({
    version: VERSION,
    ...ck.header,
    arrays: names.map((n) => ({ name: n, length: ck.arrays[n].length })),
  });
  const hbuf = Buffer.from(header, "utf8");
  // Pad the header so the payload starts 4-byte aligned.
  const hlen = Math.ceil(hbuf.length / 4) * 4;
  const payload = names.reduce((s, n) => s + ck.arrays[n].byteLength, 0);
  const out = Buffer.alloc(MAGIC.length + 4 + hlen + payload, 0x20);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(hlen, MAGIC.length);
  hbuf.copy(out, MAGIC.length + 4);
  let off = MAGIC.length + 4 + hlen;
  for (const n of names) {
    const a = ck.arrays[n];
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(out, off);
    off += a.byteLength;
  }
  writeFileAtomic(path, out);
}

export function loadCheckpoint(path: string): Checkpoint | undefined {
  if (!existsSync(path)) return undefined;
  const buf = readFileSync(path);
  const fail = (why: string): never => {
    throw new Error(`checkpoint ${path} is unreadable (${why}); delete it to start the run afresh`);
  };
  if (buf.length < MAGIC.length + 4 || buf.toString("latin1", 0, MAGIC.length) !== MAGIC) fail("bad magic");
  const hlen = buf.readUInt32LE(MAGIC.length);
  let header: Record<string, unknown> & { version?: number; arrays?: { name: string; length: number }[] };
  try {
    header = JSON.parse(buf.toString("utf8", MAGIC.length + 4, MAGIC.length + 4 + hlen));
  } catch {
    return fail("corrupt header");
  }
  if (header.version !== VERSION) fail(`format v${header.version}, expected v${VERSION}`);
  const arrays: Record<string, Float32Array> = {};
  let off = MAGIC.length + 4 + hlen;
  for (const { name, length } of header.arrays ?? []) {
    if (off + length * 4 > buf.length) fail("truncated payload");
    arrays[name] = new Float32Array(
      buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + length * 4),
    );
    off += length * 4;
  }
  if (off !== buf.length) fail("trailing bytes");
  const { version: _v, arrays: _a, ...rest } = header;
  return { header: rest, arrays };
}

export function removeCheckpoint(path: string): void {
  rmSync(path, { force: true });
}

/** The loop's checkpoint store for run `id`: the file `<dir>/<id>.ckpt`. */
export function fileCheckpointStore(dir: string, id: string): CheckpointStore {
  const path = checkpointPath(dir, id);
  return {
    where: path,
    load: () => loadCheckpoint(path),
    save: (ck) => saveCheckpoint(path, ck),
    remove: () => removeCheckpoint(path),
  };
}
