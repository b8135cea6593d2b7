import { WebtuneError } from '../errors.ts';
import { byteLengthOf, dtypeRank, isDtype, type Dtype } from './dtype.ts';

// Streaming safetensors writer, laid out like the reference writer (formats.md §3.4): compact
// JSON header with "__metadata__" first (always carrying "format": "pt", §3.5), padded with
// spaces to a multiple of 8 bytes, tensors sorted by descending dtype then name. The header is
// computed from the descriptors alone, so it goes out first and then each tensor's bytes as the
// caller produces them; the writer never holds more than the one tensor it is handed.

export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
}

export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Optional: discard a half-written file after an error (the Node sink deletes its .partial). */
  abort?(): Promise<void>;
}

export interface PlacedTensor extends TensorSpec {
  begin: number;
  end: number;
}

export interface SafetensorsLayout {
  /** The 8-byte length followed by the padded JSON header. */
  header: Uint8Array;
  /** Tensors in the order their bytes must be written. */
  order: PlacedTensor[];
  /** Header plus data: the file's size. */
  fileSize: number;
}

/** Raised for programming mistakes in what is handed to the writer, never for user files. */
export class SafetensorsWriteError extends WebtuneError {
  constructor(message: string) {
    super('safetensors_write', message);
  }
}

const encoder = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  // Rust sorts names by UTF-8 bytes; JS `<` compares UTF-16 units, which differs above U+FFFF.
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

export function layoutSafetensors(specs: readonly TensorSpec[], metadata: Record<string, string> = {}): SafetensorsLayout {
  const seen = new Set<string>();
  for (const s of specs) {
    if (s.name === '__metadata__' || seen.has(s.name)) throw new SafetensorsWriteError(`tensor name "${s.name}" is reserved or repeated`);
    seen.add(s.name);
    if (!isDtype(s.dtype)) throw new SafetensorsWriteError(`tensor "${s.name}": unknown dtype ${String(s.dtype)}`);
    if (!s.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsWriteError(`tensor "${s.name}": bad shape ${JSON.stringify(s.shape)}`);
  }
  const sorted = specs.slice().sort((a, b) => dtypeRank(b.dtype) - dtypeRank(a.dtype) || compareUtf8(a.name, b.name));
  const order: PlacedTensor[] = [];
  const entries: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata } };
  let offset = 0;
  for (const s of sorted) {
    const length = byteLengthOf(s.dtype, s.shape);
    if (length === null) throw new SafetensorsWriteError(`tensor "${s.name}": ${s.dtype} ${JSON.stringify(s.shape)} is not a whole number of bytes`);
    order.push({ name: s.name, dtype: s.dtype, shape: s.shape.slice(), begin: offset, end: offset + length });
    entries[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  const json = encoder.encode(JSON.stringify(entries));
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, order, fileSize: header.length + offset };
}

/** Writes one file: the header at creation, then `write` once per tensor in `order`, then `close`. */
export class SafetensorsWriter {
  private next = 0;

  private constructor(
    private readonly sink: ByteSink,
    readonly layout: SafetensorsLayout,
  ) {}

  static async create(sink: ByteSink, specs: readonly TensorSpec[], metadata?: Record<string, string>): Promise<SafetensorsWriter> {
    const layout = layoutSafetensors(specs, metadata);
    await sink.write(layout.header);
    return new SafetensorsWriter(sink, layout);
  }

  /** Names in the order `write` expects them. */
  get order(): string[] {
    return this.layout.order.map((t) => t.name);
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    const t = this.layout.order[this.next];
    if (!t || t.name !== name) throw new SafetensorsWriteError(`expected tensor "${t?.name ?? '(none left)'}" next, got "${name}"`);
    if (bytes.byteLength !== t.end - t.begin) throw new SafetensorsWriteError(`tensor "${name}": got ${bytes.byteLength} bytes, expected ${t.end - t.begin}`);
    this.next++;
    if (bytes.byteLength > 0) await this.sink.write(bytes);
  }

  async close(): Promise<void> {
    if (this.next !== this.layout.order.length) {
      throw new SafetensorsWriteError(`closed after ${this.next} of ${this.layout.order.length} tensors; "${this.layout.order[this.next].name}" is missing`);
    }
    await this.sink.close();
  }
}

/** Streams a whole file, asking `getBytes` for each tensor in layout order. */
export async function writeSafetensors(
  sink: ByteSink,
  specs: readonly TensorSpec[],
  getBytes: (spec: TensorSpec) => Promise<Uint8Array> | Uint8Array,
  metadata?: Record<string, string>,
): Promise<SafetensorsLayout> {
  try {
    const writer = await SafetensorsWriter.create(sink, specs, metadata);
    for (const t of writer.layout.order) await writer.write(t.name, await getBytes(t));
    await writer.close();
    return writer.layout;
  } catch (e) {
    await sink.abort?.();
    throw e;
  }
}

/** Whole file in memory: for adapters, tests and other small files. */
export function serializeSafetensors(tensors: readonly (TensorSpec & { bytes: Uint8Array })[], metadata?: Record<string, string>): Uint8Array {
  const layout = layoutSafetensors(tensors, metadata);
  const byName = new Map(tensors.map((t) => [t.name, t.bytes]));
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.header);
  for (const t of layout.order) {
    const bytes = byName.get(t.name)!;
    if (bytes.byteLength !== t.end - t.begin) throw new SafetensorsWriteError(`tensor "${t.name}": got ${bytes.byteLength} bytes, expected ${t.end - t.begin}`);
    out.set(bytes, layout.header.length + t.begin);
  }
  return out;
}

/** Collects everything written; `bytes()` after close. */
export function memorySink(): ByteSink & { bytes(): Uint8Array; closed: boolean } {
  const chunks: Uint8Array[] = [];
  const sink = {
    closed: false,
    async write(chunk: Uint8Array) {
      if (sink.closed) throw new SafetensorsWriteError('write after close');
      chunks.push(chunk.slice());
    },
    async close() {
      sink.closed = true;
    },
    bytes() {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.byteLength;
      }
      return out;
    },
  };
  return sink;
}
