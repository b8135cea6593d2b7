import source from '../../shaders/attention_decode.wgsl?raw';
import type { KernelSpec } from '../engine/kernel.ts';
import type { BindingResource, Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import { requireCounts, requireElements } from './launch_checks.ts';

// Attention of M new tokens against a KV cache (shaders/attention_decode.wgsl): generation's
// prefill chunks and its one-token decode steps. Causal by position: query row i (position
// start + i) sees cached positions 0 … start + i, which must already hold K (after RoPE) and V.
// Layout: q, o (M, H·D); kCache, vCache (capacity, Hkv·D), all f32. No lse is written: there is
// no backward.

export interface AttentionDecodeShape {
  /** New query rows M (1 per decode step). */
  rows: number;
  /** Position of the first new row; the cache holds positions 0 … start + rows − 1. */
  start: number;
  /** Positions the cache buffers hold. */
  capacity: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

const WG = 64;
/** Cached keys per tile: one score per thread. */
const BK = 64;

export const ATTENTION_DECODE: KernelSpec = {
  name: 'attention_decode',
  source,
  bindings: [
    { name: 'q', access: 'read' },
    { name: 'k_cache', access: 'read' },
    { name: 'v_cache', access: 'read' },
    { name: 'o', access: 'read_write' },
  ],
  uniforms: { rows: 'u32', start: 'u32', n_heads: 'u32', n_kv_heads: 'u32', scale: 'f32' },
};

/** o = softmax(scale·q·Kᵀ, causal by position)·V for each new row and head. */
export function attentionDecode(
  rt: Runtime,
  rec: Recorder,
  io: { q: BindingResource; kCache: BindingResource; vCache: BindingResource; o: BindingResource },
  shape: AttentionDecodeShape,
): void {
  const { rows, start, capacity, nHeads, nKvHeads, headDim } = shape;
  const name = ATTENTION_DECODE.name;
  requireCounts(name, { rows, start, capacity, nHeads, nKvHeads, headDim });
  if (rows < 1 || nHeads < 1 || nKvHeads < 1 || headDim < 1) throw new Error(`${name}: rows, heads and head_dim must be positive, got ${JSON.stringify(shape)}`);
  if (nHeads % nKvHeads !== 0) throw new Error(`${name}: n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  if (start + rows > capacity) throw new Error(`${name}: positions up to ${start + rows} do not fit a cache of ${capacity}`);
  if (rows > 65535 || nHeads > 65535) throw new Error(`${name}: ${rows} rows or ${nHeads} heads exceed 65535 workgroups`);
  requireElements(name, 'q', io.q, rows * nHeads * headDim);
  requireElements(name, 'o', io.o, rows * nHeads * headDim);
  requireElements(name, 'k_cache', io.kCache, capacity * nKvHeads * headDim);
  requireElements(name, 'v_cache', io.vCache, capacity * nKvHeads * headDim);
  rec.dispatch(rt.kernel(ATTENTION_DECODE), {
    bindings: [io.q, io.kCache, io.vCache, io.o],
    uniforms: { rows, start, n_heads: nHeads, n_kv_heads: nKvHeads, scale: headDim ** -0.5 },
    workgroups: [rows, nHeads],
    overrides: { WG, BK, HEAD_DIM: headDim },
  });
}
