// Global gradient L2 norm and clipping in float64, as torch.nn.utils.clip_grad_norm_
// (formats.md §5.3): total = ‖concat(grads)‖₂, coef = min(1, max_norm / (total + 1e-6)), every
// gradient multiplied by coef; max_norm ≤ 0 disables clipping (coef 1, the Trainer's convention).
// A gradient holding NaN or ±inf makes the step non-finite (the trainer skips it).

export interface GradNormResult {
  norm: number;
  clipCoef: number;
  nonFinite: boolean;
}

export function gradNorm(grads: readonly ArrayLike<number>[], maxNorm: number): GradNormResult {
  let sumSq = 0;
  let nonFinite = false;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      if (!Number.isFinite(g[i])) nonFinite = true;
      sumSq += g[i] * g[i];
    }
  }
  const norm = Math.sqrt(sumSq);
  const clipCoef = nonFinite ? 0 : maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  return { norm, clipCoef, nonFinite };
}
