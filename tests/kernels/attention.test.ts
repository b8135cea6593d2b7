import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { balanced, expectClose, type Tolerance } from '../helpers/tolerance.ts';
import { attentionBackward as backwardRef, attentionForward as forwardRef } from '../reference/attention.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { attentionBackward, attentionForward, attentionTiles, type AttentionShape, type AttentionTiles } from '../../src/kernels/attention.ts';

// The attention kernels against the float64 reference: forward (O, lse) and backward (dQ, dK,
// dV) on odd and round shapes, GQA/MQA/MHA, packed segments with padding, several tile sizes
// (so tiles straddle segment and sequence ends), one token, everything padded, huge scores.

interface Case {
  name: string;
  shape: AttentionShape;
  segment?: number[];
  tiles?: AttentionTiles;
  /** Standard deviation of q and k (large values push the scores to ±1e4). */
  qkStd?: number;
  tol?: Tolerance;
}

/** Segment ids of one packed row of T tokens: runs of the given lengths numbered from `first`, then −1 padding. */
function packedRow(T: number, lengths: number[], first = 0): number[] {
  const row = lengths.flatMap((n, i) => new Array<number>(n).fill(first + i));
  if (row.length > T) throw new Error(`packedRow: lengths sum to ${row.length} > T = ${T}`);
  return [...row, ...new Array<number>(T - row.length).fill(-1)];
}

// Many short segments in a long row, where the kernels skip key tiles before the first query's
// segment (forward, dQ) and query tiles after the last key's segment (dK/dV): segments shorter
// and longer than the tiles, boundaries on and off tile boundaries, padding, a row with none.
const T_LONG = 67;
const LONG_ROWS = [
  packedRow(T_LONG, [5, 17, 3, 30]), // 55 tokens, then 12 of padding
  packedRow(T_LONG, [16, 16, 1, 2, 32], 1), // boundaries at 16 and 32: on 4-, 8- and 16-row tile edges
  packedRow(T_LONG, [1, 2, 3, 1, 4, 1, 2, 8, 1, 3, 2, 1, 5, 2, 1, 1, 6, 2, 1, 2, 3, 1, 2, 4], 3), // 59, then 8 of padding
];

const up = (rt: Runtime, label: string, data: Float32Array | Int32Array, dtype: 'f32' | 'i32' = 'f32'): GpuTensor => {
  const t = createTensor(rt.arena, label, dtype, [data.length], 'scratch');
  uploadTensor(rt.device, t, data);
  return t;
};

async function check(rt: Runtime, c: Case): Promise<void> {
  const { batch: B, seqLen: T, nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
  const r = rng(B * 1000 + T * 10 + D);
  const x = {
    q: r.normalArray(B * T * H * D, c.qkStd ?? 1),
    k: r.normalArray(B * T * Hkv * D, c.qkStd ?? 1),
    v: r.normalArray(B * T * Hkv * D),
    segment: Int32Array.from(c.segment ?? new Array<number>(B * T).fill(0)),
  };
  const dO = r.normalArray(B * T * H * D);
  const q = up(rt, 'q', x.q);
  const k = up(rt, 'k', x.k);
  const v = up(rt, 'v', x.v);
  const segment = up(rt, 'segment', x.segment, 'i32');
  const o = up(rt, 'o', new Float32Array(B * T * H * D).fill(NaN));
  const stats = up(rt, 'stats', new Float32Array(2 * B * H * T).fill(NaN));
  const d_o = up(rt, 'dO', dO);
  const dq = up(rt, 'dq', new Float32Array(B * T * H * D).fill(NaN));
  const dk = up(rt, 'dk', new Float32Array(B * T * Hkv * D).fill(NaN));
  const dv = up(rt, 'dv', new Float32Array(B * T * Hkv * D).fill(NaN));
  await rt.run(c.name, (rec) => {
    attentionForward(rt, rec, { q: q.buffer, k: k.buffer, v: v.buffer, segment: segment.buffer, o: o.buffer, stats: stats.buffer }, c.shape, c.tiles);
    attentionBackward(
      rt,
      rec,
      { q: q.buffer, k: k.buffer, v: v.buffer, o: o.buffer, dO: d_o.buffer, segment: segment.buffer, stats: stats.buffer, dq: dq.buffer, dk: dk.buffer, dv: dv.buffer },
      c.shape,
      c.tiles,
    );
  });
  const want = forwardRef(c.shape, x);
  const grads = backwardRef(c.shape, x, dO);
  const tol = c.tol ?? balanced;
  const got = await readF32(rt.device, stats);
  expectClose(await readF32(rt.device, o), want.o, tol, `${c.name}: O`, [B, T, H, D]);
  expectClose(got.subarray(0, B * H * T), want.lse, tol, `${c.name}: lse`, [B, H, T]);
  expectClose(await readF32(rt.device, dq), grads.dq, tol, `${c.name}: dQ`, [B, T, H, D]);
  expectClose(await readF32(rt.device, dk), grads.dk, tol, `${c.name}: dK`, [B, T, Hkv, D]);
  expectClose(await readF32(rt.device, dv), grads.dv, tol, `${c.name}: dV`, [B, T, Hkv, D]);
  rt.arena.releaseAll();
}

describeGpu('attention kernels', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterAll(() => rt.arena.releaseAll());

  it('picks tiles that fit the workgroup memory', () => {
    const t = attentionTiles(rt, 64);
    expect(t.bq).toBeGreaterThanOrEqual(1);
    expect(attentionTiles(rt, 256).bq).toBeLessThanOrEqual(t.bq);
  });

  const cases: Case[] = [
    { name: 'T=7 GQA g=2 D=8', shape: { batch: 1, seqLen: 7, nHeads: 4, nKvHeads: 2, headDim: 8 } },
    { name: 'T=7 GQA, 4×2 tiles', shape: { batch: 2, seqLen: 7, nHeads: 4, nKvHeads: 2, headDim: 8 }, tiles: { bq: 4, bk: 2 } },
    { name: 'T=7 MQA g=3 D=16, 2×4 tiles', shape: { batch: 1, seqLen: 7, nHeads: 3, nKvHeads: 1, headDim: 16 }, tiles: { bq: 2, bk: 4 } },
    { name: 'round T=32 MHA D=16, 8×8 tiles', shape: { batch: 2, seqLen: 32, nHeads: 2, nKvHeads: 2, headDim: 16 }, tiles: { bq: 8, bk: 8 } },
    // Small tiles: on SwiftShader, pipeline compile time grows with workgroup memory (Dawn's
    // zero-initialization of it), ~20 s for the 16×16 tiles at D = 64; the T=7 case above and
    // the degenerate ones below use the default tiles.
    { name: 'round T=32 GQA D=64, 4×4 tiles', shape: { batch: 1, seqLen: 32, nHeads: 4, nKvHeads: 2, headDim: 64 }, tiles: { bq: 4, bk: 4 } },
    {
      name: 'packed segments and padding, 4×4 tiles',
      shape: { batch: 2, seqLen: 9, nHeads: 2, nKvHeads: 1, headDim: 8 },
      segment: [0, 0, 0, 1, 1, 2, 2, 2, 2, 5, 5, 5, 5, 5, 5, -1, -1, -1],
      tiles: { bq: 4, bk: 4 },
    },
    ...(
      [
        [4, 4],
        [8, 2],
        [2, 8],
        [16, 16],
        [1, 4],
      ] as const
    ).map(([bq, bk]): Case => ({
      name: `T=67, many short packed segments, GQA g=2, ${bq}×${bk} tiles`,
      shape: { batch: 3, seqLen: T_LONG, nHeads: 4, nKvHeads: 2, headDim: 8 },
      segment: LONG_ROWS.flat(),
      tiles: { bq, bk },
    })),
    {
      name: 'T=67, many short packed segments, MQA g=3 D=16, 8×4 tiles',
      shape: { batch: 2, seqLen: T_LONG, nHeads: 3, nKvHeads: 1, headDim: 16 },
      segment: [...LONG_ROWS[2], ...LONG_ROWS[0]],
      tiles: { bq: 8, bk: 4 },
    },
    { name: 'one token', shape: { batch: 3, seqLen: 1, nHeads: 2, nKvHeads: 1, headDim: 8 } },
    { name: 'everything padded', shape: { batch: 1, seqLen: 5, nHeads: 2, nKvHeads: 2, headDim: 8 }, segment: [-1, -1, -1, -1, -1] },
    {
      // q, k ~ N(0, 60²): scores up to the order of ±1e4 at D = 8; softmax must stay finite.
      name: 'scores near ±1e4',
      shape: { batch: 1, seqLen: 7, nHeads: 2, nKvHeads: 1, headDim: 8 },
      qkStd: 60,
      tiles: { bq: 4, bk: 4 },
      tol: { name: 'extreme', atol: 1e-3, rtol: 1e-3, reason: 'scores of 1e4 carry f32 absolute error ≈ 1e-3 into exp' },
    },
  ];
  for (const c of cases) it(c.name, () => check(rt, c));
});
