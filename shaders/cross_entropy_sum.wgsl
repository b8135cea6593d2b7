// Adds the per-token losses of a micro-batch to a running sum, in a fixed order (deterministic,
// no float atomics): loss_sum[0] += Σ_{i < count} row_loss[i].
// Dispatch: one workgroup of WG threads. Thread i sums rows i, i+WG, …; then a tree reduction.
// The caller clears loss_sum at the start of an optimizer step and reads it back at the end;
// the step's loss is loss_sum[0] / (trained targets of the step) (formats.md §5.2).

override WG: u32 = 256u; // a power of two (tree reduction)

struct Params { count: u32 }

@group(0) @binding(0) var<storage, read> row_loss: array<f32>;      // (B*T)
@group(0) @binding(1) var<storage, read_write> loss_sum: array<f32>; // (1)
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn cross_entropy_sum(@builtin(local_invocation_index) tid: u32) {
  var s = 0.0;
  for (var i = tid; i < params.count; i += WG) {
    s += row_loss[i];
  }
  let total = workgroup_sum(tid, s); // lib/workgroup_sum.wgsl
  if (tid == 0u) {
    loss_sum[0] += total;
  }
}
