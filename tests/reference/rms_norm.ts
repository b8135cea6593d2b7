// RMSNorm reference (formats.md §4.3, LlamaRMSNorm): per row of C values,
//   rstd = 1 / sqrt(mean(x²) + eps),  y = weight ⊙ (x · rstd)
// Plain loops in float64, so the same function serves the GPU comparison and the finite-difference
// check of the backward. Rows are tokens (or tokens·heads for Qwen3's q_norm / k_norm).

export interface RmsNormShape {
  rows: number;
  cols: number;
  eps: number;
}

/** y (rows, cols) and the saved rstd (rows). */
export function rmsNormForward(x: ArrayLike<number>, weight: ArrayLike<number>, s: RmsNormShape): { y: Float64Array; rstd: Float64Array } {
  const { rows, cols, eps } = s;
  const y = new Float64Array(rows * cols);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sumSq = 0;
    for (let c = 0; c < cols; c++) sumSq += x[r * cols + c] ** 2;
    const rs = 1 / Math.sqrt(sumSq / cols + eps);
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) y[r * cols + c] = weight[c] * (x[r * cols + c] * rs);
  }
  return { y, rstd };
}

/**
 * dx from dy (the weight is frozen, so no dweight). With g = weight ⊙ dy and r = rstd:
 *   dx = r·g − x·r³·mean(g ⊙ x)
 * since ∂r/∂x_j = −r³·x_j / C.
 */
export function rmsNormBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  rstd: ArrayLike<number>,
  s: Omit<RmsNormShape, 'eps'>,
): Float64Array {
  const { rows, cols } = s;
  const dx = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const rs = rstd[r];
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += weight[c] * dy[r * cols + c] * x[r * cols + c];
    const k = (rs * rs * dot) / cols;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      dx[i] = rs * (weight[c] * dy[i] - x[i] * k);
    }
  }
  return dx;
}
