import { describe, expect, it } from 'vitest';
import { dotLoss, maxRelativeError, numericGradient } from '../helpers/finite_diff.ts';
import { rng } from '../helpers/rng.ts';
import { ropeBackward, ropeForward } from '../reference/rope.ts';
import { ropeInvFreq } from '../../src/model/rope_freqs.ts';

// The RoPE reference: the half-split layout on a hand-worked case, and the backward (rotation by
// −θ) against central finite differences, in float64.

describe('reference RoPE', () => {
  it('rotates pairs (i, i + d/2), not adjacent pairs', () => {
    // head_dim 4, inv_freq [1, 0.5], position 1: pair (0, 2) turns by 1 rad, pair (1, 3) by 0.5.
    const y = ropeForward([1, 0, 0, 1], [1], [1, 0.5], { rows: 1, heads: 1, headDim: 4 });
    expect(y[0]).toBeCloseTo(Math.cos(1), 14);
    expect(y[2]).toBeCloseTo(Math.sin(1), 14);
    expect(y[1]).toBeCloseTo(-Math.sin(0.5), 14);
    expect(y[3]).toBeCloseTo(Math.cos(0.5), 14);
  });

  it('is the identity at position 0 and preserves each pair norm', () => {
    const r = rng(21);
    const x = r.normalArray(2 * 3 * 8);
    const inv = ropeInvFreq(8, 10000);
    const s = { rows: 2, heads: 3, headDim: 8 };
    expect(ropeForward(x, [0, 0], inv, s)).toEqual(Float64Array.from(x));
    const y = ropeForward(x, [5, 123], inv, s);
    for (let base = 0; base < x.length; base += 8) {
      for (let i = 0; i < 4; i++) {
        expect(Math.hypot(y[base + i], y[base + i + 4])).toBeCloseTo(Math.hypot(x[base + i], x[base + i + 4]), 6);
      }
    }
  });

  it('backward matches finite differences and undoes the forward', () => {
    const r = rng(22);
    const s = { rows: 7, heads: 3, headDim: 16 };
    const x = Float64Array.from(r.normalArray(s.rows * s.heads * s.headDim));
    const dy = Float64Array.from(r.normalArray(x.length));
    const positions = [0, 1, 2, 0, 1, 7, 4000];
    const inv = ropeInvFreq(16, 500000, { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    const analytic = ropeBackward(dy, positions, inv, s);
    const numeric = numericGradient(() => dotLoss(ropeForward(x, positions, inv, s), dy), x);
    expect(maxRelativeError(analytic, numeric).error).toBeLessThan(1e-7);
    const back = ropeBackward(ropeForward(x, positions, inv, s), positions, inv, s);
    expect(maxRelativeError(back, x).error).toBeLessThan(1e-12);
  });
});
