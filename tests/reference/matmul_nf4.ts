import { dequantizeNf4, type Nf4Weight } from '../../src/formats/nf4.ts';
import { matmulBackwardInputRef, matmulForwardRef, type RefScale } from './matmul.ts';

// References of the two NF4 Linear matmuls (formats.md §1.10): the dense float64 references of
// matmul.ts on the float32 dequantized weight (formats.md §1.4), which is exactly what the fused
// kernels compute up to summation order. W is [N, K].

/** Y[M, N] = α·X[M, K]·dequant(W)ᵀ + β·Y */
export function matmulNf4ForwardRef(x: ArrayLike<number>, w: Nf4Weight, M: number, opts: RefScale = {}): Float64Array {
  const [N, K] = w.shape;
  return matmulForwardRef(x, dequantizeNf4(w), M, K, N, opts);
}

/** dX[M, K] = α·dY[M, N]·dequant(W) + β·dX */
export function matmulNf4BackwardInputRef(dy: ArrayLike<number>, w: Nf4Weight, M: number, opts: RefScale = {}): Float64Array {
  const [N, K] = w.shape;
  return matmulBackwardInputRef(dy, dequantizeNf4(w), M, K, N, opts);
}
