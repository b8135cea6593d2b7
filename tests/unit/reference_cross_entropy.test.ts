import { describe, expect, it } from 'vitest';
import { maxRelativeError, numericGradient } from '../helpers/finite_diff.ts';
import { rng } from '../helpers/rng.ts';
import { countTrained, crossEntropyBackward, crossEntropyForward, targetOf } from '../reference/cross_entropy.ts';

// The reference cross-entropy backward against central finite differences of scale·Σ loss, and
// the label shift done inside the loss as transformers does it (formats.md §5.1).

describe('reference cross-entropy', () => {
  it('backward matches finite differences, with ignored targets and the shift', () => {
    const rows = 6;
    const vocab = 7;
    const seqLen = 3;
    const r = rng(2);
    const logits = Float64Array.from(r.normalArray(rows * vocab, 3));
    const labels = [1, 4, -100, 0, 6, 2];
    const scale = 1 / countTrained(labels, rows, vocab, seqLen);
    const loss = () => scale * crossEntropyForward(logits, labels, rows, vocab, seqLen).reduce((a, b) => a + b, 0);
    const analytic = crossEntropyBackward(logits, labels, rows, vocab, seqLen, scale);
    expect(maxRelativeError(analytic, numericGradient(loss, logits)).error).toBeLessThan(1e-7);
  });

  it('shifts labels inside: row t predicts label t+1, the last row of each sequence nothing', () => {
    const labels = [5, 6, 7, 8, 9, 10];
    expect([0, 1, 2, 3, 4, 5].map((row) => targetOf(labels, row, 3, true))).toEqual([6, 7, -100, 9, 10, -100]);
    expect(targetOf(labels, 2, 3, false)).toBe(7);
    expect(countTrained(labels, 6, 11, 3)).toBe(4);
  });

  it('is finite at logits of ±1e4 and equals the closed form', () => {
    const logits = [1e4, -1e4, 0, -1e4, 1e4, 1e4];
    const loss = crossEntropyForward(logits, [0, 0], 2, 3, 1, false);
    expect(loss[0]).toBe(0);
    expect(loss[1]).toBeCloseTo(2e4 + Math.log(2), 6);
    const grad = crossEntropyBackward(logits, [0, 0], 2, 3, 1, 1, false);
    [0, 0, 0, -1, 0.5, 0.5].forEach((want, i) => expect(grad[i]).toBeCloseTo(want, 12));
  });
});
