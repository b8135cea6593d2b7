import { matmulBackwardInputRef, matmulBackwardWeightRef, matmulForwardRef } from './matmul.ts';

// One frozen nn.Linear with an optional PEFT LoRA pair on it (formats.md §2.1), forward and
// backward in float64. M rows are the B·T tokens; W is [out, in] (PyTorch layout).
//
//   forward   xd = x ⊙ mask                      (M, in)   dropout on the LoRA input only
//             u  = xd · Aᵀ                       (M, r)
//             y  = x · Wᵀ + bias + s · u · Bᵀ    (M, out)  the base path never sees dropout
//
//   backward (from dy (M, out))
//             dB = s · dyᵀ · u                   (out, r)
//             du = s · dy · B                    (M, r)
//             dA = duᵀ · xd                      (r, in)
//             dx = dy · W + (du · A) ⊙ mask      (M, in)
//
// W and the bias are frozen: no dW, no dbias.

export interface FrozenLinear {
  /** [out, in] */
  weight: ArrayLike<number>;
  /** [out], or null (Qwen2 q/k/v have one, Llama with attention_bias / mlp_bias too). */
  bias: ArrayLike<number> | null;
  inFeatures: number;
  outFeatures: number;
}

export interface LoraAdapter {
  /** [r, in] */
  A: ArrayLike<number>;
  /** [out, r] */
  B: ArrayLike<number>;
  r: number;
  scaling: number;
  /** (M, in), values 0 or 1/(1−p); null = no dropout. */
  mask: ArrayLike<number> | null;
}

/** What the backward needs from the forward. */
export interface LinearCache {
  x: ArrayLike<number>;
  /** x ⊙ mask (or x itself without dropout); null without LoRA. */
  xd: ArrayLike<number> | null;
  /** xd · Aᵀ (M, r); null without LoRA. */
  u: Float64Array | null;
}

export function linearForward(lin: FrozenLinear, lora: LoraAdapter | null, x: ArrayLike<number>, M: number): { y: Float64Array; cache: LinearCache } {
  const { inFeatures: K, outFeatures: N } = lin;
  // y = x · Wᵀ + bias
  const y = matmulForwardRef(x, lin.weight, M, K, N, lin.bias ? { bias: lin.bias } : {});
  if (!lora) return { y, cache: { x, xd: null, u: null } };
  // xd = x ⊙ mask
  const xd = lora.mask ? multiply(x, lora.mask) : x;
  // u = xd · Aᵀ
  const u = matmulForwardRef(xd, lora.A, M, K, lora.r);
  // y += s · u · Bᵀ
  const yLora = matmulForwardRef(u, lora.B, M, lora.r, N, { alpha: lora.scaling, beta: 1, c: y });
  return { y: yLora, cache: { x, xd, u } };
}

export function linearBackward(
  lin: FrozenLinear,
  lora: LoraAdapter | null,
  cache: LinearCache,
  dy: ArrayLike<number>,
  M: number,
  wantGrads: boolean,
): { dx: Float64Array; dA: Float64Array | null; dB: Float64Array | null } {
  const { inFeatures: K, outFeatures: N } = lin;
  // ⟵ y = x · Wᵀ + bias:  dx = dy · W
  const dx = matmulBackwardInputRef(dy, lin.weight, M, K, N);
  if (!lora) return { dx, dA: null, dB: null };
  const { xd, u } = cache as { xd: ArrayLike<number>; u: Float64Array };
  // ⟵ y += s · u · Bᵀ:  du = s · dy · B,  dB = s · dyᵀ · u
  const du = matmulBackwardInputRef(dy, lora.B, M, lora.r, N, { alpha: lora.scaling });
  const dB = wantGrads ? matmulBackwardWeightRef(dy, u, M, lora.r, N, { alpha: lora.scaling }) : null;
  // ⟵ u = xd · Aᵀ:  dxd = du · A,  dA = duᵀ · xd
  const dxd = matmulBackwardInputRef(du, lora.A, M, K, lora.r);
  const dA = wantGrads ? matmulBackwardWeightRef(du, xd, M, K, lora.r) : null;
  // ⟵ xd = x ⊙ mask:  dx += dxd ⊙ mask
  const mask = lora.mask;
  for (let i = 0; i < dx.length; i++) dx[i] += mask ? dxd[i] * mask[i] : dxd[i];
  return { dx, dA, dB };
}

function multiply(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] * b[i];
  return out;
}
