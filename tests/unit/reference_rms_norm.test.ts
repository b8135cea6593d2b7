import { describe, expect, it } from 'vitest';
import { dotLoss, maxRelativeError, numericGradient } from '../helpers/finite_diff.ts';
import { rng } from '../helpers/rng.ts';
import { rmsNormBackward, rmsNormForward } from '../reference/rms_norm.ts';

// The RMSNorm reference backward against central finite differences of Σ dy·y(x), in float64.

function check(rows: number, cols: number, eps: number, scale: number, seed: number): number {
  const r = rng(seed);
  const x = Float64Array.from(r.normalArray(rows * cols, scale));
  const weight = Float64Array.from(r.normalArray(cols, 1, 1));
  const dy = Float64Array.from(r.normalArray(rows * cols));
  const s = { rows, cols, eps };
  const { rstd } = rmsNormForward(x, weight, s);
  const analytic = rmsNormBackward(dy, x, weight, rstd, s);
  const numeric = numericGradient(() => dotLoss(rmsNormForward(x, weight, s).y, dy), x, undefined, 1e-6 * scale);
  return maxRelativeError(analytic, numeric).error;
}

describe('reference RMSNorm', () => {
  it('forward normalizes each row to unit RMS before the weight', () => {
    const x = [3, 4, 0, 0, 1, 1, 1, 1];
    const { y, rstd } = rmsNormForward(x, [1, 1, 1, 1], { rows: 2, cols: 4, eps: 0 });
    expect(rstd[0]).toBeCloseTo(1 / 2.5, 14);
    expect(y[0]).toBeCloseTo(1.2, 14);
    expect([...y.subarray(4)]).toEqual([1, 1, 1, 1]);
    expect(rmsNormForward([2, 2], [0.5, -3], { rows: 1, cols: 2, eps: 0 }).y).toEqual(Float64Array.from([0.5, -3]));
  });

  it('backward matches finite differences on odd and round shapes', () => {
    expect(check(7, 96, 1e-5, 1, 1)).toBeLessThan(1e-6);
    expect(check(3, 64, 1e-6, 1, 2)).toBeLessThan(1e-6);
    expect(check(5, 16, 1e-6, 1, 3)).toBeLessThan(1e-6);
  });

  it('backward matches finite differences for one token, one column and extreme scales', () => {
    expect(check(1, 13, 1e-5, 1, 4)).toBeLessThan(1e-6);
    expect(check(2, 1, 1e-5, 1, 5)).toBeLessThan(1e-6);
    expect(check(2, 24, 1e-6, 1e3, 6)).toBeLessThan(1e-6);
    // x far below sqrt(eps): eps dominates and the norm is nearly linear.
    expect(check(2, 24, 1e-5, 1e-4, 7)).toBeLessThan(1e-6);
  });
});
