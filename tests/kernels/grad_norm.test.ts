import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { balanced, expectClose } from '../helpers/tolerance.ts';
import { gradNorm as gradNormRef } from '../reference/grad_norm.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { GRAD_NORM_CHUNK, GRAD_NORM_STATE_BYTES, GradNormState, gradNorm, gradNormSlots, type GradSlice } from '../../src/kernels/grad_norm.ts';

// The global gradient norm against the float64 reference: many tensors of odd sizes (one
// element, more than one workgroup's chunk), a slice of a flat buffer, clipping on and off,
// NaN / inf / overflow detection, no gradients at all, and bitwise determinism.

const SIZES = [1, 97, 5000, GRAD_NORM_CHUNK, 2 * GRAD_NORM_CHUNK + 1];

async function run(rt: Runtime, grads: Float32Array[], maxNorm: number, flat = false): Promise<Float32Array> {
  const slices: GradSlice[] = [];
  if (flat) {
    // All tensors in one buffer behind a 3-element header, addressed by element offsets.
    const total = 3 + grads.reduce((n, g) => n + g.length, 0);
    const data = new Float32Array(total).fill(1e30);
    const t = createTensor(rt.arena, 'flat_grads', 'f32', [total], 'scratch');
    let offset = 3;
    for (const g of grads) {
      data.set(g, offset);
      slices.push({ buffer: t.buffer, count: g.length, offset });
      offset += g.length;
    }
    uploadTensor(rt.device, t, data);
  } else {
    for (const [i, g] of grads.entries()) {
      const t = createTensor(rt.arena, `grad${i}`, 'f32', [g.length], 'scratch');
      uploadTensor(rt.device, t, g);
      slices.push({ buffer: t.buffer, count: g.length });
    }
  }
  const partials = rt.arena.createBuffer('partials', 8 * Math.max(1, gradNormSlots(slices)), 'scratch');
  const state = createTensor(rt.arena, 'norm_state', 'f32', [GRAD_NORM_STATE_BYTES / 4], 'scratch');
  uploadTensor(rt.device, state, new Float32Array(4).fill(NaN));
  await rt.run('grad_norm', (rec) => gradNorm(rt, rec, { grads: slices, partials, state: state.buffer }, maxNorm));
  const out = await readF32(rt.device, state);
  rt.arena.releaseAll();
  return out;
}

describeGpu('grad norm kernels', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterAll(() => rt.arena.releaseAll());

  const grads = () => {
    const r = rng(9);
    return SIZES.map((n) => r.normalArray(n, 0.01));
  };

  for (const maxNorm of [1.0, 0.5, 0]) {
    it(`norm and clip coefficient, max_norm ${maxNorm}`, async () => {
      const g = grads();
      const want = gradNormRef(g, maxNorm);
      const got = await run(rt, g, maxNorm);
      expectClose([got[GradNormState.norm], got[GradNormState.clipCoef]], [want.norm, want.clipCoef], balanced, 'norm, coef');
      expect(got[GradNormState.nonFinite]).toBe(0);
      expectClose([got[GradNormState.sumSq]], [want.norm ** 2], balanced, 'sum of squares');
      if (maxNorm === 0.5) expect(got[GradNormState.clipCoef]).toBeLessThan(1);
    });
  }

  it('slices of one flat buffer give the same norm, bit for bit, every time', async () => {
    const a = await run(rt, grads(), 1.0);
    const b = await run(rt, grads(), 1.0);
    const c = await run(rt, grads(), 1.0, true);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).toEqual(Array.from(a));
  });

  for (const [name, value] of [
    ['NaN', NaN],
    ['+inf', Infinity],
    ['-inf', -Infinity],
    ['a finite value whose square overflows', 1e20],
  ] as const) {
    it(`flags ${name} as non-finite`, async () => {
      const g = grads();
      g[2][4321] = value;
      const got = await run(rt, g, 1.0);
      expect(got[GradNormState.nonFinite]).toBe(1);
      expect(got[GradNormState.clipCoef]).toBe(0);
    });
  }

  it('no gradients: norm 0, coefficient 1', async () => {
    const got = await run(rt, [], 1.0);
    expect(Array.from(got)).toEqual([0, 1, 0, 0]);
  });
});
