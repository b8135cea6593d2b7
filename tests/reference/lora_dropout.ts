import { dropoutMask } from '../../src/train/rng.ts';

// LoRA dropout reference (formats.md §2.1: nn.Dropout on the input of lora_A only), built on the
// product's keep rule in train/rng.ts so the GPU kernel and the CPU agree on every kept element:
// element i of a mask of stream `key` is kept iff u32At(key, i) ≥ floor(p·2^32).

/** The mask as nn.Dropout applies it: 1/(1 − p) where kept, 0 where dropped; (n) float64. */
export function loraDropoutMaskRef(key: number, p: number, n: number): Float64Array {
  const keep = dropoutMask(key, p, n);
  const scale = 1 / (1 - p);
  const mask = new Float64Array(n);
  for (let i = 0; i < n; i++) mask[i] = keep[i] ? scale : 0;
  return mask;
}

/** xd = x ⊙ mask (forward); the backward is the same product applied to dxd. */
export function loraDropoutRef(x: ArrayLike<number>, mask: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * mask[i];
  return out;
}
