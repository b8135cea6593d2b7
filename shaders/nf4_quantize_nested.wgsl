// Double quantization, second level (formats.md §1.5): quantize_blockwise(absmax − offset,
// dynamic map, blocksize 256) for the groups of one NF4 chunk:
//   nested_absmax[g] = max |absmax − offset| over the group,
//   q[b] = bucketize(clamp((absmax[b] − offset) · (1/nested_absmax[g]), -1, 1), map midpoints)
// (ties to the lower index; a group with nested_absmax 0 gets the index of 0.0).
// Dispatch: one workgroup of 256 threads per group (2-D grid), thread t handles block t.

struct Params { blocks: u32, group0: u32 }
// blocks: blocks in this chunk; group0: global index of the chunk's first group

@group(0) @binding(0) var<storage, read> absmax: array<f32>;         // (chunk blocks) first-level absmax
@group(0) @binding(1) var<storage, read_write> qabsmax: array<u32>;  // (ceil(chunk blocks / 4)) u8 ×4
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;    // (260 + groups) reads the map and offset, writes nested_absmax
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> mid: array<f32, 255>;
var<workgroup> red: array<f32, 256>;
var<workgroup> idx: array<u32, 256>;

// How many midpoints lie strictly below s (binary search; the map is ascending).
fn bucketize8(s: f32) -> u32 {
  var lo = 0u;
  var hi = 255u;
  while (lo < hi) {
    let m = (lo + hi) / 2u;
    if (mid[m] < s) {
      lo = m + 1u;
    } else {
      hi = m;
    }
  }
  return lo;
}

@compute @workgroup_size(256)
fn nf4_quantize_nested(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) t: u32,
) {
  let group = wg.x + wg.y * nwg.x;
  let b = group * 256u + t;
  if (t < 255u) {
    mid[t] = (stats[t] + stats[t + 1u]) * 0.5;
  }
  var x = 0.0;
  if (b < params.blocks) {
    x = absmax[b] - stats[NF4_STATS_OFFSET];
  }
  red[t] = abs(x);
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (t < stride) {
      red[t] = max(red[t], red[t + stride]);
    }
  }
  workgroupBarrier();
  let m = red[0];
  var s = 0.0;
  if (m > 0.0) {
    s = clamp(x * nf4_div_exact(1.0, m), -1.0, 1.0);
  }
  idx[t] = bucketize8(s);
  workgroupBarrier();
  if (t < 64u && group * 256u + 4u * t < params.blocks) {
    let i = 4u * t;
    qabsmax[group * 64u + t] = idx[i] | (idx[i + 1u] << 8u) | (idx[i + 2u] << 16u) | (idx[i + 3u] << 24u);
  }
  if (t == 0u) {
    stats[NF4_STATS_NESTED + params.group0 + group] = m;
  }
}
