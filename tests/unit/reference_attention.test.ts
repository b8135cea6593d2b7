import { describe, expect, it } from 'vitest';
import { dotLoss, maxRelativeError, numericGradient } from '../helpers/finite_diff.ts';
import { rng } from '../helpers/rng.ts';
import { attentionBackward, attentionForward, type AttentionShape } from '../reference/attention.ts';

// The reference attention backward against central finite differences of Σ dO·O, on GQA shapes
// with packed segments and padding, so the GPU kernels are checked against a proven derivative.

function inputs(shape: AttentionShape, segment: number[], seed: number) {
  const { batch: B, seqLen: T, nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const r = rng(seed);
  const draw = (n: number) => Float64Array.from(r.normalArray(n));
  return { q: draw(B * T * H * D), k: draw(B * T * Hkv * D), v: draw(B * T * Hkv * D), segment, dO: draw(B * T * H * D) };
}

describe('reference attention', () => {
  const cases: { name: string; shape: AttentionShape; segment: number[] }[] = [
    { name: 'GQA g=2, packed segments and padding', shape: { batch: 2, seqLen: 5, nHeads: 4, nKvHeads: 2, headDim: 3 }, segment: [0, 0, 1, 1, 1, 7, 7, 7, -1, -1] },
    { name: 'MHA, one sequence', shape: { batch: 1, seqLen: 4, nHeads: 2, nKvHeads: 2, headDim: 4 }, segment: [0, 0, 0, 0] },
    { name: 'MQA g=3, one token', shape: { batch: 1, seqLen: 1, nHeads: 3, nKvHeads: 1, headDim: 2 }, segment: [0] },
  ];
  for (const { name, shape, segment } of cases) {
    it(`backward matches finite differences: ${name}`, () => {
      const x = inputs(shape, segment, 11);
      const loss = () => dotLoss(attentionForward(shape, x).o, x.dO);
      const { dq, dk, dv } = attentionBackward(shape, x, x.dO);
      expect(maxRelativeError(dq, numericGradient(loss, x.q)).error).toBeLessThan(1e-6);
      expect(maxRelativeError(dk, numericGradient(loss, x.k)).error).toBeLessThan(1e-6);
      expect(maxRelativeError(dv, numericGradient(loss, x.v)).error).toBeLessThan(1e-6);
    });
  }

  it('padding rows give zero output and are never attended to', () => {
    const shape = { batch: 1, seqLen: 4, nHeads: 2, nKvHeads: 1, headDim: 2 };
    const x = inputs(shape, [0, -1, 0, -1], 3);
    const a = attentionForward(shape, x);
    x.v[1 * 2] += 100; // the value of padding token 1 must not matter
    const b = attentionForward(shape, x);
    expect(Array.from(b.o)).toEqual(Array.from(a.o));
    expect(Array.from(a.o.subarray(4, 8))).toEqual([0, 0, 0, 0]);
    expect(a.lse[1]).toBe(0);
  });

  it('the first token attends only to itself', () => {
    const shape = { batch: 1, seqLen: 3, nHeads: 1, nKvHeads: 1, headDim: 2 };
    const x = inputs(shape, [0, 0, 0], 5);
    const { o, lse } = attentionForward(shape, x);
    expect(o[0]).toBeCloseTo(x.v[0], 12);
    expect(lse[0]).toBeCloseTo((x.q[0] * x.k[0] + x.q[1] * x.k[1]) / Math.SQRT2, 12);
  });
});
