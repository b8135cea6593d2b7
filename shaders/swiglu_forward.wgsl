// swiglu_forward — the gated MLP activation (formats.md §4.3 MLP, §4.10):
//   a = silu(g) ⊙ u,  silu(g) = g·σ(g)
// over n = tokens·intermediate values. σ is evaluated as e/(1+e) or 1/(1+e) with e = exp(−|g|),
// so no exp overflows at extreme gates. Saved for backward: g and u themselves (kept by the
// caller; silu is recomputed).
//
// Dispatch: one thread per element, in workgroups of WG, as grid(ceil(n / WG)) over (x, y).

override WG: u32 = 256;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> gate: array<f32>; // (tokens, I)
@group(0) @binding(1) var<storage, read> up: array<f32>; // (tokens, I)
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // (tokens, I)
@group(0) @binding(3) var<uniform> params: Params;

fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

@compute @workgroup_size(WG)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let g = gate[i];
  out[i] = g * sigmoid(g) * up[i];
}
