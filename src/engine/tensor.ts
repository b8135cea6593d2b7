import type { GpuArena, MemoryCategory } from './arena.ts';
import { BufferTooLargeError } from './errors.ts';

// A GPU tensor: row-major, possibly split by rows into several buffers when one binding could
// not hold it all (maxStorageBufferBindingSize is 128 MiB by default, 1–4 GiB on many laptops).
// Kernels that read a split tensor are dispatched once per chunk, with `rowStart` telling which
// rows a chunk holds. Most tensors have a single chunk.

export type GpuDtype = 'f32' | 'f16' | 'i32' | 'u32' | 'u8';

export const DTYPE_BYTES: Record<GpuDtype, number> = { f32: 4, f16: 2, i32: 4, u32: 4, u8: 1 };

export interface TensorChunk {
  buffer: GPUBuffer;
  /** First row (index along dim 0) held by this chunk. */
  rowStart: number;
  rows: number;
  byteLength: number;
}

export class GpuTensor {
  constructor(
    readonly label: string,
    readonly dtype: GpuDtype,
    readonly shape: readonly number[],
    readonly chunks: readonly TensorChunk[],
  ) {}

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    return this.chunks.reduce((a, c) => a + c.byteLength, 0);
  }

  /** The single buffer of an unsplit tensor; kernels that cannot handle chunks use this. */
  get buffer(): GPUBuffer {
    if (this.chunks.length !== 1) throw new Error(`${this.label} is split into ${this.chunks.length} chunks`);
    return this.chunks[0].buffer;
  }
}

export interface TensorOptions {
  /** Chunks must start at a multiple of this many rows (e.g. so NF4 blocks never straddle two). */
  rowMultiple?: number;
  /** Bytes of one row when it is not numel/rows × dtype size (packed formats). */
  rowBytes?: number;
  usage?: GPUBufferUsageFlags;
}

/** Rows per chunk so that each chunk fits one binding; a multiple of `rowMultiple`. */
export function planRowChunks(label: string, rows: number, rowBytes: number, limit: number, rowMultiple = 1): number[] {
  const perChunk = Math.floor(limit / rowBytes / rowMultiple) * rowMultiple;
  if (perChunk < 1) throw new BufferTooLargeError(label, rowBytes * rowMultiple, limit);
  const counts: number[] = [];
  for (let start = 0; start < rows || counts.length === 0; start += perChunk) counts.push(Math.min(perChunk, rows - start));
  return counts;
}

export function createTensor(
  arena: GpuArena,
  label: string,
  dtype: GpuDtype,
  shape: readonly number[],
  category: MemoryCategory,
  options: TensorOptions = {},
): GpuTensor {
  const numel = shape.reduce((a, b) => a * b, 1);
  const rows = shape.length > 0 ? shape[0] : 1;
  const rowBytes = options.rowBytes ?? (rows === 0 ? 0 : (numel / rows) * DTYPE_BYTES[dtype]);
  const counts = rowBytes === 0 ? [rows] : planRowChunks(label, rows, rowBytes, arena.maxBindingBytes, options.rowMultiple);
  const chunks: TensorChunk[] = [];
  let rowStart = 0;
  for (const [i, chunkRows] of counts.entries()) {
    const byteLength = Math.ceil(chunkRows * rowBytes);
    const name = counts.length === 1 ? label : `${label}[${i}]`;
    chunks.push({ buffer: arena.createBuffer(name, byteLength, category, options.usage), rowStart, rows: chunkRows, byteLength });
    rowStart += chunkRows;
  }
  return new GpuTensor(label, dtype, shape, chunks);
}

/** Uploads host data (the whole tensor, row-major) into its chunks. */
export function uploadTensor(device: GPUDevice, tensor: GpuTensor, data: ArrayBufferView): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength !== tensor.byteLength) {
    throw new Error(`${tensor.label}: upload of ${bytes.byteLength} bytes into a tensor of ${tensor.byteLength}`);
  }
  let offset = 0;
  for (const chunk of tensor.chunks) {
    writePadded(device, chunk.buffer, 0, bytes.subarray(offset, offset + chunk.byteLength));
    offset += chunk.byteLength;
  }
}

/** queue.writeBuffer needs a multiple of 4 bytes; pad the tail with zeros. */
export function writePadded(device: GPUDevice, buffer: GPUBuffer, offset: number, bytes: Uint8Array): void {
  if (bytes.byteLength % 4 === 0) {
    device.queue.writeBuffer(buffer, offset, bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return;
  }
  const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  padded.set(bytes);
  device.queue.writeBuffer(buffer, offset, padded);
}
