// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as ZIP stores it: whole buffers for the
// zip reader, a running value for the streaming writer.

// CRC-32 (IEEE, reflected, 0xEDB88320) over a stream, slicing by 8: eight bytes per step through
// eight tables, about four times the byte-at-a-time loop (weights pass through here by the GB).
const TABLES = (() => {
  const t = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) for (let s = 1; s < 8; s++) t[s * 256 + n] = (t[(s - 1) * 256 + n] >>> 8) ^ t[t[(s - 1) * 256 + n] & 0xff];
  return t;
})();

export function crcStart(): number {
  return 0xffffffff;
}

/** Folds `bytes` into a running CRC (start with crcStart(), finish with crcEnd()). */
export function crcUpdate(crc: number, bytes: Uint8Array): number {
  const t = TABLES;
  const n = bytes.length;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) ^ crc;
    const b = bytes[i + 4] | (bytes[i + 5] << 8) | (bytes[i + 6] << 16) | (bytes[i + 7] << 24);
    crc =
      t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^ t[1024 + (a >>> 24)] ^
      t[768 + (b & 0xff)] ^ t[512 + ((b >>> 8) & 0xff)] ^ t[256 + ((b >>> 16) & 0xff)] ^ t[b >>> 24];
  }
  for (; i < n; i++) crc = t[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc >>> 0;
}

export function crcEnd(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/** The CRC-32 of one buffer. */
export function crc32(bytes: Uint8Array): number {
  return crcEnd(crcUpdate(crcStart(), bytes));
}
