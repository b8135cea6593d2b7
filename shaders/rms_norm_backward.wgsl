// rms_norm_backward — dx of RMSNorm (weight frozen, so no dweight). With g = weight ⊙ dy and
// r = rstd saved by rms_norm_forward, per row of C:
//   dx = r·(g − x·r²·mean(g ⊙ x))            (∂r/∂x_j = −r³·x_j / C)
// With ACCUMULATE the result is added to dx (the residual stream's gradient already held there)
// instead of overwriting it. dx must not alias dy or x.
//
// Dispatch: one workgroup of WG threads per row, grid(rows) workgroups over (x, y); the dot
// product g·x is reduced by lib/workgroup_sum.wgsl, then each thread writes its columns.

override WG: u32 = 256; // a power of two
override ACCUMULATE: bool = false;

struct Params { rows: u32, cols: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>; // (rows, C)
@group(0) @binding(1) var<storage, read> x: array<f32>; // (rows, C) — the forward input
@group(0) @binding(2) var<storage, read> weight: array<f32>; // (C)
@group(0) @binding(3) var<storage, read> rstd: array<f32>; // (rows)
@group(0) @binding(4) var<storage, read_write> dx: array<f32>; // (rows, C)
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn rms_norm_backward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; } // uniform across the workgroup
  let cols = params.cols;
  let base = row * cols;

  var dot = 0.0;
  for (var c = lid; c < cols; c += WG) {
    dot += weight[c] * dy[base + c] * x[base + c];
  }

  let r = rstd[row];
  let k = r * r * workgroup_sum(lid, dot) / f32(cols);
  for (var c = lid; c < cols; c += WG) {
    let i = base + c;
    let v = r * (weight[c] * dy[i] - x[i] * k);
    if (ACCUMULATE) { dx[i] += v; } else { dx[i] = v; }
  }
}
