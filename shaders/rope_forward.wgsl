// rope_forward — rotary position embedding in place, HF half-split ("rotate_half") layout
// (formats.md §4.3). For token row t, head h, i < D/2, with θ = f32(pos[t])·inv_freq[i]:
//   x[i]       ← x[i]·cosθ − x[i + D/2]·sinθ
//   x[i + D/2] ← x[i + D/2]·cosθ + x[i]·sinθ
// Runs on q (rows, n_heads·D) and on k (rows, n_kv·D) with one dispatch each. θ is the f32
// product torch forms; its sine and cosine come from lib/sin_cos.wgsl (prepended by the
// launcher), accurate where the built-in sin/cos are not.
//
// Dispatch: one thread per rotated pair, rows·heads·D/2 threads in workgroups of WG, as
// grid(ceil(n / WG)) over (x, y). Nothing is saved: the backward recomputes θ from the positions.

override WG: u32 = 256;

struct Params { rows: u32, heads: u32, head_dim: u32 }

@group(0) @binding(0) var<storage, read_write> x: array<f32>; // (rows, heads·D), in place
@group(0) @binding(1) var<storage, read> positions: array<i32>; // (rows)
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>; // (D/2)
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn rope_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.rows * params.heads * (params.head_dim / 2u)) { return; }
  let pair = rope_pair(i); // lib/rope_pair.wgsl
  let s = pair.s;
  let c = pair.c;
  let a = x[pair.at];
  let b = x[pair.at + pair.half];
  x[pair.at] = a * c - b * s;
  x[pair.at + pair.half] = b * c + a * s;
}
