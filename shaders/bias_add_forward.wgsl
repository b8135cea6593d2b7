// bias_add_forward — y += bias broadcast over rows, in place: y[t, c] += bias[c]. For Qwen2's
// q/k/v projection biases (formats.md §4.4) when the projection itself did not add them. The
// biases are frozen base weights, so there is no backward (dy passes through unchanged).
//
// Dispatch: one thread per element of y, rows·C threads in workgroups of WG, as
// grid(ceil(n / WG)) over (x, y).

override WG: u32 = 256;

struct Params { rows: u32, cols: u32 }

@group(0) @binding(0) var<storage, read_write> y: array<f32>; // (rows, C), in place
@group(0) @binding(1) var<storage, read> bias: array<f32>; // (C)
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn bias_add_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.rows * params.cols) { return; }
  y[i] += bias[i % params.cols];
}
