// NF4 dequantization (formats.md §1.4, §1.5): w[e] = code[nibble e] · absmax[e / 64], where with
// double quantization absmax[b] = map[q[b]] · nested_absmax[b / 256] + offset.
// Dispatch: 64 threads per workgroup, 2-D grid; thread i handles packed word (src_offset / 8) + i,
// writing its elements that fall inside [src_offset, src_offset + count).

struct Params { src_offset: u32, dst_offset: u32, count: u32, group0: u32 }
// src_offset: first element of the range in the NF4 chunk; dst_offset: in the output chunk;
// count: elements; group0: global index of the NF4 chunk's first 256-block group

@group(0) @binding(0) var<storage, read> packed: array<u32>;       // (ceil(chunk elements / 8)) nibbles
@group(0) @binding(1) var<storage, read> absmax: array<u32>;       // (chunk blocks) f32 bits, or u8 ×4 with DQ
@group(0) @binding(2) var<storage, read> stats: array<f32>;        // (260 + groups) map, offset, nested_absmax
@group(0) @binding(3) var<storage, read_write> out: array<f32>;    // (output chunk rows · cols)
@group(0) @binding(4) var<uniform> params: Params;

override DQ: bool = false;

fn block_absmax(b: u32) -> f32 {
  if (DQ) {
    let q = (absmax[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
    return stats[q] * stats[NF4_STATS_NESTED + params.group0 + (b >> 8u)] + stats[NF4_STATS_OFFSET];
  }
  return bitcast<f32>(absmax[b]);
}

@compute @workgroup_size(64)
fn nf4_dequantize(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let word = params.src_offset / 8u + gid.x + gid.y * nwg.x * 64u;
  let first = word * 8u;
  let end = params.src_offset + params.count;
  if (first >= end) {
    return;
  }
  let bits = packed[word];
  let scale = block_absmax(first / 64u);
  for (var j = 0u; j < 8u; j++) {
    let e = first + j;
    if (e >= params.src_offset && e < end) {
      out[params.dst_offset + e - params.src_offset] = NF4_CODE[(bits >> nf4_shift(j)) & 15u] * scale;
    }
  }
}
