import { describe, expect, it } from 'vitest';
import { nf4StatsBytes, rowOverlaps } from '../../src/kernels/nf4_alloc.ts';
import { nf4RowMultiple } from '../../src/kernels/nf4_tensor.ts';

describe('NF4 chunk bookkeeping (no GPU)', () => {
  it('intersects two row splittings in order', () => {
    const a = [
      { rowStart: 0, rows: 64 },
      { rowStart: 64, rows: 64 },
      { rowStart: 128, rows: 10 },
    ];
    const b = [
      { rowStart: 0, rows: 100 },
      { rowStart: 100, rows: 38 },
    ];
    expect(rowOverlaps(a, b)).toEqual([
      { a: 0, b: 0, rowStart: 0, rows: 64 },
      { a: 1, b: 0, rowStart: 64, rows: 36 },
      { a: 1, b: 1, rowStart: 100, rows: 28 },
      { a: 2, b: 1, rowStart: 128, rows: 10 },
    ]);
    expect(rowOverlaps([{ rowStart: 0, rows: 5 }], [{ rowStart: 0, rows: 5 }])).toEqual([{ a: 0, b: 0, rowStart: 0, rows: 5 }]);
  });

  it('sizes the stats buffer and the chunk row multiple', () => {
    expect(nf4StatsBytes(2048, 2048, false)).toBe(4);
    expect(nf4StatsBytes(2048, 2048, true)).toBe((260 + 256) * 4);
    expect(nf4StatsBytes(7, 37, true)).toBe(261 * 4);
    expect(nf4RowMultiple(256)).toBe(64);
    expect(nf4RowMultiple(96)).toBe(512);
    expect(nf4RowMultiple(16384 * 3)).toBe(1);
  });
});
