// Plain-loop references of the three Linear matmuls (PyTorch layout, W is [N, K]), accumulating in
// float64 (inputs are any array of numbers, the result is float64, so finite differences in float64
// can check the backward references), with the kernels' α/β semantics:
//   forward          Y[M, N] = α·X[M, K]·Wᵀ + bias + β·Y
//   backward_input  dX[M, K] = α·dY[M, N]·W     + β·dX
//   backward_weight dW[N, K] = α·dY[M, N]ᵀ·X    + β·dW
// `c` is the old output (read only when β ≠ 0; β = 0 ignores it, NaNs included, as the GPU does).

export interface RefScale {
  alpha?: number;
  beta?: number;
  /** The output before the call; required when β ≠ 0. */
  c?: ArrayLike<number>;
}

export function matmulForwardRef(
  x: ArrayLike<number>, // (M, K)
  w: ArrayLike<number>, // (N, K)
  M: number,
  K: number,
  N: number,
  opts: RefScale & { bias?: ArrayLike<number> } = {},
): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      out[m * N + n] = finish(s, opts, m * N + n, opts.bias ? opts.bias[n] : 0);
    }
  }
  return out;
}

export function matmulBackwardInputRef(
  dy: ArrayLike<number>, // (M, N)
  w: ArrayLike<number>, // (N, K)
  M: number,
  K: number,
  N: number,
  opts: RefScale = {},
): Float64Array {
  const out = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dy[m * N + n] * w[n * K + k];
      out[m * K + k] = finish(s, opts, m * K + k, 0);
    }
  }
  return out;
}

export function matmulBackwardWeightRef(
  dy: ArrayLike<number>, // (M, N)
  x: ArrayLike<number>, // (M, K)
  M: number,
  K: number,
  N: number,
  opts: RefScale = {},
): Float64Array {
  const out = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += dy[m * N + n] * x[m * K + k];
      out[n * K + k] = finish(s, opts, n * K + k, 0);
    }
  }
  return out;
}

function finish(sum: number, opts: RefScale, at: number, bias: number): number {
  const { alpha = 1, beta = 0 } = opts;
  let v = alpha * sum + bias;
  if (beta !== 0) {
    if (!opts.c) throw new Error('matmul reference: β ≠ 0 needs the old output');
    v += beta * opts.c[at];
  }
  return v;
}
