import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { expectClose, type Tolerance } from '../helpers/tolerance.ts';
import { adamwStep as adamwRef, type AdamwState } from '../reference/adamw.ts';
import { gradNorm as gradNormRef } from '../reference/grad_norm.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { adamwStep, type AdamwHyper } from '../../src/kernels/adamw.ts';
import { GRAD_NORM_STATE_BYTES, GradNormState, gradNorm, gradNormSlots } from '../../src/kernels/grad_norm.ts';

// Five optimizer steps on the GPU (grad norm + clipping fused into AdamW) against the float64
// torch.optim.AdamW reference: several tensors (one element, odd sizes, tiny gradients where eps
// matters, one without weight decay), a changing learning rate, clipping on some steps, and a
// step with a NaN gradient that must leave θ, m and v untouched and not count as a step.

// After five steps θ has moved by ~5·lr; f32 rounding of θ, and of the f32 scalars, stays ~1e-7
// relative. m and v are compared relatively only: tiny gradients give v ≈ 1e-16.
const params: Tolerance = { name: 'adamw θ', atol: 1e-6, rtol: 1e-5, reason: 'a few f32 roundings per element per step' };
const moments: Tolerance = { name: 'adamw m, v', atol: 1e-30, rtol: 1e-4, reason: 'f32 moments of f32 gradients' };

const SIZES = [1, 97, 1000, 33];
const GRAD_STD = [0.5, 0.05, 0.01, 1e-8];
const DECAY = [undefined, undefined, 0, undefined];
const BASE: Omit<AdamwHyper, 'lr' | 'step'> = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

describeGpu('adamw kernel', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterAll(() => rt.arena.releaseAll());

  it('five steps match torch AdamW in float64, skipping a non-finite step', async () => {
    const r = rng(5);
    const tensor = (label: string, data: Float32Array): GpuTensor => {
      const t = createTensor(rt.arena, label, 'f32', [data.length], 'optimizer');
      uploadTensor(rt.device, t, data);
      return t;
    };
    const init = SIZES.map((n) => r.normalArray(n));
    const gpu = SIZES.map((n, i) => ({
      param: tensor(`p${i}`, init[i]),
      grad: tensor(`g${i}`, new Float32Array(n)),
      m: tensor(`m${i}`, new Float32Array(n)),
      v: tensor(`v${i}`, new Float32Array(n)),
    }));
    const ref: AdamwState[] = init.map((p) => ({ param: Float64Array.from(p), m: new Float64Array(p.length), v: new Float64Array(p.length) }));
    const partials = rt.arena.createBuffer('partials', 8 * gradNormSlots(SIZES.map((count) => ({ count }))), 'scratch');
    const state = tensor('norm_state', new Float32Array(GRAD_NORM_STATE_BYTES / 4));
    const maxNorm = 1.0;

    let step = 0;
    let clipped = 0;
    for (let k = 0; k < 5; k++) {
      // Gradient scale grows so later steps are clipped; step k = 2 carries a NaN.
      const grads = SIZES.map((n, i) => r.normalArray(n, GRAD_STD[i] * (1 + k)));
      if (k === 2) grads[1][10] = NaN;
      grads.forEach((g, i) => uploadTensor(rt.device, gpu[i].grad, g));
      const lr = 1e-2 * (1 - k / 10);
      const hyper: AdamwHyper = { ...BASE, lr, step: step + 1 };
      await rt.run(`step ${k}`, (rec) => {
        gradNorm(rt, rec, { grads: gpu.map((t, i) => ({ buffer: t.grad.buffer, count: SIZES[i] })), partials, state: state.buffer }, maxNorm);
        adamwStep(
          rt,
          rec,
          gpu.map((t, i) => ({ param: t.param.buffer, grad: t.grad.buffer, m: t.m.buffer, v: t.v.buffer, count: SIZES[i], weightDecay: DECAY[i] })),
          state.buffer,
          hyper,
        );
      });
      const s = await readF32(rt.device, state);
      const want = gradNormRef(grads, maxNorm);
      expect(s[GradNormState.nonFinite]).toBe(want.nonFinite ? 1 : 0);
      if (want.nonFinite) continue; // the trainer does not count a skipped step
      step++;
      if (want.clipCoef < 1) clipped++;
      expectClose([s[GradNormState.norm]], [want.norm], { ...params, rtol: 1e-5 }, `norm at step ${k}`);
      ref.forEach((st, i) => adamwRef(st, grads[i], step, { ...BASE, lr, weightDecay: DECAY[i] ?? BASE.weightDecay }, s[GradNormState.clipCoef]));
    }
    expect(step).toBe(4);
    expect(clipped).toBeGreaterThan(0);
    for (const [i, t] of gpu.entries()) {
      expectClose(await readF32(rt.device, t.param), ref[i].param, params, `θ of tensor ${i}`);
      expectClose(await readF32(rt.device, t.m), ref[i].m, moments, `m of tensor ${i}`);
      expectClose(await readF32(rt.device, t.v), ref[i].v, moments, `v of tensor ${i}`);
    }
  });
});
