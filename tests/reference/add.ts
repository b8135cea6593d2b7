// Residual and bias add references. Neither has a kernel backward: the gradient of a sum passes
// through unchanged, and the base biases (Qwen2 q/k/v, formats.md §4.4) are frozen.

export function addForward(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** y (rows, cols) + bias (cols) broadcast over rows. */
export function biasAddForward(y: ArrayLike<number>, bias: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = y[r * cols + c] + bias[c];
  return out;
}
