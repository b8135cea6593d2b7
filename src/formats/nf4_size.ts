import { isQuantizedLinear } from './tensor_names.ts';

// Bytes a weight takes in bitsandbytes NF4 (formats.md §1.7, §1.8), blocksize 64:
//   packed nibbles  ceil(n/2)
//   absmax          one f32 per block, or with double quantization one u8 per block
//                   plus one f32 per 256 blocks (nested_absmax)
//   per tensor      quant_map (16 f32); with DQ also nested_quant_map (256 f32) and the f32 offset.

const BLOCKSIZE = 64;
const NESTED_BLOCKSIZE = 256;

export function nf4Bytes(numel: number, doubleQuant: boolean): number {
  const packed = Math.ceil(numel / 2);
  const blocks = Math.ceil(numel / BLOCKSIZE);
  const quantMap = 16 * 4;
  if (!doubleQuant) return packed + blocks * 4 + quantMap;
  const nested = Math.ceil(blocks / NESTED_BLOCKSIZE);
  return packed + blocks + nested * 4 + quantMap + 256 * 4 + 4;
}

/**
 * A whole base model in QLoRA form: the decoder-layer linear weights in NF4, everything else
 * (embeddings, norms, biases, lm_head) as stored.
 */
export function nf4ModelBytes(tensors: Iterable<{ name: string; numel: number; byteLength: number }>, doubleQuant = true): number {
  let total = 0;
  for (const t of tensors) total += isQuantizedLinear(t.name) ? nf4Bytes(t.numel, doubleQuant) : t.byteLength;
  return total;
}
