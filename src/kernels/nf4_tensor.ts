// How an NF4 weight lives on the GPU (formats.md §1). The contract between the NF4 quantize /
// dequantize kernels, the fused NF4 matmuls and model loading.
//
// W is a Linear weight [rows = out_features, cols = in_features], flattened row-major into
// n = rows·cols elements, in blocks of 64 consecutive elements (blocks may cross rows when
// cols % 64 ≠ 0, exactly as bitsandbytes does).
//
// - `packed` holds the bitsandbytes bytes unchanged: byte i = (q[2i] << 4) | q[2i+1], the first
//   element in the HIGH nibble; read as array<u32> (little-endian), element e sits in word e>>3,
//   byte (e>>1)&3 of that word, high nibble when e is even. ceil(n/2) bytes, padded to 4.
// - `absmax` is per block: f32 without double quantization; with it, one u8 index per block into
//   the 8-bit dynamic code, packed 4 per u32 (block b in word b>>2, byte b&3).
// - `stats` (f32, shared by all chunks) holds the double-quantization state:
//   [0, 256) the dynamic code (nested_quant_map), [256] the offset (mean of absmax),
//   [257, 260) padding, [260, 260 + ceil(nBlocks/256)) nested_absmax. Without DQ it is 4 unused bytes.
//   absmax[b] = code8[q[b]] · nested_absmax[b >> 8] + offset.
//
// A tensor too large for one binding is split by rows into chunks holding whole groups of
// 64·256 elements (so no block, and no group of 256 blocks, straddles two chunks); a chunk's
// first global block index is rowStart·cols / 64.

export const NF4_BLOCK = 64;
export const NESTED_BLOCK = 256;
export const STATS_NESTED_OFFSET = 260;

export interface Nf4Chunk {
  packed: GPUBuffer;
  absmax: GPUBuffer;
  rowStart: number;
  rows: number;
}

export interface Nf4Tensor {
  label: string;
  /** [rows, cols] = [out_features, in_features] */
  shape: readonly [number, number];
  doubleQuant: boolean;
  chunks: readonly Nf4Chunk[];
  stats: GPUBuffer;
}

/** Rows per chunk must be a multiple of this, so chunks hold whole 64·256-element groups. */
export function nf4RowMultiple(cols: number): number {
  const group = NF4_BLOCK * NESTED_BLOCK;
  return group / gcd(cols, group);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
