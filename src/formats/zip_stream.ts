import { crcEnd, crcStart, crcUpdate } from './crc32.ts';
import { concat, header } from './zip_records.ts';
import type { ByteSink } from './safetensors_writer.ts';

// A ZIP archive written as a stream (PKWARE APPNOTE 6.3), for merged models far larger than
// memory: each entry's bytes pass straight through to the output sink, stored (method 0: weights
// barely compress), with the CRC-32 computed on the fly. Sizes and CRC are not known when the
// local header goes out, so every entry sets flag bit 3 and is followed by a data descriptor.
//
// ZIP64 only where a value does not fit 32 bits, as Go's archive/zip and client-zip do: an entry
// of 4 GiB or more gets a 24-byte descriptor (8-byte sizes) and a ZIP64 extra field (0x0001) in its
// central-directory record, as does an entry whose local header starts past 4 GiB; the ZIP64 end
// record and locator are written when the directory's offset, size or entry count overflow. An
// archive of small files is therefore a plain zip (zip.ts's reader reads it). Names are UTF-8
// (flag bit 11); timestamps are fixed at 1980-01-01 00:00 like zip.ts's, so output is deterministic.

const LOCAL = 0x04034b50;
const DESCRIPTOR = 0x08074b50;
const CENTRAL = 0x02014b50;
const ZIP64_END = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const END = 0x06054b50;
const FLAGS = 0x0008 | 0x0800; // sizes in a data descriptor; UTF-8 names
const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

interface Written {
  name: Uint8Array;
  offset: number;
  crc: number;
  size: number;
}

export class ZipStreamWriter {
  #offset = 0;
  #entries: Written[] = [];
  #names = new Set<string>();
  #open = false;
  #done = false;

  constructor(private readonly out: ByteSink) {}

  /** Bytes written to the output so far (the archive's size once finished). */
  get bytes(): number {
    return this.#offset;
  }

  /** Entries finished so far, in order. */
  get names(): string[] {
    return this.#entries.map((e) => new TextDecoder().decode(e.name));
  }

  /** Starts entry `name` ("/"-separated); write its bytes to the sink returned and close it before the next. */
  async entry(name: string): Promise<ByteSink> {
    if (this.#done) throw new RangeError('the zip is finished; no entry can be added');
    if (this.#open) throw new RangeError(`zip entry "${name}" started while another is still open`);
    if (this.#names.has(name)) throw new RangeError(`zip entry "${name}" given twice`);
    const encoded = new TextEncoder().encode(name);
    if (encoded.length > U16_MAX) throw new RangeError(`zip entry name is ${encoded.length} bytes, more than 65535`);
    this.#names.add(name);
    this.#open = true;
    const local = header(LOCAL, 30);
    local.setUint16(4, 20, true); // version needed 2.0; ZIP64 needs are stated in the central directory
    local.setUint16(6, FLAGS, true);
    local.setUint16(12, DOS_DATE_1980_01_01, true);
    local.setUint16(26, encoded.length, true);
    // CRC and sizes stay 0 here (flag bit 3): the descriptor after the data carries them.
    const entry: Written = { name: encoded, offset: this.#offset, crc: 0, size: 0 };
    await this.#write(concat([bytesOf(local), encoded]));
    let crc = crcStart();
    let closed = false;
    return {
      write: async (chunk) => {
        if (closed) throw new RangeError(`zip entry "${name}" written after close`);
        crc = crcUpdate(crc, chunk);
        entry.size += chunk.byteLength;
        await this.#write(chunk);
      },
      close: async () => {
        if (closed) return;
        closed = true;
        entry.crc = crcEnd(crc);
        const big = entry.size >= U32_MAX;
        const d = header(DESCRIPTOR, big ? 24 : 16);
        d.setUint32(4, entry.crc, true);
        if (big) {
          setU64(d, 8, entry.size);
          setU64(d, 16, entry.size);
        } else {
          d.setUint32(8, entry.size, true);
          d.setUint32(12, entry.size, true);
        }
        await this.#write(bytesOf(d));
        this.#entries.push(entry);
        this.#open = false;
      },
      abort: () => this.abort(),
    };
  }

  /** Writes the central directory and end records and closes the output; returns the archive's size. */
  async finish(): Promise<number> {
    if (this.#open) throw new RangeError('finish() called while a zip entry is still open');
    if (this.#done) return this.#offset;
    this.#done = true;
    const cdOffset = this.#offset;
    for (const e of this.#entries) await this.#write(centralRecord(e));
    const cdSize = this.#offset - cdOffset;
    const count = this.#entries.length;
    if (count >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX) {
      const zip64End = this.#offset;
      const z = header(ZIP64_END, 56);
      setU64(z, 4, 44); // size of the rest of this record
      z.setUint16(12, 45, true);
      z.setUint16(14, 45, true);
      setU64(z, 24, count);
      setU64(z, 32, count);
      setU64(z, 40, cdSize);
      setU64(z, 48, cdOffset);
      const locator = header(ZIP64_LOCATOR, 20);
      setU64(locator, 8, zip64End);
      locator.setUint32(16, 1, true); // one disk
      await this.#write(concat([bytesOf(z), bytesOf(locator)]));
    }
    const end = header(END, 22);
    end.setUint16(8, Math.min(count, U16_MAX), true);
    end.setUint16(10, Math.min(count, U16_MAX), true);
    end.setUint32(12, Math.min(cdSize, U32_MAX), true);
    end.setUint32(16, Math.min(cdOffset, U32_MAX), true);
    await this.#write(bytesOf(end));
    await this.out.close();
    return this.#offset;
  }

  /** Drops the output (after an error or a cancel). */
  async abort(): Promise<void> {
    this.#done = true;
    await this.out.abort?.();
  }

  async #write(bytes: Uint8Array): Promise<void> {
    await this.out.write(bytes);
    this.#offset += bytes.byteLength;
  }
}

/** One central-directory record, with a ZIP64 extra field for whatever overflows 32 bits. */
function centralRecord(e: Written): Uint8Array {
  const big = e.size >= U32_MAX;
  const far = e.offset >= U32_MAX;
  const extra: number[] = [];
  if (big) extra.push(e.size, e.size); // uncompressed, then compressed (stored: equal)
  if (far) extra.push(e.offset);
  const x = extra.length ? new DataView(new ArrayBuffer(4 + 8 * extra.length)) : null;
  if (x) {
    x.setUint16(0, 0x0001, true);
    x.setUint16(2, 8 * extra.length, true);
    extra.forEach((v, i) => setU64(x, 4 + 8 * i, v));
  }
  const version = x ? 45 : 20;
  const cd = header(CENTRAL, 46);
  cd.setUint16(4, version, true); // made by: MS-DOS attributes
  cd.setUint16(6, version, true);
  cd.setUint16(8, FLAGS, true);
  cd.setUint16(14, DOS_DATE_1980_01_01, true);
  cd.setUint32(16, e.crc, true);
  cd.setUint32(20, big ? U32_MAX : e.size, true);
  cd.setUint32(24, big ? U32_MAX : e.size, true);
  cd.setUint16(28, e.name.length, true);
  cd.setUint16(30, x ? x.byteLength : 0, true);
  cd.setUint32(42, far ? U32_MAX : e.offset, true);
  return concat([bytesOf(cd), e.name, ...(x ? [bytesOf(x)] : [])]);
}

/** Little-endian u64 of a safe integer (sizes stay far below 2^53). */
function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % 2 ** 32, true);
  view.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
}

function bytesOf(view: DataView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
