// rope_backward — the adjoint of rope_forward, in place on dq (rows, n_heads·D) or dk
// (rows, n_kv·D). The forward rotates each pair (i, i + D/2) by θ = f32(pos[t])·inv_freq[i]; the
// rotation is orthogonal, so its transpose is the rotation by −θ:
//   g[i]       ← g[i]·cosθ + g[i + D/2]·sinθ
//   g[i + D/2] ← g[i + D/2]·cosθ − g[i]·sinθ
// θ is recomputed from the positions, and sin_cos (lib/sin_cos.wgsl) used, as in rope_forward.
//
// Dispatch: one thread per pair, rows·heads·D/2 threads in workgroups of WG, as grid(ceil(n / WG))
// over (x, y).

override WG: u32 = 256;

struct Params { rows: u32, heads: u32, head_dim: u32 }

@group(0) @binding(0) var<storage, read_write> grad: array<f32>; // (rows, heads·D), in place
@group(0) @binding(1) var<storage, read> positions: array<i32>; // (rows)
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>; // (D/2)
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn rope_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.rows * params.heads * (params.head_dim / 2u)) { return; }
  let pair = rope_pair(i); // lib/rope_pair.wgsl
  let s = pair.s;
  let c = pair.c;
  let a = grad[pair.at];
  let b = grad[pair.at + pair.half];
  grad[pair.at] = a * c + b * s;
  grad[pair.at + pair.half] = b * c - a * s;
}
