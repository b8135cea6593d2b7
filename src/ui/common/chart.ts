/** One line of a LineChart: points by optimizer step. */
export interface Series {
  name: string;
  points: { x: number; y: number }[];
  /** A CSS colour; by default the accent colour, then the second series colour. */
  color?: string;
}
