/** One line of a LineChart: points by optimizer step. */
export interface Series {
  name: string;
  points: { x: number; y: number }[];
  /** A CSS colour; by default the accent colour, then the second series colour. */
  color?: string;
}

/**
 * Axis labels short enough for the chart's margin and still telling the ticks apart: 3
 * significant digits, more when a loss that barely moves would label every tick "10.4";
 * exponents below 0.01.
 */
export function tickLabels(ticks: readonly number[]): string[] {
  const label = (v: number, digits: number) => (v !== 0 && Math.abs(v) < 0.01 ? v.toExponential(digits - 2) : Number(v.toPrecision(digits)).toString());
  for (let digits = 3; digits < 7; digits++) {
    const labels = ticks.map((v) => label(v, digits));
    if (new Set(labels).size === new Set(ticks).size) return labels;
  }
  return ticks.map((v) => label(v, 7));
}
