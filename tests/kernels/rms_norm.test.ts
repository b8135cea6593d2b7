import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { balanced, expectClose } from '../helpers/tolerance.ts';
import { rmsNormBackward as rmsNormBackwardRef, rmsNormForward as rmsNormForwardRef } from '../reference/rms_norm.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { RMS_NORM_FORWARD, rmsNormBackward, rmsNormForward } from '../../src/kernels/rms_norm.ts';

// RMSNorm forward and backward on the GPU against the float64 reference: odd and round widths,
// widths above and below one workgroup, one token, Qwen3-style per-head rows, extreme scales.

interface Case {
  rows: number;
  cols: number;
  eps?: number;
  /** Standard deviation of x; outputs are compared after undoing it so that tolerances stay O(1). */
  scale?: number;
  /** Rows of x that are all zeros. */
  zeroRows?: number[];
}

let rt: Runtime;

const up = (label: string, shape: number[], data: Float32Array): GpuTensor => {
  const t = createTensor(rt.arena, label, 'f32', shape, 'scratch');
  uploadTensor(rt.device, t, data);
  return t;
};

const scaled = (a: ArrayLike<number>, k: number): Float64Array => Float64Array.from(a, (v) => v * k);

async function check(c: Case, seed: number, accumulate = false): Promise<void> {
  const { rows, cols, eps = 1e-5, scale = 1 } = c;
  const r = rng(seed);
  const x = r.normalArray(rows * cols, scale);
  for (const z of c.zeroRows ?? []) x.fill(0, z * cols, (z + 1) * cols);
  const weight = r.normalArray(cols, 0.5, 1);
  const dy = r.normalArray(rows * cols);
  const oldDx = r.normalArray(rows * cols);
  const what = `rows=${rows} cols=${cols} scale=${scale}`;

  const xT = up('x', [rows, cols], x);
  const wT = up('weight', [cols], weight);
  const yT = up('y', [rows, cols], new Float32Array(rows * cols).fill(NaN));
  const rstdT = up('rstd', [rows], new Float32Array(rows).fill(NaN));
  const dyT = up('dy', [rows, cols], dy);
  const dxT = up('dx', [rows, cols], accumulate ? oldDx : new Float32Array(rows * cols).fill(NaN));
  await rt.run('rms_norm', (rec) => {
    rmsNormForward(rt, rec, { x: xT.buffer, weight: wT.buffer, y: yT.buffer, rstd: rstdT.buffer }, { rows, cols, eps });
    rmsNormBackward(rt, rec, { dy: dyT.buffer, x: xT.buffer, weight: wT.buffer, rstd: rstdT.buffer, dx: dxT.buffer }, { rows, cols, accumulate });
  });

  const ref = rmsNormForwardRef(x, weight, { rows, cols, eps });
  const dxRef = rmsNormBackwardRef(dy, x, weight, ref.rstd, { rows, cols });
  if (accumulate) dxRef.forEach((v, i) => (dxRef[i] = v + oldDx[i]));
  expectClose(await readF32(rt.device, yT), ref.y, balanced, `y ${what}`, [rows, cols]);
  // rstd ~ 1/scale and dx ~ 1/scale: compare them in units of 1/scale.
  expectClose(scaled(await readF32(rt.device, rstdT), scale), scaled(ref.rstd, scale), balanced, `rstd ${what}`, [rows]);
  const k = accumulate ? 1 : scale;
  expectClose(scaled(await readF32(rt.device, dxT), k), scaled(dxRef, k), balanced, `dx ${what}`, [rows, cols]);
  rt.arena.releaseAll();
}

describeGpu('rms_norm kernels', () => {
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterAll(() => rt.arena.releaseAll());

  it('match the reference on odd and round shapes', async () => {
    await check({ rows: 7, cols: 96 }, 1);
    await check({ rows: 4, cols: 64, eps: 1e-6 }, 2);
    await check({ rows: 3, cols: 1000 }, 3); // several columns per thread
    await check({ rows: 5, cols: 576 }, 4); // SmolLM2 hidden size
  });

  it('serve per-head norms (Qwen3 q_norm / k_norm): rows = tokens·heads, cols = head_dim', async () => {
    await check({ rows: 7 * 3, cols: 16, eps: 1e-6 }, 5);
    await check({ rows: 7 * 2, cols: 8, eps: 1e-6 }, 6);
  });

  it('handle one token, one column, zero rows and extreme scales', async () => {
    await check({ rows: 1, cols: 96 }, 7);
    await check({ rows: 3, cols: 1 }, 8);
    await check({ rows: 4, cols: 96, zeroRows: [0, 2] }, 9);
    await check({ rows: 3, cols: 96, scale: 1e4 }, 10);
    await check({ rows: 3, cols: 96, scale: 1e-4 }, 11); // eps dominates the mean square
  });

  it('backward accumulates into dx when asked', async () => {
    await check({ rows: 7, cols: 96 }, 12, true);
    await check({ rows: 2, cols: 13 }, 13, true);
  });

  it('indexes rows over a 2-D grid (what grid() gives past 65535 rows)', async () => {
    // A real split needs 65536 rows (seconds on SwiftShader); the same indexing on 3 × 2 is cheap.
    const [rows, cols, eps] = [6, 40, 1e-5];
    const r = rng(14);
    const x = r.normalArray(rows * cols);
    const weight = r.normalArray(cols);
    const yT = up('y', [rows, cols], new Float32Array(rows * cols).fill(NaN));
    const rstdT = up('rstd', [rows], new Float32Array(rows));
    await rt.run('grid', (rec) =>
      rec.dispatch(rt.kernel(RMS_NORM_FORWARD), {
        bindings: [up('x', [rows, cols], x).buffer, up('weight', [cols], weight).buffer, yT.buffer, rstdT.buffer],
        uniforms: { rows, cols, eps },
        workgroups: [3, 2],
        overrides: { WG: 64 },
      }),
    );
    expectClose(await readF32(rt.device, yT), rmsNormForwardRef(x, weight, { rows, cols, eps }).y, balanced, 'y on a 3 × 2 grid', [rows, cols]);
    rt.arena.releaseAll();
  });

  it('takes bindings at an offset and refuses short buffers', async () => {
    const [rows, cols] = [2, 96];
    const r = rng(15);
    const x = r.normalArray(rows * cols);
    const weight = r.normalArray(cols);
    // x lives 64 values (256 bytes, the offset alignment) into a larger buffer.
    const padded = new Float32Array(64 + rows * cols);
    padded.set(x, 64);
    const xT = up('x', [padded.length], padded);
    const wT = up('weight', [cols], weight);
    const yT = up('y', [rows, cols], new Float32Array(rows * cols));
    const rstdT = up('rstd', [rows], new Float32Array(rows));
    await rt.run('offset', (rec) => {
      rmsNormForward(rt, rec, { x: { buffer: xT.buffer, offset: 256, size: rows * cols * 4 }, weight: wT.buffer, y: yT.buffer, rstd: rstdT.buffer }, { rows, cols, eps: 1e-5 });
    });
    expectClose(await readF32(rt.device, yT), rmsNormForwardRef(x, weight, { rows, cols, eps: 1e-5 }).y, balanced, 'y at offset');
    const rec = rt.recorder('short');
    expect(() => rmsNormForward(rt, rec, { x: xT.buffer, weight: wT.buffer, y: yT.buffer, rstd: rstdT.buffer }, { rows: 3, cols, eps: 1e-5 })).toThrow(/x holds 1024 bytes, needs 1152/);
    expect(() => rmsNormForward(rt, rec, { x: xT.buffer, weight: wT.buffer, y: yT.buffer, rstd: rstdT.buffer }, { rows, cols: 97, eps: 1e-5 })).toThrow(/weight holds 384 bytes, needs 388/);
    rec.submit();
    rt.arena.releaseAll();
  });
});
