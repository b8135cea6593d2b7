import type { MemoryCategory } from '../engine/arena.ts';
import type { Runtime } from '../engine/runtime.ts';
import { planRowChunks, writePadded } from '../engine/tensor.ts';
import { NESTED_BLOCK, NF4_BLOCK, nf4RowMultiple, STATS_NESTED_OFFSET, type Nf4Chunk, type Nf4Tensor } from './nf4_tensor.ts';

// Allocating an NF4 weight on the GPU in the layout of nf4_tensor.ts, and uploading one that was
// quantized on the CPU or read from a bitsandbytes checkpoint (src/formats/nf4.ts produces the
// same fields; kernels do not import formats, so the shape of that record is restated here).

/** A weight quantized on the host: exactly one of `absmax` and `nested` is set. */
export interface HostNf4Weight {
  shape: readonly number[];
  packed: Uint8Array;
  absmax: Float32Array | null;
  nested: { qabsmax: Uint8Array; absmax: Float32Array; offset: number; code: Float32Array } | null;
}

export interface RowRange {
  rowStart: number;
  rows: number;
}

/** The row ranges where chunks of two splittings of the same rows overlap, in row order. */
export function rowOverlaps(a: readonly RowRange[], b: readonly RowRange[]): { a: number; b: number; rowStart: number; rows: number }[] {
  const out: { a: number; b: number; rowStart: number; rows: number }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const start = Math.max(a[i].rowStart, b[j].rowStart);
    const endA = a[i].rowStart + a[i].rows;
    const endB = b[j].rowStart + b[j].rows;
    const end = Math.min(endA, endB);
    if (end > start) out.push({ a: i, b: j, rowStart: start, rows: end - start });
    if (endA <= endB) i++;
    else j++;
  }
  return out;
}

/** Bytes of the stats buffer: 4 unused bytes without DQ, else map + offset + padding + nested_absmax. */
export function nf4StatsBytes(rows: number, cols: number, doubleQuant: boolean): number {
  if (!doubleQuant) return 4;
  const groups = Math.ceil(Math.ceil((rows * cols) / NF4_BLOCK) / NESTED_BLOCK);
  return (STATS_NESTED_OFFSET + groups) * 4;
}

/**
 * Buffers for a [rows, cols] NF4 weight, split by rows into chunks of whole 64·256-element groups
 * when the packed bytes exceed one binding. With double quantization `nestedCode` (the 256-entry
 * map, §1.6) is written into `stats` now; the offset and nested_absmax are filled by the caller.
 */
export function createNf4Tensor(
  rt: Runtime,
  label: string,
  shape: readonly [number, number],
  nestedCode: Float32Array | null,
  category: MemoryCategory = 'base',
): Nf4Tensor {
  const [rows, cols] = shape;
  if (!(Number.isSafeInteger(rows) && Number.isSafeInteger(cols) && rows > 0 && cols > 0)) {
    throw new Error(`${label}: NF4 weights are 2-D with positive sizes, got ${JSON.stringify(shape)}`);
  }
  if (nestedCode && nestedCode.length !== 256) throw new Error(`${label}: the nested map has ${nestedCode.length} values, not 256`);
  const doubleQuant = nestedCode !== null;
  const counts = planRowChunks(label, rows, cols / 2, rt.arena.maxBindingBytes, nf4RowMultiple(cols));
  const chunks: Nf4Chunk[] = [];
  let rowStart = 0;
  for (const [i, chunkRows] of counts.entries()) {
    const n = chunkRows * cols;
    if (n >= 2 ** 32) throw new Error(`${label}: a chunk of ${n} elements does not fit 32-bit indices`);
    const name = counts.length === 1 ? label : `${label}[${i}]`;
    const blocks = Math.ceil(n / NF4_BLOCK);
    chunks.push({
      packed: rt.arena.createBuffer(`${name}.packed`, Math.ceil(n / 2), category),
      absmax: rt.arena.createBuffer(`${name}.absmax`, doubleQuant ? blocks : blocks * 4, category),
      rowStart,
      rows: chunkRows,
    });
    rowStart += chunkRows;
  }
  const stats = rt.arena.createBuffer(`${label}.stats`, nf4StatsBytes(rows, cols, doubleQuant), category);
  if (nestedCode) writePadded(rt.device, stats, 0, new Uint8Array(nestedCode.buffer, nestedCode.byteOffset, nestedCode.byteLength));
  return { label, shape: [rows, cols], doubleQuant, chunks, stats };
}

/** Uploads a host NF4 weight (any shape whose last dim is cols; viewed as [n / cols, cols]). */
export function uploadNf4(rt: Runtime, label: string, w: HostNf4Weight, category: MemoryCategory = 'base'): Nf4Tensor {
  const cols = w.shape[w.shape.length - 1];
  const n = w.shape.reduce((a, b) => a * b, 1);
  const rows = n / cols;
  const blocks = Math.ceil(n / NF4_BLOCK);
  if (w.packed.length !== Math.ceil(n / 2)) throw new Error(`${label}: ${w.packed.length} packed bytes for ${n} elements`);
  if ((w.nested ? w.nested.qabsmax.length : w.absmax!.length) !== blocks) throw new Error(`${label}: absmax does not have ${blocks} blocks`);
  const t = createNf4Tensor(rt, label, [rows, cols], w.nested ? w.nested.code : null, category);
  for (const chunk of t.chunks) {
    const e0 = chunk.rowStart * cols;
    const e1 = e0 + chunk.rows * cols;
    writePadded(rt.device, chunk.packed, 0, w.packed.subarray(e0 / 2, Math.ceil(e1 / 2)));
    const b0 = e0 / NF4_BLOCK;
    const b1 = Math.ceil(e1 / NF4_BLOCK);
    const bytes = w.nested ? w.nested.qabsmax.subarray(b0, b1) : new Uint8Array(w.absmax!.buffer, w.absmax!.byteOffset + b0 * 4, (b1 - b0) * 4);
    writePadded(rt.device, chunk.absmax, 0, bytes);
  }
  if (w.nested) {
    const tail = new Float32Array(STATS_NESTED_OFFSET - 256 + w.nested.absmax.length);
    tail[0] = w.nested.offset;
    tail.set(w.nested.absmax, STATS_NESTED_OFFSET - 256);
    rt.device.queue.writeBuffer(t.stats, 256 * 4, tail);
  }
  return t;
}

/** Releases every buffer of an NF4 weight. */
export function releaseNf4(rt: Runtime, t: Nf4Tensor): void {
  for (const c of t.chunks) {
    rt.arena.release(c.packed);
    rt.arena.release(c.absmax);
  }
  rt.arena.release(t.stats);
}
