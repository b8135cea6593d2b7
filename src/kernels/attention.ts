import { withLibs, type KernelSpec } from '../engine/kernel.ts';
import type { BindingResource, Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import forwardSource from '../../shaders/attention_forward.wgsl?raw';
import dqSource from '../../shaders/attention_backward_dq.wgsl?raw';
import dkdvSource from '../../shaders/attention_backward_dkdv.wgsl?raw';
import mask from '../../shaders/lib/attention_mask.wgsl?raw';
import backward from '../../shaders/lib/attention_backward.wgsl?raw';

// Causal grouped-query attention (formats.md §4.3), flash-style: forward saves only O and the row
// logsumexp (B, H, T); backward recomputes the scores tile by tile. Two backward passes, dQ first
// (it also writes delta = rowsum(dO ∘ O)), then dK/dV per kv head summed over its q heads, so no
// pass needs atomics and results are deterministic.
//
// Segment ids (i32, one per token) make packed rows work: a token attends only to earlier-or-same
// positions with its own segment id. A negative id marks padding: the token attends to nothing
// (output row 0, lse 0, gradients 0) and nobody attends to it. For plain rows pass all zeros
// (rows are separate sequences anyway: attention never crosses the batch dimension). Each id must
// occupy one run of positions in its row (packing writes ascending ids, then the padding): the
// kernels find a segment's ends by binary search and skip the key/query tiles outside it.
//
// Layout: q, o, dO, dq (B·T, H·D); k, v, dk, dv (B·T, Hkv·D), all f32. `stats` (2, B, H, T) f32
// holds lse (written by forward, kept for backward) and delta (backward scratch) in one buffer, so
// no kernel binds more than the spec's default of 8 storage buffers. Every output row is
// written, so no output needs clearing.

export interface AttentionShape {
  batch: number;
  seqLen: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/** Query rows (bq) and key rows (bk) per workgroup tile. */
export interface AttentionTiles {
  bq: number;
  bk: number;
}

const WORKGROUP = 64;
const TILE_CANDIDATES = [16, 8, 4, 2, 1];

const uniforms = { batch: 'u32', seq_len: 'u32', n_heads: 'u32', n_kv_heads: 'u32', scale: 'f32' } as const;

const FORWARD: KernelSpec = {
  name: 'attention_forward',
  source: withLibs(forwardSource, mask),
  bindings: [
    { name: 'q', access: 'read' },
    { name: 'k', access: 'read' },
    { name: 'v', access: 'read' },
    { name: 'segment', access: 'read' },
    { name: 'o', access: 'read_write' },
    { name: 'stats', access: 'read_write' },
  ],
  uniforms,
};

const BACKWARD_DQ: KernelSpec = {
  name: 'attention_backward_dq',
  source: withLibs(dqSource, mask, backward),
  bindings: [
    { name: 'q', access: 'read' },
    { name: 'k', access: 'read' },
    { name: 'v', access: 'read' },
    { name: 'o', access: 'read' },
    { name: 'd_o', access: 'read' },
    { name: 'segment', access: 'read' },
    { name: 'stats', access: 'read_write' },
    { name: 'dq', access: 'read_write' },
  ],
  uniforms,
};

const BACKWARD_DKDV: KernelSpec = {
  name: 'attention_backward_dkdv',
  source: withLibs(dkdvSource, mask, backward),
  bindings: [
    { name: 'q', access: 'read' },
    { name: 'k', access: 'read' },
    { name: 'v', access: 'read' },
    { name: 'd_o', access: 'read' },
    { name: 'segment', access: 'read' },
    { name: 'stats', access: 'read' },
    { name: 'dk', access: 'read_write' },
    { name: 'dv', access: 'read_write' },
  ],
  uniforms,
};

/** f32 words of workgroup memory the largest of the three kernels (dK/dV) needs. */
export function attentionWorkgroupWords(tiles: AttentionTiles, headDim: number): number {
  const { bq, bk } = tiles;
  const words = [
    2 * bq * headDim + bk * headDim + bq * bk + 4 * bq + bk,
    3 * bq * headDim + 2 * bk * headDim + bq * bk + 4 * bq + bk,
    4 * bk * headDim + 2 * bq * headDim + 2 * bq * bk + 4 * bq + bk,
  ];
  return Math.max(...words);
}

/** The largest square tile whose workgroup memory fits the device. */
export function attentionTiles(rt: Runtime, headDim: number): AttentionTiles {
  const limit = rt.device.limits.maxComputeWorkgroupStorageSize;
  for (const t of TILE_CANDIDATES) {
    if (attentionWorkgroupWords({ bq: t, bk: t }, headDim) * 4 <= limit) return { bq: t, bk: t };
  }
  throw new Error(`attention: head_dim ${headDim} needs more workgroup memory than this device's ${limit} bytes`);
}

function check(shape: AttentionShape): void {
  const { batch, seqLen, nHeads, nKvHeads, headDim } = shape;
  if (![batch, seqLen, nHeads, nKvHeads, headDim].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error(`attention: every dimension must be a positive integer, got ${JSON.stringify(shape)}`);
  }
  if (nHeads % nKvHeads !== 0) throw new Error(`attention: n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  if (batch > 65535 || nHeads > 65535) throw new Error(`attention: batch ${batch} or heads ${nHeads} exceed 65535 workgroups`);
}

function launch(shape: AttentionShape, tiles: AttentionTiles) {
  return {
    uniforms: { batch: shape.batch, seq_len: shape.seqLen, n_heads: shape.nHeads, n_kv_heads: shape.nKvHeads, scale: shape.headDim ** -0.5 },
    overrides: { WG: WORKGROUP, BQ: tiles.bq, BK: tiles.bk, HEAD_DIM: shape.headDim },
  };
}

/** O and stats[0] = lse from q, k, v (after RoPE) and segment ids. */
export function attentionForward(
  rt: Runtime,
  rec: Recorder,
  io: { q: BindingResource; k: BindingResource; v: BindingResource; segment: BindingResource; o: BindingResource; stats: BindingResource },
  shape: AttentionShape,
  tiles: AttentionTiles = attentionTiles(rt, shape.headDim),
): void {
  check(shape);
  rec.dispatch(rt.kernel(FORWARD), {
    bindings: [io.q, io.k, io.v, io.segment, io.o, io.stats],
    workgroups: [Math.ceil(shape.seqLen / tiles.bq), shape.nHeads, shape.batch],
    ...launch(shape, tiles),
  });
}

/** dq, dk, dv (overwritten) from dO and what forward saved (o, stats[0]); writes stats[1]. */
export function attentionBackward(
  rt: Runtime,
  rec: Recorder,
  io: {
    q: BindingResource;
    k: BindingResource;
    v: BindingResource;
    o: BindingResource;
    dO: BindingResource;
    segment: BindingResource;
    stats: BindingResource;
    dq: BindingResource;
    dk: BindingResource;
    dv: BindingResource;
  },
  shape: AttentionShape,
  tiles: AttentionTiles = attentionTiles(rt, shape.headDim),
): void {
  check(shape);
  const common = launch(shape, tiles);
  rec.dispatch(rt.kernel(BACKWARD_DQ), {
    bindings: [io.q, io.k, io.v, io.o, io.dO, io.segment, io.stats, io.dq],
    workgroups: [Math.ceil(shape.seqLen / tiles.bq), shape.nHeads, shape.batch],
    ...common,
  });
  rec.dispatch(rt.kernel(BACKWARD_DKDV), {
    bindings: [io.q, io.k, io.v, io.dO, io.segment, io.stats, io.dk, io.dv],
    workgroups: [Math.ceil(shape.seqLen / tiles.bk), shape.nKvHeads, shape.batch],
    ...common,
  });
}
