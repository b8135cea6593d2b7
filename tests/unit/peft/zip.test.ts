import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../src/formats/crc32.ts';
import { readZip, writeZip, ZipFormatError } from '../../../src/formats/zip.ts';
import { Rng } from '../../helpers/rng.ts';

const text = (s: string) => new TextEncoder().encode(s);
const entries = () => [
  { name: 'adapter_config.json', bytes: text('{\n  "r": 8\n}'.repeat(50)) },
  { name: 'weights.bin', bytes: randomBytes(4000) },
  { name: 'empty.txt', bytes: new Uint8Array(0) },
];

/** Incompressible bytes, so the entry is stored. */
function randomBytes(n: number): Uint8Array {
  const rng = new Rng(1);
  return Uint8Array.from({ length: n }, () => rng.int(0, 256));
}

function corrupt(zip: Uint8Array, at: number, value: number): Uint8Array {
  const copy = zip.slice();
  copy[at] = value;
  return copy;
}

function hasUnzip(): boolean {
  try {
    execFileSync('unzip', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('zip', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(text('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('round-trips, deflating what compresses and storing what does not, deterministically', () => {
    const zip = writeZip(entries());
    expect(Buffer.from(writeZip(entries())).equals(Buffer.from(zip))).toBe(true);
    const back = readZip(zip, 'a.zip');
    expect([...back.keys()]).toEqual(['adapter_config.json', 'weights.bin', 'empty.txt']);
    for (const e of entries()) expect(Buffer.from(back.get(e.name)!).equals(Buffer.from(e.bytes)), e.name).toBe(true);
    const methods = readOffsets(zip).map((at) => new DataView(zip.buffer).getUint16(at + 8, true));
    expect(methods).toEqual([8, 0, 0]); // JSON deflated; random bytes and the empty file stored
  });

  it('reads what another zip writer made (fflate), including folders', () => {
    const other = zipSync({ 'my-adapter/': new Uint8Array(0), 'my-adapter/a.txt': text('hello hello hello'), 'b.bin': new Uint8Array([1, 2, 3]) }, { level: 9 });
    const back = readZip(other, 'x.zip');
    expect(new TextDecoder().decode(back.get('my-adapter/a.txt'))).toBe('hello hello hello');
    expect(back.get('b.bin')).toEqual(new Uint8Array([1, 2, 3]));
    expect(back.has('my-adapter/')).toBe(false);
  });

  it('only inflates accepted entries', () => {
    const back = readZip(writeZip(entries()), 'a.zip', { accept: (n) => n.endsWith('.json') });
    expect([...back.keys()]).toEqual(['adapter_config.json']);
  });

  it.runIf(hasUnzip())('is read by Info-ZIP unzip', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webtune-zip-'));
    await writeFile(join(dir, 'a.zip'), writeZip(entries()));
    expect(execFileSync('unzip', ['-t', join(dir, 'a.zip')]).toString()).toMatch(/No errors detected/);
  });

  it('names each kind of damage', () => {
    const zip = writeZip(entries());
    const err = (bytes: Uint8Array, opts = {}) => {
      try {
        readZip(bytes, 'bad.zip', opts);
      } catch (e) {
        expect(e).toBeInstanceOf(ZipFormatError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err(text('not a zip at all, just text that is long enough'))).toMatch(/^bad\.zip: is not a zip archive/);
    expect(err(zip.subarray(0, zip.length - 30))).toMatch(/not a zip archive/);
    // A flipped byte inside the stored weights: only the checksum can tell.
    const stored = 30 + 'adapter_config.json'.length;
    const weightsData = readOffsets(zip)[1] + 30 + 'weights.bin'.length + 10;
    expect(err(corrupt(zip, weightsData, zip[weightsData] ^ 1))).toMatch(/"weights\.bin" does not match its checksum/);
    expect(err(corrupt(zip, stored + 3, zip[stored + 3] ^ 0xff))).toMatch(/"adapter_config\.json" (does not match its checksum|cannot be decompressed)/);
    expect(err(zip, { maxEntryBytes: 100 })).toMatch(/unpacks to \d+ bytes, more than the 100 allowed/);
  });

  it('refuses sizes the compressed bytes cannot justify, and encryption', () => {
    const zip = writeZip([{ name: 'a.txt', bytes: text('x'.repeat(5000)) }]);
    const cd = centralOffset(zip);
    const lie = zip.slice();
    new DataView(lie.buffer).setUint32(cd + 24, 2 ** 31 - 2, true); // uncompressed size
    expect(() => readZip(lie, 'bomb.zip')).toThrow(/impossible/);
    const locked = zip.slice();
    new DataView(locked.buffer).setUint16(cd + 8, 0x0801, true);
    expect(() => readZip(locked, 'locked.zip')).toThrow(/encrypted/);
  });
});

function centralOffset(zip: Uint8Array): number {
  const view = new DataView(zip.buffer, zip.byteOffset);
  return view.getUint32(zip.length - 22 + 16, true);
}

/** Local header offsets of the entries, from the central directory. */
function readOffsets(zip: Uint8Array): number[] {
  const view = new DataView(zip.buffer, zip.byteOffset);
  const count = view.getUint16(zip.length - 22 + 10, true);
  const out: number[] = [];
  let at = centralOffset(zip);
  for (let i = 0; i < count; i++) {
    out.push(view.getUint32(at + 42, true));
    at += 46 + view.getUint16(at + 28, true);
  }
  return out;
}
