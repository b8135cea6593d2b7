import { describe, expect, test } from 'vitest';
import { tickLabels } from '../../../src/ui/common/chart.ts';

describe('chart tick labels', () => {
  test('three significant digits when they tell the ticks apart', () => {
    expect(tickLabels([0, 1.25, 2.5])).toEqual(['0', '1.25', '2.5']);
    expect(tickLabels([0.001, 0.002, 0.003])).toEqual(['1.0e-3', '2.0e-3', '3.0e-3']);
  });

  test('more digits when a loss barely moves, so no two ticks read the same', () => {
    const labels = tickLabels([10.412, 10.4135, 10.415]);
    expect(new Set(labels).size).toBe(3);
    expect(labels).toEqual(['10.412', '10.414', '10.415']);
  });
});
