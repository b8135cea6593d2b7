import type { ByteSource } from './byte_source.ts';
import { toFloat32, type Dtype } from './dtype.ts';
import { SafetensorsFormatError, TensorMismatchError } from './errors.ts';
import { MAX_HEADER_SIZE, parseSafetensorsHeader, type TensorInfo } from './safetensors_header.ts';

// Lazy safetensors reader (formats.md §3). Opening reads only the 8-byte length and the header;
// each tensor's bytes are read when asked for, so peak memory is one tensor, not the file.

export type { TensorInfo } from './safetensors_header.ts';

export interface TensorData {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Exactly byteLength bytes; may share memory with the source (see ByteSource.read). */
  bytes: Uint8Array;
}

export class SafetensorsFile {
  private readonly byName: Map<string, TensorInfo>;

  constructor(
    readonly source: ByteSource,
    /** File offset of the data section: 8 + header length. */
    readonly dataOffset: number,
    readonly metadata: Record<string, string> | null,
    /** In data-section order. */
    readonly tensors: readonly TensorInfo[],
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  get name(): string {
    return this.source.name;
  }

  /** Tensor names in data-section order. */
  names(): string[] {
    return this.tensors.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new TensorMismatchError(this.name, name, 'is not in this file');
    return t;
  }

  /** Sum of all tensors' bytes (the data section). */
  get dataSize(): number {
    return this.source.size - this.dataOffset;
  }

  async readTensor(name: string): Promise<TensorData> {
    const t = this.info(name);
    const bytes = await this.source.read(this.dataOffset + t.begin, t.byteLength);
    return { name, dtype: t.dtype, shape: t.shape.slice(), bytes };
  }

  /** A F32/F16/BF16/F64 tensor decoded to float32. */
  async readFloat32(name: string): Promise<Float32Array> {
    const t = await this.readTensor(name);
    return tensorToFloat32(t, this.name);
  }
}

/** Decodes a float tensor to float32, naming the file and tensor if its dtype is not a float. */
export function tensorToFloat32(t: TensorData, file = 'tensor'): Float32Array {
  if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'F64') {
    throw new SafetensorsFormatError(file, t.name, `has dtype ${t.dtype}, expected a float dtype (F32, F16, BF16 or F64)`);
  }
  return toFloat32(t.dtype, t.bytes);
}

export async function openSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const file = source.name;
  if (source.size < 8) {
    throw new SafetensorsFormatError(file, null, `the file is ${source.size} bytes, too short for the 8-byte header length; this is not a safetensors file (or an empty download)`);
  }
  const prefix = await source.read(0, 8);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new SafetensorsFormatError(file, null, `the header length says ${n} bytes, over the ${MAX_HEADER_SIZE.toLocaleString('en-US')}-byte limit; this is not a safetensors file or it is corrupt`);
  }
  const headerLength = Number(n);
  if (8 + headerLength > source.size) {
    throw new SafetensorsFormatError(file, null, `the header length says ${headerLength} bytes but only ${source.size - 8} bytes follow it; the file is truncated or not safetensors — re-download it`);
  }
  const headerBytes = await source.read(8, headerLength);
  const dataOffset = 8 + headerLength;
  const header = parseSafetensorsHeader(file, headerBytes, source.size - dataOffset);
  return new SafetensorsFile(source, dataOffset, header.metadata, header.tensors);
}
