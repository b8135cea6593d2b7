// add_forward — the residual add, out = a + b, elementwise over n = tokens·C. A new buffer rather
// than in place because the RMSNorm backward of the next sub-block needs its input (the sum) and
// the caller keeps a as the input of this one. No backward kernel: the gradient passes to both.
//
// Dispatch: one thread per element, in workgroups of WG, as grid(ceil(n / WG)) over (x, y).

override WG: u32 = 256;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>; // (tokens, C)
@group(0) @binding(1) var<storage, read> b: array<f32>; // (tokens, C)
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // (tokens, C)
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn add_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  out[i] = a[i] + b[i];
}
