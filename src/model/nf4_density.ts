import { NESTED_BLOCK, NF4_BLOCK } from '../kernels/nf4_tensor.ts';

// Bytes an NF4 weight of n elements needs (formats.md §1.7): packed nibbles, then one f32 absmax
// per 64-block, or with double quantization one u8 code per block + one f32 per 256 blocks + the
// f32 offset. The two code tables (16 and 256 floats) are constants shared by every weight and
// are not counted: with them, a bitsandbytes checkpoint stores 1,088 more bytes per weight.
export function nf4StorageBytes(n: number, doubleQuant: boolean): number {
  const blocks = Math.ceil(n / NF4_BLOCK);
  const packed = Math.ceil(n / 2);
  if (!doubleQuant) return packed + 4 * blocks;
  return packed + blocks + 4 * Math.ceil(blocks / NESTED_BLOCK) + 4;
}
