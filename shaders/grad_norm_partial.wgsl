// Global gradient norm, pass 1 of 2: sums of squares of one gradient tensor, per workgroup.
//   partials[2·(slot + w)]     = Σ g²  over elements [w·CHUNK, (w+1)·CHUNK) of this tensor
//   partials[2·(slot + w) + 1] = 1 if any of them is NaN or ±inf, else 0
// with CHUNK = WG·PER_THREAD. The launcher gives each tensor its own run of slots, so every
// partial lands in a fixed place and grad_norm_finish adds them in a fixed order: the norm is
// deterministic, without float atomics.
// Dispatch: ceil(count / CHUNK) workgroups of WG threads (spread over x, y), once per tensor.
// Thread i of workgroup w sums elements w·CHUNK + i + k·WG, k < PER_THREAD; then a tree.

override WG: u32 = 256u; // a power of two (tree reduction)
override PER_THREAD: u32 = 16u;

struct Params { count: u32, offset: u32, slot: u32 }

@group(0) @binding(0) var<storage, read> grad: array<f32>;           // (offset + count) elements
@group(0) @binding(1) var<storage, read_write> partials: array<f32>; // (slots, 2)
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> red_sum: array<f32, WG>;
var<workgroup> red_bad: array<u32, WG>;

// By the bits: WGSL lets compilers assume floats are finite, so x != x may be folded away.
fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WG)
fn grad_norm_partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let w = wid.x + wid.y * nwg.x;
  let chunk = WG * PER_THREAD;
  var s = 0.0;
  var bad = 0u;
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = w * chunk + k * WG + tid;
    if (i < params.count) {
      let g = grad[params.offset + i];
      s += g * g;
      bad |= select(1u, 0u, is_finite(g));
    }
  }
  red_sum[tid] = s;
  red_bad[tid] = bad;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) {
      red_sum[tid] += red_sum[tid + stride];
      red_bad[tid] |= red_bad[tid + stride];
    }
    workgroupBarrier();
  }
  if (tid == 0u && w * chunk < params.count) {
    partials[2u * (params.slot + w)] = red_sum[0];
    partials[2u * (params.slot + w) + 1u] = f32(red_bad[0]);
  }
}
