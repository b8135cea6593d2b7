// swiglu_backward — gradients of a = silu(g) ⊙ u from da, with s = σ(g) recomputed from the
// saved g:
//   dg = da·u·s·(1 + g·(1 − s)),  du = da·silu(g) = da·g·s
// (the derivative of g·σ(g)). Elementwise over n = tokens·intermediate; dg and du must not alias
// da, g or u.
//
// Dispatch: one thread per element, in workgroups of WG, as grid(ceil(n / WG)) over (x, y).

override WG: u32 = 256;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> dout: array<f32>; // (tokens, I)
@group(0) @binding(1) var<storage, read> gate: array<f32>; // (tokens, I)
@group(0) @binding(2) var<storage, read> up: array<f32>; // (tokens, I)
@group(0) @binding(3) var<storage, read_write> dgate: array<f32>; // (tokens, I)
@group(0) @binding(4) var<storage, read_write> dup: array<f32>; // (tokens, I)
@group(0) @binding(5) var<uniform> params: Params;

fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let g = gate[i];
  let s = sigmoid(g);
  let da = dout[i];
  dgate[i] = da * up[i] * s * (1.0 + g * (1.0 - s));
  dup[i] = da * g * s;
}
