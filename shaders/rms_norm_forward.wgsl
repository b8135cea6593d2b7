// rms_norm_forward — RMSNorm in the Llama order (formats.md §4.3, LlamaRMSNorm), per row of C:
//   rstd = 1 / sqrt(mean(x²) + eps),  y = weight ⊙ (x · rstd)
// x·rstd is formed before the weight multiply: in f32 the HF cast to the input dtype is a no-op,
// but the order of the two roundings is kept. The same kernel runs Qwen3's q_norm / k_norm with
// rows = tokens·heads and C = head_dim.
//
// Dispatch: one workgroup of WG threads per row, grid(rows) workgroups over (x, y). Each thread
// sums squares over columns lid, lid + WG, …; lib/workgroup_sum.wgsl finishes it.
// Saved for backward: rstd (rows). x is kept by the caller.

override WG: u32 = 256; // a power of two

struct Params { rows: u32, cols: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>; // (rows, C)
@group(0) @binding(1) var<storage, read> weight: array<f32>; // (C)
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // (rows, C)
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>; // (rows)
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn rms_norm_forward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  // Uniform across the workgroup, so the barriers below stay in uniform control flow.
  if (row >= params.rows) { return; }
  let cols = params.cols;
  let base = row * cols;

  var sum_sq = 0.0;
  for (var c = lid; c < cols; c += WG) {
    let v = x[base + c];
    sum_sq += v * v;
  }

  let r = inverseSqrt(workgroup_sum(lid, sum_sq) / f32(cols) + params.eps);
  if (lid == 0u) { rstd[row] = r; }
  for (var c = lid; c < cols; c += WG) {
    y[base + c] = weight[c] * (x[base + c] * r);
  }
}
