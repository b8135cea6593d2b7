// torch.optim.AdamW (`_single_tensor_adamw`, amsgrad=False) in float64, formats.md §5.4:
//   θ ← θ·(1 − lr·λ)                      decoupled decay first, on the pre-update θ
//   m ← m + (1−β1)·(g − m);  v ← β2·v + (1−β2)·g²
//   θ ← θ − (lr / bc1) · m / (sqrt(v)/sqrt(bc2) + eps),  bc_i = 1 − β_i^t
// The gradient is first multiplied by the clip coefficient (clip_grad_norm_, §5.3).

export interface AdamwHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface AdamwState {
  param: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/** One optimizer step `step` (1-based) in place. */
export function adamwStep(state: AdamwState, grad: ArrayLike<number>, step: number, hyper: AdamwHyper, clipCoef = 1): void {
  const { lr, beta1, beta2, eps, weightDecay } = hyper;
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  for (let i = 0; i < state.param.length; i++) {
    const g = grad[i] * clipCoef;
    state.param[i] *= 1 - lr * weightDecay;
    state.m[i] += (1 - beta1) * (g - state.m[i]);
    state.v[i] = beta2 * state.v[i] + (1 - beta2) * g * g;
    const denom = Math.sqrt(state.v[i]) / Math.sqrt(bc2) + eps;
    state.param[i] -= (lr / bc1) * (state.m[i] / denom);
  }
}
