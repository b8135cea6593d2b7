// Global gradient norm, pass 2 of 2, and the clip coefficient (torch clip_grad_norm_, §5.3):
//   sum_sq = Σ_slots partials;  norm = sqrt(sum_sq)
//   clip_coef = min(1, max_norm / (norm + 1e-6)), or 1 when max_norm ≤ 0 (clipping off)
//   non_finite = 1 if any gradient was NaN/±inf or sum_sq overflowed; then clip_coef = 0
// The optimizer reads clip_coef and non_finite from `state` on the GPU (no readback); the trainer
// reads the 16 bytes once at the end of the step for its log (norm before clipping) and to count
// skipped steps.
// Dispatch: one workgroup of WG threads; thread i adds slots i, i+WG, … then a tree, so the
// order of additions is fixed for a given slot count.

override WG: u32 = 256u; // a power of two (tree reduction)

struct Params { slots: u32, max_norm: f32 }

@group(0) @binding(0) var<storage, read> partials: array<f32>;    // (slots, 2): sum of squares, bad flag
@group(0) @binding(1) var<storage, read_write> state: array<f32>; // (4): norm, clip_coef, non_finite, sum_sq
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> red_sum: array<f32, WG>;
var<workgroup> red_bad: array<f32, WG>;

fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WG)
fn grad_norm_finish(@builtin(local_invocation_index) tid: u32) {
  var s = 0.0;
  var bad = 0.0;
  for (var i = tid; i < params.slots; i += WG) {
    s += partials[2u * i];
    bad = max(bad, partials[2u * i + 1u]);
  }
  red_sum[tid] = s;
  red_bad[tid] = bad;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) {
      red_sum[tid] += red_sum[tid + stride];
      red_bad[tid] = max(red_bad[tid], red_bad[tid + stride]);
    }
    workgroupBarrier();
  }
  if (tid == 0u) {
    let sum_sq = red_sum[0];
    let non_finite = red_bad[0] != 0.0 || !is_finite(sum_sq);
    let norm = sqrt(sum_sq);
    var coef = 1.0;
    if (params.max_norm > 0.0) {
      coef = min(1.0, params.max_norm / (norm + 1e-6));
    }
    state[0] = norm;
    state[1] = select(coef, 0.0, non_finite);
    state[2] = select(0.0, 1.0, non_finite);
    state[3] = sum_sq;
  }
}
