// Base64 to bytes with `atob`, which Node and browsers both have (Buffer is Node-only): the embedded wasm kernels.
export function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
