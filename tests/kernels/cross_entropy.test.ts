import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { balanced, expectClose, type Tolerance } from '../helpers/tolerance.ts';
import { countTrained, crossEntropyBackward, crossEntropyForward } from '../reference/cross_entropy.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { crossEntropy, crossEntropySum } from '../../src/kernels/cross_entropy.ts';

// The chunked cross-entropy against the float64 reference: per-token losses, dlogits written in
// place chunk by chunk (chunks that split a sequence, so the shift crosses a chunk boundary),
// the loss accumulator, -100, logits of ±1e4, everything ignored, one token, loss-only mode.

interface Case {
  name: string;
  batch: number;
  seqLen: number;
  vocab: number;
  /** Rows per chunk (the last chunk may be shorter). */
  chunkRows: number;
  labels?: number[];
  logits?: (r: ReturnType<typeof rng>) => number;
  shift?: boolean;
  lossOnly?: boolean;
  tol?: Tolerance;
}

const extreme: Tolerance = { name: 'extreme', atol: 4e-3, rtol: 1e-4, reason: 'lse − z of two ~1e4 f32 values keeps ~1e-3 absolute error' };

const up = (rt: Runtime, label: string, data: Float32Array | Int32Array, dtype: 'f32' | 'i32' = 'f32'): GpuTensor => {
  const t = createTensor(rt.arena, label, dtype, [data.length], 'scratch');
  uploadTensor(rt.device, t, data);
  return t;
};

async function check(rt: Runtime, c: Case): Promise<void> {
  const { batch: B, seqLen: T, vocab: V, chunkRows } = c;
  const rows = B * T;
  const r = rng(rows * 31 + V);
  const logits = Float32Array.from({ length: rows * V }, () => (c.logits ? c.logits(r) : r.normal(0, 3)));
  const labels = Int32Array.from(c.labels ?? Array.from({ length: rows }, () => (r.uniform() < 0.25 ? -100 : r.int(0, V))));
  const shift = c.shift ?? true;
  const n = countTrained(labels, rows, V, T, shift);
  const scale = 1 / Math.max(n, 1);

  const labelsT = up(rt, 'labels', labels, 'i32');
  const rowLoss = up(rt, 'row_loss', new Float32Array(rows).fill(NaN));
  const lossSum = up(rt, 'loss_sum', Float32Array.of(0.5));
  const chunks: { start: number; rows: number; buffer: GpuTensor }[] = [];
  for (let start = 0; start < rows; start += chunkRows) {
    const m = Math.min(chunkRows, rows - start);
    chunks.push({ start, rows: m, buffer: up(rt, `logits[${start}]`, logits.slice(start * V, (start + m) * V)) });
  }
  await rt.run(c.name, (rec) => {
    for (const ch of chunks) {
      crossEntropy(
        rt,
        rec,
        { logits: ch.buffer.buffer, labels: labelsT.buffer, rowLoss: rowLoss.buffer },
        { rows: ch.rows, vocab: V, rowStart: ch.start, seqLen: T },
        { shift, gradScale: c.lossOnly ? undefined : scale },
      );
    }
    crossEntropySum(rt, rec, { rowLoss: rowLoss.buffer, lossSum: lossSum.buffer }, rows);
  });

  const tol = c.tol ?? balanced;
  const wantLoss = crossEntropyForward(logits, labels, rows, V, T, shift);
  expectClose(await readF32(rt.device, rowLoss), wantLoss, tol, `${c.name}: per-token loss`);
  const total = wantLoss.reduce((a, b) => a + b, 0);
  expectClose(await readF32(rt.device, lossSum), [0.5 + total], { ...tol, rtol: 1e-5 }, `${c.name}: loss sum`);
  const wantGrad = c.lossOnly ? logits : crossEntropyBackward(logits, labels, rows, V, T, scale, shift);
  for (const ch of chunks) {
    const got = await readF32(rt.device, ch.buffer);
    expectClose(got, wantGrad.slice(ch.start * V, (ch.start + ch.rows) * V), c.lossOnly ? { ...balanced, atol: 0, rtol: 0 } : balanced, `${c.name}: dlogits of chunk at ${ch.start}`, [ch.rows, V]);
  }
  rt.arena.releaseAll();
}

describeGpu('cross-entropy kernels', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterAll(() => rt.arena.releaseAll());

  const cases: Case[] = [
    { name: 'V=97, T=7, chunks of 5 rows splitting sequences', batch: 2, seqLen: 7, vocab: 97, chunkRows: 5 },
    { name: 'round V=256, already shifted labels', batch: 2, seqLen: 4, vocab: 256, chunkRows: 8, shift: false },
    { name: 'V=1000 > workgroup, one chunk', batch: 1, seqLen: 5, vocab: 1000, chunkRows: 5 },
    {
      name: 'logits of ±1e4',
      batch: 1,
      seqLen: 7,
      vocab: 97,
      chunkRows: 4,
      logits: (r) => [1e4, -1e4, 0, 9999.5, -9999][r.int(0, 5)],
      tol: extreme,
    },
    { name: 'everything ignored', batch: 2, seqLen: 3, vocab: 11, chunkRows: 6, labels: [-100, -100, -100, -100, -100, -100] },
    { name: 'one token: nothing to predict after the shift', batch: 1, seqLen: 1, vocab: 13, chunkRows: 1, labels: [4] },
    { name: 'one token, already shifted', batch: 1, seqLen: 1, vocab: 13, chunkRows: 1, labels: [4], shift: false },
    { name: 'out-of-range labels are ignored', batch: 1, seqLen: 4, vocab: 9, chunkRows: 4, labels: [1, 9, -5, 3], shift: false },
    { name: 'loss only leaves the logits alone', batch: 1, seqLen: 6, vocab: 97, chunkRows: 3, lossOnly: true },
  ];
  for (const c of cases) it(c.name, () => check(rt, c));

  it('the per-token losses of the ±1e4 case are finite', async () => {
    const labels = Int32Array.of(0, 2, 2);
    const logits = Float32Array.of(1e4, -1e4, -1e4, 1e4, -1e4, 1e4, -1e4, -1e4, -1e4);
    const lt = up(rt, 'logits', logits);
    const rowLoss = up(rt, 'row_loss', new Float32Array(3));
    await rt.run('finite', (rec) =>
      crossEntropy(rt, rec, { logits: lt.buffer, labels: up(rt, 'labels', labels, 'i32').buffer, rowLoss: rowLoss.buffer }, { rows: 3, vocab: 3, rowStart: 0, seqLen: 3 }, { shift: false, gradScale: 1 }),
    );
    const loss = await readF32(rt.device, rowLoss);
    expect(Array.from(loss).every(Number.isFinite)).toBe(true);
    expect(loss[0]).toBe(0);
    expect(loss[1]).toBeCloseTo(Math.LN2, 3);
    expect(loss[2]).toBeCloseTo(Math.log(3), 3);
    rt.arena.releaseAll();
  });
});
