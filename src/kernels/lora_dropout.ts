import source from '../../shaders/lora_dropout.wgsl?raw';
import type { KernelSpec } from '../engine/kernel.ts';
import type { BindingResource, Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import { requireCounts, requireElements, threadGrid } from './launch_checks.ts';

// Seeded dropout on the input of a LoRA pair (shaders/lora_dropout.wgsl, formats.md §2.1). The
// mask is never stored: element i of a (tokens, in) input is kept iff u32At(key, i) ≥ threshold
// (train/rng.ts's counter-based stream and dropoutThreshold rule), so the backward regenerates
// the same mask from the same key. Kept values are scaled by 1/(1 − p), as nn.Dropout does.
//   forward   xd  = dropout(x)            (accumulate: false)
//   backward  dx += dropout(dxd)          (accumulate: true; the mask is its own adjoint)
// Every target of every micro-batch needs its own mask: loraDropoutKey(seed, slot) gives the key.

const WG = 256;
const STREAM = 2 ** 32;

export const LORA_DROPOUT: KernelSpec = {
  name: 'lora_dropout',
  source,
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  uniforms: { n: 'u32', key: 'u32', threshold: 'u32', scale: 'f32' },
};

export interface LoraDropoutShape {
  /** Elements: tokens · in_features (must stay below 2^32, the length of one stream). */
  n: number;
  /** u32 stream key (loraDropoutKey). */
  key: number;
  /** Drop probability in (0, 1). */
  p: number;
  /** out += dropout(x) instead of out = dropout(x). */
  accumulate?: boolean;
}

/** floor(p·2^32), the same rule as train/rng.ts's dropoutThreshold (kept when u32 ≥ it). */
export function loraDropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`);
  return Math.floor(p * STREAM);
}

/**
 * The stream key of one LoRA target's mask in one micro-batch: `seed` is the micro-batch's u32
 * dropout seed (new for every micro-batch), `slot` names the target independently of which other
 * modules are targeted (layer · 7 + index in LINEAR_MODULES). Two lowbias32 rounds, so nearby
 * seeds and slots give unrelated streams.
 */
export function loraDropoutKey(seed: number, slot: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed >= STREAM) throw new RangeError(`dropout seed must be a u32, got ${seed}`);
  if (!Number.isInteger(slot) || slot < 0 || slot >= STREAM) throw new RangeError(`dropout slot must be a u32, got ${slot}`);
  return mix32((mix32((seed ^ 0x2545f491) >>> 0) + Math.imul(slot + 1, 0x9e3779b9)) >>> 0);
}

/** out = dropout(x), or out += dropout(x) with `accumulate`; x and out (n) must be different buffers. */
export function loraDropout(rt: Runtime, rec: Recorder, io: { x: BindingResource; out: BindingResource }, shape: LoraDropoutShape): void {
  const n = requireCounts('lora_dropout', { n: shape.n });
  if (n >= STREAM) throw new Error(`lora_dropout: ${n} elements run past the 2^32 numbers of one stream`);
  const threshold = loraDropoutThreshold(shape.p);
  if (!Number.isInteger(shape.key) || shape.key < 0 || shape.key >= STREAM) throw new RangeError(`lora_dropout: key must be a u32, got ${shape.key}`);
  requireElements('lora_dropout', 'x', io.x, n);
  requireElements('lora_dropout', 'out', io.out, n);
  rec.dispatch(rt.kernel(LORA_DROPOUT), {
    bindings: [io.x, io.out],
    uniforms: { n, key: shape.key, threshold, scale: 1 / (1 - shape.p) },
    workgroups: threadGrid(n, WG),
    overrides: { WG, ACCUMULATE: shape.accumulate ? 1 : 0 },
  });
}

/** lowbias32 (Wellons): a bijective u32 mixer. */
function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d);
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}
