// Byte helpers both zip writers share (zip.ts in memory, zip_stream.ts streamed).

/** A zeroed little-endian header of `size` bytes starting with its signature. */
export function header(signature: number, size: number): DataView {
  const view = new DataView(new ArrayBuffer(size));
  view.setUint32(0, signature, true);
  return view;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
