import { describe, expect, it } from 'vitest';
import { gradNorm } from '../reference/grad_norm.ts';

// The clipping reference against torch.nn.utils.clip_grad_norm_ by hand (formats.md §5.3).

describe('reference grad norm', () => {
  it('is the L2 norm over all tensors, clip coefficient max_norm / (norm + 1e-6) capped at 1', () => {
    const r = gradNorm([[3], [0, 4]], 1);
    expect(r.norm).toBe(5);
    expect(r.clipCoef).toBe(1 / (5 + 1e-6));
    expect(r.nonFinite).toBe(false);
    expect(gradNorm([[0.3], [0.4]], 1).clipCoef).toBe(1);
  });

  it('max_norm 0 turns clipping off', () => {
    expect(gradNorm([[30, 40]], 0).clipCoef).toBe(1);
  });

  it('flags NaN and infinities', () => {
    expect(gradNorm([[1], [NaN]], 1).nonFinite).toBe(true);
    expect(gradNorm([[-Infinity]], 1).nonFinite).toBe(true);
  });
});
