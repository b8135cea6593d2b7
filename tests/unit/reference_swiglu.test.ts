import { describe, expect, it } from 'vitest';
import { dotLoss, maxRelativeError, numericGradient } from '../helpers/finite_diff.ts';
import { rng } from '../helpers/rng.ts';
import { sigmoid, swigluBackward, swigluForward } from '../reference/swiglu.ts';

// The SwiGLU reference backward (dg and du) against central finite differences, in float64.

describe('reference SwiGLU', () => {
  it('forward is silu(g)·u', () => {
    expect(swigluForward([0, 1, -1], [5, 2, 2])).toEqual(Float64Array.from([0, 2 / (1 + Math.exp(-1)), -2 / (1 + Math.exp(1))]));
    expect(sigmoid(-1e4)).toBe(0);
    expect(sigmoid(1e4)).toBe(1);
    expect(swigluForward([-1e4, 1e4], [1, 1])).toEqual(Float64Array.from([-0, 1e4]));
  });

  it('backward matches finite differences in both inputs', () => {
    const r = rng(11);
    const n = 7 * 37;
    const gate = Float64Array.from(r.normalArray(n, 3));
    const up = Float64Array.from(r.normalArray(n));
    const dout = Float64Array.from(r.normalArray(n));
    gate[0] = 0;
    gate[1] = 30;
    gate[2] = -30;
    const { dgate, dup } = swigluBackward(dout, gate, up);
    const loss = (): number => dotLoss(swigluForward(gate, up), dout);
    expect(maxRelativeError(dgate, numericGradient(loss, gate)).error).toBeLessThan(1e-7);
    expect(maxRelativeError(dup, numericGradient(loss, up)).error).toBeLessThan(1e-7);
  });

  it('backward stays finite at extreme gates', () => {
    const { dgate, dup } = swigluBackward([1, 1, 1, 1], [-1e4, 1e4, -100, 100], [2, 2, 2, 2]);
    expect([...dgate]).toEqual([-0, 2, expect.closeTo(0, 12), 2]);
    expect([...dup].every(Number.isFinite)).toBe(true);
  });
});
