// One step of torch.optim.AdamW (amsgrad off) for one parameter tensor, formats.md §5.4, with the
// gradient first scaled by the clip coefficient of grad_norm_finish (clip_grad_norm_, §5.3):
//   g = grad · clip_coef
//   θ ← θ · (1 − lr·λ)                              decoupled decay first, on the pre-update θ
//   m ← m + (1 − β1)·(g − m);  v ← β2·v + (1 − β2)·g²
//   θ ← θ − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
// The step-dependent scalars (decay_factor = 1 − lr·λ, step_size = lr / bc1, bc2_sqrt, 1 − β1,
// 1 − β2) are computed by the launcher in float64, as PyTorch computes them in Python floats,
// and arrive rounded to f32. When grad_norm_finish flagged non-finite gradients the whole update
// is skipped: θ, m and v keep their values.
// Dispatch: ceil(count / WG) workgroups (spread over x, y), one thread per element.

override WG: u32 = 256u;

struct Params { count: u32, decay_factor: f32, step_size: f32, bc2_sqrt: f32, one_minus_beta1: f32, beta2: f32, one_minus_beta2: f32, eps: f32 }

@group(0) @binding(0) var<storage, read_write> param: array<f32>; // (count)
@group(0) @binding(1) var<storage, read> grad: array<f32>;        // (count)
@group(0) @binding(2) var<storage, read_write> m: array<f32>;     // (count) first moment
@group(0) @binding(3) var<storage, read_write> v: array<f32>;     // (count) second moment
@group(0) @binding(4) var<storage, read> norm_state: array<f32>;  // (4): norm, clip_coef, non_finite, sum_sq
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn adamw_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.count || norm_state[2] != 0.0) {
    return;
  }
  let g = grad[i] * norm_state[1];
  let p = param[i] * params.decay_factor;
  let m_new = m[i] + params.one_minus_beta1 * (g - m[i]);
  let v_new = params.beta2 * v[i] + params.one_minus_beta2 * g * g;
  let denom = sqrt(v_new) / params.bc2_sqrt + params.eps;
  param[i] = p - params.step_size * (m_new / denom);
  m[i] = m_new;
  v[i] = v_new;
}
