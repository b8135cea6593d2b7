import { afterAll, beforeAll, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { exact, expectClose } from '../helpers/tolerance.ts';
import { addForward as addForwardRef, biasAddForward as biasAddForwardRef } from '../reference/add.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { ADD_FORWARD, addForward, biasAddForward } from '../../src/kernels/add.ts';

// Residual add and broadcast bias add on the GPU: one f32 addition per element, so the result is
// the float64 reference rounded to f32, bit for bit.

let rt: Runtime;

beforeAll(async () => {
  if (!gpuMissing) rt = await gpuRuntime();
});
afterAll(() => rt?.arena.releaseAll());

const up = (label: string, data: Float32Array): GpuTensor => {
  const t = createTensor(rt.arena, label, 'f32', [data.length], 'scratch');
  uploadTensor(rt.device, t, data);
  return t;
};

describeGpu('add kernels', () => {
  it('add_forward: out = a + b on odd and round sizes, one element, extreme values', async () => {
    const r = rng(1);
    const cases = [r.normalArray(7 * 96), r.normalArray(4096), r.normalArray(1), Float32Array.from([1e30, -1e30, 1e38, 1e-30, 0, -0])];
    for (const a of cases) {
      const b = r.normalArray(a.length, 1e3);
      if (a.length === 6) b.set([1e30, 1e30, 2e38, -1e-30, -0, -0]); // cancellations, near-max sums, signed zeros
      const out = up('out', new Float32Array(a.length).fill(NaN));
      await rt.run('add', (rec) => addForward(rt, rec, { a: up('a', a).buffer, b: up('b', b).buffer, out: out.buffer }, { n: a.length }));
      expectClose(await readF32(rt.device, out), Float32Array.from(addForwardRef(a, b)), exact, `n=${a.length}`);
      rt.arena.releaseAll();
    }
  });

  it('add_forward indexes a 2-D grid (what threadGrid gives past 65535 workgroups)', async () => {
    // The real split needs n > 65535·256; the same indexing on a 2 × 3 grid is cheap.
    const n = 1500;
    const r = rng(3);
    const [a, b] = [r.normalArray(n), r.normalArray(n)];
    const out = up('out', new Float32Array(n).fill(NaN));
    await rt.run('add', (rec) =>
      rec.dispatch(rt.kernel(ADD_FORWARD), { bindings: [up('a', a).buffer, up('b', b).buffer, out.buffer], uniforms: { n }, workgroups: [2, 3], overrides: { WG: 256 } }),
    );
    expectClose(await readF32(rt.device, out), Float32Array.from(addForwardRef(a, b)), exact, 'n=1500 on a 2 × 3 grid');
    rt.arena.releaseAll();
  });

  it('bias_add_forward: y += bias broadcast over rows, in place', async () => {
    const r = rng(2);
    for (const [rows, cols] of [[7, 96], [16, 64], [1, 13], [5, 1]]) {
      const y = r.normalArray(rows * cols);
      const bias = r.normalArray(cols);
      const yT = up('y', y);
      await rt.run('bias', (rec) => biasAddForward(rt, rec, { y: yT.buffer, bias: up('bias', bias).buffer }, { rows, cols }));
      expectClose(await readF32(rt.device, yT), Float32Array.from(biasAddForwardRef(y, bias, rows, cols)), exact, `rows=${rows} cols=${cols}`, [rows, cols]);
      rt.arena.releaseAll();
    }
  });
});
