import { describe, expect, it } from 'vitest';
import { crc32, crcEnd, crcStart, crcUpdate } from '../../../src/formats/crc32.ts';
import { readZip } from '../../../src/formats/zip.ts';
import { ZipStreamWriter } from '../../../src/formats/zip_stream.ts';
import { concat } from '../../../src/formats/zip_records.ts';
import type { ByteSink } from '../../../src/formats/safetensors_writer.ts';
import { Rng } from '../../helpers/rng.ts';

// The streaming zip writer against zip.ts's strict reader (which checks every CRC and offset),
// byte-level checks of the data descriptors, and the ZIP64 path with a real 4 GiB + 7 entry whose
// bytes are counted, not kept (its CRC was computed independently with Python's zlib.crc32).

/** A sink that keeps everything (small archives). */
function memorySink(): ByteSink & { bytes(): Uint8Array; closed: boolean; aborted: boolean } {
  const parts: Uint8Array[] = [];
  const sink = {
    closed: false,
    aborted: false,
    async write(chunk: Uint8Array) {
      parts.push(chunk.slice());
    },
    async close() {
      sink.closed = true;
    },
    async abort() {
      sink.aborted = true;
    },
    bytes() {
      return concat(parts);
    },
  };
  return sink;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(rng.uniform() * 256));
}

async function writeAll(entries: [string, Uint8Array, number][]): Promise<Uint8Array> {
  const sink = memorySink();
  const zip = new ZipStreamWriter(sink);
  for (const [name, bytes, chunk] of entries) {
    const e = await zip.entry(name);
    for (let at = 0; at < bytes.length; at += chunk) await e.write(bytes.subarray(at, Math.min(bytes.length, at + chunk)));
    await e.close();
  }
  const size = await zip.finish();
  expect(sink.closed).toBe(true);
  expect(size).toBe(sink.bytes().length);
  return sink.bytes();
}

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);
const u16 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint16(at, true);
const u64 = (b: Uint8Array, at: number) => u32(b, at) + u32(b, at + 4) * 2 ** 32;

describe('ZipStreamWriter', () => {
  it('running CRC-32 equals zip.ts crc32 for odd sizes and odd chunk splits', () => {
    for (const n of [0, 1, 7, 8, 9, 63, 1000, 4097]) {
      const bytes = randomBytes(n, n + 1);
      let crc = crcStart();
      for (let at = 0; at < n; at += 13) crc = crcUpdate(crc, bytes.subarray(at, at + 13));
      expect(crcEnd(crc)).toBe(crc32(bytes));
    }
    expect(crcEnd(crcUpdate(crcStart(), new TextEncoder().encode('123456789')))).toBe(0xcbf43926); // the standard check value
  });

  it('round-trips through the strict reader: empty, one byte, odd sizes, UTF-8 names, odd chunking', async () => {
    const entries: [string, Uint8Array, number][] = [
      ['empty.txt', new Uint8Array(0), 1],
      ['one.bin', Uint8Array.of(0xab), 1],
      ['model.safetensors', randomBytes(70_001, 2), 4093],
      ['dir/größe.json', new TextEncoder().encode('{"ü": 1}'), 3],
      ['tokenizer.json', randomBytes(65_537, 3), 65_537],
    ];
    const zip = await writeAll(entries);
    const read = readZip(zip, 'merged.zip');
    expect([...read.keys()]).toEqual(entries.map((e) => e[0]));
    for (const [name, bytes] of entries) expect(read.get(name)).toEqual(bytes);
  });

  it('puts CRC and sizes in a data descriptor after each entry (flag bit 3), zero in the local header', async () => {
    const data = randomBytes(1234, 5);
    const zip = await writeAll([['a.bin', data, 100], ['b.bin', Uint8Array.of(1, 2, 3), 2]]);
    // Local header of a.bin at 0.
    expect(u32(zip, 0)).toBe(0x04034b50);
    expect(u16(zip, 6) & 0x0008).toBe(0x0008);
    expect(u16(zip, 8)).toBe(0); // stored
    expect([u32(zip, 14), u32(zip, 18), u32(zip, 22)]).toEqual([0, 0, 0]);
    const dataStart = 30 + u16(zip, 26) + u16(zip, 28);
    expect(zip.subarray(dataStart, dataStart + data.length)).toEqual(data);
    const d = dataStart + data.length;
    expect([u32(zip, d), u32(zip, d + 4), u32(zip, d + 8), u32(zip, d + 12)]).toEqual([0x08074b50, crc32(data), 1234, 1234]);
    // The next local header follows the 16-byte descriptor.
    expect(u32(zip, d + 16)).toBe(0x04034b50);
    // A plain zip: no ZIP64 records.
    expect(zip.findIndex((_, i) => i + 4 <= zip.length && u32(zip, i) === 0x06064b50)).toBe(-1);
  });

  it('refuses a second open entry, a duplicate name and finishing with an entry open', async () => {
    const zip = new ZipStreamWriter(memorySink());
    const a = await zip.entry('a');
    await expect(zip.entry('b')).rejects.toThrow(/still open/);
    await expect(zip.finish()).rejects.toThrow(/still open/);
    await a.close();
    await expect(zip.entry('a')).rejects.toThrow(/twice/);
  });

  it('abort drops the output', async () => {
    const sink = memorySink();
    const zip = new ZipStreamWriter(sink);
    const e = await zip.entry('x');
    await e.write(Uint8Array.of(1));
    await e.abort!();
    expect(sink.aborted).toBe(true);
    expect(sink.closed).toBe(false);
  });

  it('switches to ZIP64 for an entry of 4 GiB + 7 bytes and for the entry after it', async () => {
    // Keeps the first 64 KiB and everything after the big entry's data; counts the rest.
    const HEAD = 1 << 16;
    let total = 0;
    const head = new Uint8Array(HEAD);
    const tail: Uint8Array[] = [];
    const BIG = 2 ** 32 + 7;
    let tailFrom = Infinity;
    const sink: ByteSink = {
      async write(chunk) {
        if (total < HEAD) head.set(chunk.subarray(0, HEAD - total), total);
        if (total >= tailFrom) tail.push(chunk.slice());
        total += chunk.byteLength;
      },
      async close() {},
    };
    const zip = new ZipStreamWriter(sink);
    const big = await zip.entry('big.bin');
    const zeros = new Uint8Array(64 << 20);
    for (let i = 0; i < 64; i++) await big.write(zeros);
    await big.write(new Uint8Array(7));
    tailFrom = total;
    await big.close();
    const small = await zip.entry('after.txt');
    await small.write(new TextEncoder().encode('hi'));
    await small.close();
    const size = await zip.finish();
    expect(size).toBe(total);
    const t = new Uint8Array(tail.reduce((n, p) => n + p.length, 0));
    tail.reduce((at, p) => (t.set(p, at), at + p.length), 0);
    const base = tailFrom; // file offset of t[0]
    // 24-byte ZIP64 descriptor right after the data.
    expect([u32(t, 0), u32(t, 4), u64(t, 8), u64(t, 16)]).toEqual([0x08074b50, 0x6522df69, BIG, BIG]);
    const smallOffset = base + 24;
    expect(u32(t, 24)).toBe(0x04034b50);
    // End record → locator → ZIP64 end record → central directory.
    const end = t.length - 22;
    expect(u32(t, end)).toBe(0x06054b50);
    expect(u32(t, end + 16)).toBe(0xffffffff);
    const locator = end - 20;
    expect(u32(t, locator)).toBe(0x07064b50);
    const z = u64(t, locator + 8) - base;
    expect(u32(t, z)).toBe(0x06064b50);
    expect([u64(t, z + 24), u64(t, z + 32)]).toEqual([2, 2]);
    const cd = u64(t, z + 48) - base;
    expect(u64(t, z + 40)).toBe(z - cd);
    // big.bin: sizes 0xFFFFFFFF in the record, the real ones in the ZIP64 extra; its offset fits.
    expect(u32(t, cd)).toBe(0x02014b50);
    expect([u16(t, cd + 6), u32(t, cd + 16), u32(t, cd + 20), u32(t, cd + 24), u32(t, cd + 42)]).toEqual([45, 0x6522df69, 0xffffffff, 0xffffffff, 0]);
    const x1 = cd + 46 + u16(t, cd + 28);
    expect([u16(t, x1), u16(t, x1 + 2), u64(t, x1 + 4), u64(t, x1 + 12)]).toEqual([1, 16, BIG, BIG]);
    // after.txt: small sizes in place, its offset (past 4 GiB) in the extra.
    const cd2 = x1 + 20;
    expect([u32(t, cd2), u32(t, cd2 + 16), u32(t, cd2 + 20), u32(t, cd2 + 42)]).toEqual([0x02014b50, crc32(new TextEncoder().encode('hi')), 2, 0xffffffff]);
    const x2 = cd2 + 46 + u16(t, cd2 + 28);
    expect([u16(t, x2), u16(t, x2 + 2), u64(t, x2 + 4)]).toEqual([1, 8, smallOffset]);
    expect(new TextDecoder().decode(head.subarray(30, 37))).toBe('big.bin');
  });
});
