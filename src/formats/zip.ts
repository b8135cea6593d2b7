import { deflateSync, inflateSync } from 'fflate';
import { InputError } from '../errors.ts';
import { crc32 } from './crc32.ts';
import { concat, header } from './zip_records.ts';

// A small, strict ZIP container (PKWARE APPNOTE 6.3: local headers, central directory, end
// record; stored or deflated; no ZIP64, encryption or multi-disk), with fflate doing only the
// raw deflate/inflate. We keep the container ourselves because a zip the user hands us is
// untrusted: every offset is checked against the file, every size against what the compressed
// bytes can justify, and every entry's CRC-32 is verified (fflate's unzipSync does neither).
// Written files are deterministic: fixed DOS timestamp (1980-01-01 00:00), no extra fields.

export class ZipFormatError extends InputError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super('bad_zip', `${file}: ${reason}`);
  }
}

export interface ZipEntry {
  /** Path inside the archive, "/"-separated. */
  name: string;
  bytes: Uint8Array;
}

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const END = 0x06054b50;
const UTF8_NAMES = 0x0800;
const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
// Deflate cannot expand data by more than this factor (a 258-byte match per ~2 bits); a larger
// claimed size is a lie, and believing it would let a tiny file demand gigabytes.
const MAX_DEFLATE_RATIO = 1032;
const U32_MAX = 0xffffffff;

export function writeZip(entries: readonly ZipEntry[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const names = new Set<string>();
  for (const entry of entries) {
    if (names.has(entry.name)) throw new RangeError(`zip entry "${entry.name}" given twice`);
    names.add(entry.name);
    const name = encoder.encode(entry.name);
    const deflated = deflateSync(entry.bytes, { level: 6 });
    // Store when deflate does not help (random float32 weights barely compress).
    const method = deflated.length < entry.bytes.length ? 8 : 0;
    const data = method === 8 ? deflated : entry.bytes;
    const crc = crc32(entry.bytes);
    if (entry.bytes.length > U32_MAX || offset > U32_MAX) throw new RangeError('zip entries above 4 GiB need ZIP64, which this writer does not do');
    const local = header(LOCAL, 30);
    local.setUint16(4, 20, true); // version needed: 2.0 (deflate)
    local.setUint16(6, UTF8_NAMES, true);
    local.setUint16(8, method, true);
    local.setUint16(10, 0, true); // time 00:00:00
    local.setUint16(12, DOS_DATE_1980_01_01, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, entry.bytes.length, true);
    local.setUint16(26, name.length, true);
    const cd = header(CENTRAL, 46);
    cd.setUint16(4, 20, true); // made by: MS-DOS attributes, 2.0
    cd.setUint16(6, 20, true);
    cd.setUint16(8, UTF8_NAMES, true);
    cd.setUint16(10, method, true);
    cd.setUint16(14, DOS_DATE_1980_01_01, true);
    cd.setUint32(16, crc, true);
    cd.setUint32(20, data.length, true);
    cd.setUint32(24, entry.bytes.length, true);
    cd.setUint16(28, name.length, true);
    cd.setUint32(42, offset, true);
    parts.push(new Uint8Array(local.buffer), name, data);
    central.push(new Uint8Array(cd.buffer), name);
    offset += 30 + name.length + data.length;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, END, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  return concat([...parts, ...central, new Uint8Array(end.buffer)]);
}

export interface ReadZipOptions {
  /** Which entries to decompress (by full name); others are listed but never inflated. */
  accept?: (name: string) => boolean;
  /** Refuse an accepted entry larger than this when decompressed. */
  maxEntryBytes?: number;
}

/** The accepted entries of a zip archive held in memory, by name, each checked against its CRC. */
export function readZip(zip: Uint8Array, file: string, options: ReadZipOptions = {}): Map<string, Uint8Array> {
  const fail = (reason: string): never => {
    throw new ZipFormatError(file, reason);
  };
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  // The end record is the last 22 bytes plus a comment of up to 65 535 bytes.
  let end = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at--) {
    if (u32(at) === END && at + 22 + u16(at + 20) === zip.length) {
      end = at;
      break;
    }
  }
  if (end < 0) fail('is not a zip archive (no end-of-central-directory record); pick the .zip file itself');
  if (u16(end + 4) !== 0 || u16(end + 6) !== 0 || u16(end + 8) !== u16(end + 10)) fail('is a multi-part zip archive; use a single-file .zip');
  const count = u16(end + 10);
  const cdSize = u32(end + 12);
  const cdOffset = u32(end + 16);
  if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) fail('is a ZIP64 archive, which webtune does not read; zip the adapter files again');
  if (cdOffset + cdSize > end) fail('has a central directory that points past the end of the file; the file is truncated or corrupt');

  const decoder = new TextDecoder();
  const out = new Map<string, Uint8Array>();
  const seen = new Set<string>();
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cdOffset + cdSize || u32(at) !== CENTRAL) fail(`entry ${i + 1} of ${count} of the central directory is corrupt`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    const crc = u32(at + 16);
    const size = u32(at + 20);
    const rawSize = u32(at + 24);
    const nameLength = u16(at + 28);
    const next = at + 46 + nameLength + u16(at + 30) + u16(at + 32);
    const localOffset = u32(at + 42);
    if (next > cdOffset + cdSize) fail(`entry ${i + 1} of the central directory runs past its end`);
    const name = decoder.decode(zip.subarray(at + 46, at + 46 + nameLength));
    at = next;
    if (seen.has(name)) fail(`holds "${name}" twice`);
    seen.add(name);
    if (name.endsWith('/') || !(options.accept?.(name) ?? true)) continue;
    if (flags & 0x0001) fail(`"${name}" is encrypted; zip the files without a password`);
    if (method !== 0 && method !== 8) fail(`"${name}" uses compression method ${method}; only stored and deflated entries are read`);
    if (rawSize > (options.maxEntryBytes ?? 2 ** 31 - 1)) fail(`"${name}" unpacks to ${rawSize} bytes, more than the ${options.maxEntryBytes ?? 2 ** 31 - 1} allowed`);
    if (method === 0 ? rawSize !== size : rawSize > size * MAX_DEFLATE_RATIO + 64) fail(`"${name}" claims ${rawSize} bytes from ${size} compressed ones, which is impossible; the archive is corrupt`);
    if (localOffset + 30 > cdOffset || u32(localOffset) !== LOCAL) fail(`"${name}" has no local header where the directory says; the archive is corrupt`);
    const dataStart = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28);
    if (dataStart + size > cdOffset) fail(`"${name}" runs past the end of the file data; the archive is truncated`);
    const data = zip.subarray(dataStart, dataStart + size);
    let bytes: Uint8Array;
    try {
      bytes = method === 0 ? data.slice() : inflateSync(data, { out: new Uint8Array(rawSize) });
    } catch (e) {
      return fail(`"${name}" cannot be decompressed (${(e as Error).message}); the archive is corrupt`);
    }
    if (bytes.length !== rawSize || crc32(bytes) !== crc) fail(`"${name}" does not match its checksum; the archive is corrupt — download or zip it again`);
    out.set(name, bytes);
  }
  return out;
}
