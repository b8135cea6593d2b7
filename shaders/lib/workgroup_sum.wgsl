// A sum over the threads of a workgroup by a tree reduction in workgroup memory, in the same
// pairing order every time (rms_norm_forward, rms_norm_backward, cross_entropy_sum).
// Contract with the shader that includes this file: it declares `override WG: u32`, a power of
// two equal to its workgroup size, and calls workgroup_sum from every thread in uniform control
// flow (it contains barriers).

var<workgroup> partial: array<f32, WG>;

// Σ v over the WG threads (lid = local_invocation_index), returned to every thread.
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  return partial[0];
}
