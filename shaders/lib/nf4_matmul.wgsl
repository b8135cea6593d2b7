// Reading W from NF4 storage inside the matmuls (matmul_nf4_forward, matmul_nf4_dx): a run of 8
// dequantized values along one row of a row chunk of W (formats.md §1.4, §1.5, §1.10).
// Needs lib/nf4.wgsl. Contract with the shader that includes this file: it declares
// - `override DQ: bool` (absmax holds u8 indices) and `override K_ALIGNED: bool` (K % 8 == 0);
// - the bindings `packed: array<u32>` (the chunk's nibbles), `absmax: array<u32>` (f32 bits, or
//   u8 ×4 with DQ) and `stats: array<f32>` (the nf4_tensor.ts layout);
// - a uniform `params` with `k: u32` (W's row length) and `group0: u32` (global index of the
//   chunk's first 256-block group);
// - and fills `code` from NF4_CODE, then workgroupBarrier(), before the first w_run8.

var<workgroup> code: array<f32, 16>; // the NF4 code, read with a runtime index

// absmax of chunk-local block b (§1.5 with DQ).
fn w_scale(b: u32) -> f32 {
  if (DQ) {
    let q = (absmax[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
    return stats[q] * stats[NF4_STATS_NESTED + params.group0 + (b >> 8u)] + stats[NF4_STATS_OFFSET];
  }
  return bitcast<f32>(absmax[b]);
}

struct Run8 { lo: vec4f, hi: vec4f }

// dequant(W)[row, k .. k+7] of this chunk, zero past K; k is a multiple of 8, row < rows.
fn w_run8(row: u32, k: u32) -> Run8 {
  var lo = vec4f(0.0);
  var hi = vec4f(0.0);
  if (K_ALIGNED) {
    if (k < params.k) {
      let e = row * params.k + k;
      let bits = packed[e >> 3u];
      let s = w_scale(e >> 6u);
      lo = s * vec4f(code[(bits >> 4u) & 15u], code[bits & 15u], code[(bits >> 12u) & 15u], code[(bits >> 8u) & 15u]);
      hi = s * vec4f(code[(bits >> 20u) & 15u], code[(bits >> 16u) & 15u], code[(bits >> 28u) & 15u], code[(bits >> 24u) & 15u]);
    }
  } else {
    for (var j = 0u; j < 4u; j++) {
      if (k + j < params.k) {
        let e = row * params.k + k + j;
        lo[j] = code[(packed[e >> 3u] >> nf4_shift(e & 7u)) & 15u] * w_scale(e >> 6u);
      }
      if (k + 4u + j < params.k) {
        let e = row * params.k + k + 4u + j;
        hi[j] = code[(packed[e >> 3u] >> nf4_shift(e & 7u)) & 15u] * w_scale(e >> 6u);
      }
    }
  }
  return Run8(lo, hi);
}
