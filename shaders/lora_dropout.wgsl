// lora_dropout — PEFT's nn.Dropout on the input of lora_A (formats.md §2.1), and its adjoint:
//   ACCUMULATE = 0 (forward):   out[i]  = keep(i) ? x[i]·scale : 0      xd = dropout(x)
//   ACCUMULATE = 1 (backward):  out[i] += keep(i) ? x[i]·scale : 0      dx += dropout(dxd)
// with keep(i) = u32_at(key, i) ≥ threshold and scale = 1/(1 − p) (f32), threshold = floor(p·2^32).
// u32_at is train/rng.ts's counter-based stream (mulberry32's output of key + (i+1)·0x6D2B79F5),
// so the mask is a pure function of (key, i): the backward regenerates it instead of storing it.
// i is the flat element index of the (tokens, in) input; key is per target and micro-batch.
//
// Dispatch: one thread per element, in workgroups of WG, as grid(ceil(n / WG)) over (x, y).

override WG: u32 = 256;
override ACCUMULATE: u32 = 0u;

struct Params { n: u32, key: u32, threshold: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>; // (tokens, in): the LoRA input, or dxd in backward
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (tokens, in): xd, or dx accumulated
@group(0) @binding(2) var<uniform> params: Params;

// The index-th u32 of stream `key`; u32 products wrap exactly like Math.imul.
fn u32_at(key: u32, index: u32) -> u32 {
  var t = key + (index + 1u) * 0x6D2B79F5u;
  t = (t ^ (t >> 15u)) * (t | 1u);
  t ^= t + (t ^ (t >> 7u)) * (t | 61u);
  return t ^ (t >> 14u);
}

@compute @workgroup_size(WG)
fn lora_dropout(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let kept = select(0.0, x[i] * params.scale, u32_at(params.key, i) >= params.threshold);
  if (ACCUMULATE != 0u) {
    out[i] += kept;
  } else {
    out[i] = kept;
  }
}
