import { describe, expect, it } from 'vitest';
import { adamwStep } from '../reference/adamw.ts';
import { adamwScalars } from '../../src/kernels/adamw.ts';

// The AdamW reference against closed forms of torch.optim.AdamW (formats.md §5.4), and the
// launcher's float64 scalars against the same definitions. AdamW has no backward to check by
// finite differences; these pin the order of decay, moments, bias correction and eps.

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const hyper = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

describe('reference AdamW', () => {
  it('first step: decay first, then θ −= lr·g/(|g| + eps)', () => {
    const st = { param: Float64Array.of(2, -1, 0.5), m: new Float64Array(3), v: new Float64Array(3) };
    const g = [0.3, -4, 1e-9];
    adamwStep(st, g, 1, hyper);
    for (let i = 0; i < 3; i++) {
      const theta0 = [2, -1, 0.5][i];
      expect(st.param[i]).toBeCloseTo(theta0 * (1 - 0.1 * 0.01) - (0.1 * g[i]) / (Math.abs(g[i]) + 1e-8), 12);
      expect(relative(st.m[i], 0.1 * g[i])).toBeLessThan(1e-14);
      expect(relative(st.v[i], 0.001 * g[i] * g[i])).toBeLessThan(1e-14);
    }
  });

  it('second step uses the bias corrections of t = 2, eps after sqrt(v)/sqrt(bc2)', () => {
    const st = { param: Float64Array.of(1), m: new Float64Array(1), v: new Float64Array(1) };
    adamwStep(st, [1], 1, { ...hyper, weightDecay: 0 });
    const after1 = st.param[0];
    adamwStep(st, [-1], 2, { ...hyper, weightDecay: 0 });
    const m = 0.9 * 0.1 + 0.1 * -1;
    const v = 0.999 * 0.001 + 0.001;
    const expected = after1 - (0.1 / (1 - 0.9 ** 2)) * (m / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-8));
    expect(st.param[0]).toBeCloseTo(expected, 14);
  });

  it('the clip coefficient scales the gradient before the moments', () => {
    const a = { param: Float64Array.of(1), m: new Float64Array(1), v: new Float64Array(1) };
    const b = { param: Float64Array.of(1), m: new Float64Array(1), v: new Float64Array(1) };
    adamwStep(a, [3], 1, hyper, 0.25);
    adamwStep(b, [0.75], 1, hyper);
    expect(Array.from(a.m)).toEqual(Array.from(b.m));
    expect(Array.from(a.v)).toEqual(Array.from(b.v));
  });

  it('the launcher derives the step scalars in float64', () => {
    const s = adamwScalars({ ...hyper, step: 3 });
    expect(s.decay_factor).toBe(1 - 0.1 * 0.01);
    expect(s.step_size).toBe(0.1 / (1 - 0.9 ** 3));
    expect(s.bc2_sqrt).toBe(Math.sqrt(1 - 0.999 ** 3));
    expect(s.one_minus_beta1).toBe(1 - 0.9);
    expect(adamwScalars({ ...hyper, step: 1 }, 0).decay_factor).toBe(1);
    expect(() => adamwScalars({ ...hyper, step: 0 })).toThrow();
  });
});
