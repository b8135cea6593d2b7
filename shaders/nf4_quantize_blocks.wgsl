// NF4 quantization, first level (formats.md §1.2, §1.3), for a range of whole 256-block groups:
//   absmax[b] = max |a| over block b (64 elements),  q = bucketize(clamp(a · (1/absmax), -1, 1))
// with 1/absmax rounded exactly (nf4_div_exact) so the codes equal the CPU's bit for bit; an
// all-zero block stores absmax 0 and nibble 7. With double quantization each workgroup also sums
// its group's absmax by a pairwise tree into `partials` (the order absmaxMean() reproduces).
// Dispatch: one workgroup of 256 threads per group of 256 blocks (16384 elements), 2-D grid
// (group = x + y·nx); thread t quantizes block t of the group: 64 reads, 8 packed words, 1 absmax.

struct Params { src_offset: u32, dst_offset: u32, count: u32, group0: u32 }
// src_offset: first element of the range in the source chunk
// dst_offset: first element of the range in the NF4 chunk (a multiple of 16384)
// count: elements in the range; group0: global index of the range's first group

@group(0) @binding(0) var<storage, read> src: array<f32>;            // (chunk rows · cols) source weight
@group(0) @binding(1) var<storage, read_write> packed: array<u32>;   // (ceil(chunk elements / 8)) nibbles
@group(0) @binding(2) var<storage, read_write> absmax: array<f32>;   // (chunk blocks)
@group(0) @binding(3) var<storage, read_write> partials: array<f32>; // (groups of the tensor) DQ only
@group(0) @binding(4) var<uniform> params: Params;

override DQ: bool = false;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn nf4_quantize_blocks(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) t: u32,
) {
  let group = wg.x + wg.y * nwg.x;
  let block = group * 256u + t;
  let start = block * 64u;
  var amax = 0.0;
  if (start < params.count) {
    let end = min(start + 64u, params.count);
    for (var i = start; i < end; i++) {
      amax = max(amax, abs(src[params.src_offset + i]));
    }
    let inv = nf4_div_exact(1.0, amax);
    for (var w = start; w < end; w += 8u) {
      var word = 0u;
      for (var j = 0u; j < 8u; j++) {
        var q = 7u;
        if (w + j < end && amax > 0.0) {
          q = nf4_encode(clamp(src[params.src_offset + w + j] * inv, -1.0, 1.0));
        }
        word |= q << nf4_shift(j);
      }
      packed[(params.dst_offset + w) / 8u] = word;
    }
    absmax[params.dst_offset / 64u + block] = amax;
  }
  if (DQ) {
    sums[t] = amax;
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
      workgroupBarrier();
      if (t < stride) {
        sums[t] += sums[t + stride];
      }
    }
    if (t == 0u) {
      partials[params.group0 + group] = sums[0];
    }
  }
}
