import { afterEach, beforeAll, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { balanced, expectClose } from '../helpers/tolerance.ts';
import { attentionDecode as decodeRef, type AttentionDecodeShape } from '../reference/attention_decode.ts';
import { attentionForward as fullRef } from '../reference/attention.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { attentionDecode } from '../../src/kernels/attention_decode.ts';

// attention_decode against the float64 reference: one decode row and prefill chunks, GQA / MQA /
// MHA, odd head_dim, more keys than one 64-key tile, a cache longer than what is visible (with
// garbage past the last position, which must never be read), and scores pushed to ±1e4. One case
// also checks that the rows equal the tail of full causal attention.

interface Case {
  name: string;
  shape: AttentionDecodeShape;
  capacity: number;
  qkStd?: number;
}

const CASES: Case[] = [
  { name: 'one decode row, GQA 4:2, D = 8', shape: { rows: 1, start: 6, nHeads: 4, nKvHeads: 2, headDim: 8 }, capacity: 9 },
  { name: 'first token (start 0), MHA', shape: { rows: 1, start: 0, nHeads: 3, nKvHeads: 3, headDim: 12 }, capacity: 4 },
  { name: 'prefill chunk of 5 after 3, MQA 3:1, D = 7', shape: { rows: 5, start: 3, nHeads: 3, nKvHeads: 1, headDim: 7 }, capacity: 11 },
  { name: '150 visible keys over three tiles, D = 16', shape: { rows: 2, start: 148, nHeads: 2, nKvHeads: 1, headDim: 16 }, capacity: 160 },
  { name: 'scores near ±1e4', shape: { rows: 3, start: 4, nHeads: 2, nKvHeads: 2, headDim: 4 }, capacity: 7, qkStd: 50 },
];

let rt: Runtime;
beforeAll(async () => {
  if (!gpuMissing) rt = await gpuRuntime();
});
afterEach(() => rt?.arena.releaseAll());

const up = (label: string, data: Float32Array): GpuTensor => {
  const t = createTensor(rt.arena, label, 'f32', [data.length], 'scratch');
  uploadTensor(rt.device, t, data);
  return t;
};

describeGpu('attention_decode', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const { rows: M, start, nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
      const r = rng(M * 100 + start + D);
      const q = r.normalArray(M * H * D, c.qkStd ?? 1);
      // Positions past start + M hold huge values: reading any of them would show.
      const k = r.normalArray(c.capacity * Hkv * D, c.qkStd ?? 1).map((x, i) => (i >= (start + M) * Hkv * D ? 1e6 : x));
      const v = r.normalArray(c.capacity * Hkv * D).map((x, i) => (i >= (start + M) * Hkv * D ? 1e6 : x));
      const o = createTensor(rt.arena, 'o', 'f32', [M * H * D], 'scratch');
      await rt.run('decode', (rec) => attentionDecode(rt, rec, { q: up('q', q).buffer, kCache: up('k', k).buffer, vCache: up('v', v).buffer, o: o.buffer }, { ...c.shape, capacity: c.capacity }));
      const expected = decodeRef(c.shape, q, k, v);
      expectClose(await readF32(rt.device, o), expected, balanced, 'o', [M, H, D]);
    });
  }

  it('equals the last rows of full causal attention', () => {
    const shape = { rows: 3, start: 5, nHeads: 4, nKvHeads: 2, headDim: 6 };
    const T = shape.start + shape.rows;
    const r = rng(3);
    const [q, k, v] = [r.normalArray(T * 4 * 6), r.normalArray(T * 2 * 6), r.normalArray(T * 2 * 6)];
    const full = fullRef({ batch: 1, seqLen: T, nHeads: 4, nKvHeads: 2, headDim: 6 }, { q, k, v, segment: new Int32Array(T) }).o;
    const tail = decodeRef(shape, q.subarray(shape.start * 24), k, v);
    expectClose(tail, full.subarray(shape.start * 24), { name: 'float64', atol: 1e-12, rtol: 1e-12, reason: 'the same sums in float64' });
  });
});
