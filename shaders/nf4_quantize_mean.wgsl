// Double quantization's offset (formats.md §1.5): offset = mean(absmax) over the whole tensor,
// from the per-group tree sums of nf4_quantize_blocks. Lane t sums groups t, t+256, … in order,
// then a pairwise tree over the 256 lanes, then an exactly rounded division by the block count:
// the order src/formats/nf4.ts absmaxMean() reproduces (not torch's own order). f32(blocks) is
// exact below 2^24 blocks (2^30 elements in one tensor); past that the CPU and GPU may part by an ulp.
// Dispatch: one workgroup of 256 threads.

struct Params { groups: u32, blocks: u32 }

@group(0) @binding(0) var<storage, read> partials: array<f32>;   // (groups) absmax sum per 256 blocks
@group(0) @binding(1) var<storage, read_write> stats: array<f32>; // (260 + groups) writes [256] = offset
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn nf4_quantize_mean(@builtin(local_invocation_index) t: u32) {
  var acc = 0.0;
  for (var g = t; g < params.groups; g += 256u) {
    acc += partials[g];
  }
  sums[t] = acc;
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (t < stride) {
      sums[t] += sums[t + stride];
    }
  }
  if (t == 0u) {
    stats[NF4_STATS_OFFSET] = nf4_div_exact(sums[0], f32(params.blocks));
  }
}
