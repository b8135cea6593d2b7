import { afterAll, beforeAll, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { balanced, expectClose } from '../helpers/tolerance.ts';
import { swigluBackward as swigluBackwardRef, swigluForward as swigluForwardRef } from '../reference/swiglu.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { swigluBackward, swigluForward } from '../../src/kernels/swiglu.ts';

// SwiGLU forward and backward on the GPU against the float64 reference, on odd and round sizes
// and at extreme gates (±1e4, where a naive σ would overflow exp).

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

async function check(gate: Float32Array, up_: Float32Array, dout: Float32Array, what: string): Promise<void> {
  const n = gate.length;
  const nan = () => new Float32Array(n).fill(NaN);
  const [g, u, da, a, dg, du] = [up('gate', gate), up('up', up_), up('da', dout), up('a', nan()), up('dg', nan()), up('du', nan())];
  await rt.run('swiglu', (rec) => {
    swigluForward(rt, rec, { gate: g.buffer, up: u.buffer, out: a.buffer }, { n });
    swigluBackward(rt, rec, { dout: da.buffer, gate: g.buffer, up: u.buffer, dgate: dg.buffer, dup: du.buffer }, { n });
  });
  const ref = swigluBackwardRef(dout, gate, up_);
  expectClose(await readF32(rt.device, a), swigluForwardRef(gate, up_), balanced, `a ${what}`);
  expectClose(await readF32(rt.device, dg), ref.dgate, balanced, `dgate ${what}`);
  expectClose(await readF32(rt.device, du), ref.dup, balanced, `dup ${what}`);
  rt.arena.releaseAll();
}

describeGpu('swiglu kernels', () => {
  it('match the reference on odd and round sizes', async () => {
    for (const [n, seed] of [[7 * 37, 1], [4096, 2], [1, 3]]) {
      const r = rng(seed);
      await check(r.normalArray(n, 3), r.normalArray(n), r.normalArray(n), `n=${n}`);
    }
  });

  it('stay finite and right at extreme gates', async () => {
    const gate = Float32Array.from([-1e4, 1e4, -100, 100, -88.8, 88.8, -20, 20, 0, -0, 1e-30, -1e-30]);
    const r = rng(4);
    await check(gate, r.normalArray(gate.length), r.normalArray(gate.length), 'extreme');
  });
});
