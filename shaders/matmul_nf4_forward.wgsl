// matmul_nf4_forward — a frozen NF4 Linear layer's forward (formats.md §1.4, §1.10; W is [N, K]):
//   Y[m, y_col + j] = α·Σ_k X[m, k]·dequant(W)[j, k] + β·Y[m, y_col + j]
// for one row chunk of W (j < rows; y_col = the chunk's first row, so each chunk writes its own
// columns of Y). W is dequantized while it is staged into workgroup memory, never as a whole.
// β = 0 never reads Y. Nothing is saved for backward.
//
// Dispatch: (ceil(rows / (8·WG_COLS)), ceil(M / (8·WG_ROWS))) workgroups of WG_COLS × WG_ROWS
// threads; thread (tx, ty) owns Y[row0 + 8ty .. +7, col0 + 8tx .. +7] in four 4×4 register
// blocks. Each TILE_K-deep step stages X (k-major, 4 rows per vec4) and W (k-major, 4 rows of W
// per vec4; one packed word = 8 values along k of one row), then every thread does 8×8
// multiply-adds per k.

struct Params { m: u32, n: u32, k: u32, y_col: u32, rows: u32, group0: u32, alpha: f32, beta: f32 }
// n: columns of Y (all of W's rows); group0: global index of the chunk's first 256-block group

override WG_ROWS: u32 = 8;
override WG_COLS: u32 = 8;
override TILE_K: u32 = 16; // a multiple of 8
override DQ: bool = false; // absmax holds u8 indices (double quantization)
override K_ALIGNED: bool = true; // K % 8 == 0: 8 values along k are one packed word, one block

@group(0) @binding(0) var<storage, read> x: array<f32>; // (M, K)
@group(0) @binding(1) var<storage, read> packed: array<u32>; // (ceil(rows·K / 8)) this chunk's nibbles
@group(0) @binding(2) var<storage, read> absmax: array<u32>; // (chunk blocks) f32 bits, or u8 ×4 with DQ
@group(0) @binding(3) var<storage, read> stats: array<f32>; // (260 + groups) map, offset, nested_absmax
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (M, N)
@group(0) @binding(5) var<uniform> params: Params;

// x_tile[kk·2·WG_ROWS + a] = X[row0 + 4a .. +3, k0 + kk]; w_tile[kk·2·WG_COLS + b] = W[col0 + 4b .. +3, k0 + kk].
var<workgroup> x_tile: array<vec4f, TILE_K * 2u * WG_ROWS>; // (TILE_K, 8·WG_ROWS)
var<workgroup> w_tile: array<vec4f, TILE_K * 2u * WG_COLS>; // (TILE_K, 8·WG_COLS)
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

fn w_row(j: u32, k: u32) -> Run8 {
  if (j < params.rows) {
    return w_run8(j, k);
  }
  return Run8(vec4f(0.0), vec4f(0.0));
}

// a·bᵀ as columns: column i is row i of the 4×4 output block.
fn outer(a: vec4f, b: vec4f) -> mat4x4f {
  return mat4x4f(a.x * b, a.y * b, a.z * b, a.w * b);
}

// Rows m .. m+3, chunk columns col .. col+3 of Y, from a 4×4 block; bounds-checked (any N).
fn store_block(m: u32, col: u32, acc: mat4x4f) {
  for (var i = 0u; i < 4u; i++) {
    if (m + i >= params.m) { return; }
    for (var j = 0u; j < 4u; j++) {
      if (col + j < params.rows) {
        let at = (m + i) * params.n + params.y_col + col + j;
        var out = params.alpha * acc[i][j];
        if (params.beta != 0.0) { out += params.beta * y[at]; }
        y[at] = out;
      }
    }
  }
}

@compute @workgroup_size(WG_COLS, WG_ROWS)
fn matmul_nf4_forward(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3u,
) {
  let row0 = wg.y * 8u * WG_ROWS;
  let col0 = wg.x * 8u * WG_COLS;
  let threads = WG_ROWS * WG_COLS;
  let runs = TILE_K / 8u; // packed words per W row per step
  for (var i = li; i < 16u; i += threads) { code[i] = NF4_CODE[i]; }
  workgroupBarrier();
  var acc00 = mat4x4f();
  var acc01 = mat4x4f();
  var acc10 = mat4x4f();
  var acc11 = mat4x4f();

  for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
    // Consecutive threads read consecutive k of the same 4 rows of X.
    for (var i = li; i < 2u * WG_ROWS * TILE_K; i += threads) {
      let a = i / TILE_K;
      let kk = i % TILE_K;
      let k = k0 + kk;
      var v = vec4f(0.0);
      if (k < params.k) {
        for (var r = 0u; r < 4u; r++) {
          let m = row0 + 4u * a + r;
          if (m < params.m) { v[r] = x[m * params.k + k]; }
        }
      }
      x_tile[kk * 2u * WG_ROWS + a] = v;
    }
    // One unit: 4 rows of W × 8 values along k, transposed into 8 vec4s of the k-major tile.
    for (var i = li; i < 2u * WG_COLS * runs; i += threads) {
      let b = i / runs;
      let kk = (i % runs) * 8u;
      let j = col0 + 4u * b;
      let r0 = w_row(j, k0 + kk);
      let r1 = w_row(j + 1u, k0 + kk);
      let r2 = w_row(j + 2u, k0 + kk);
      let r3 = w_row(j + 3u, k0 + kk);
      let lo = transpose(mat4x4f(r0.lo, r1.lo, r2.lo, r3.lo));
      let hi = transpose(mat4x4f(r0.hi, r1.hi, r2.hi, r3.hi));
      let at = kk * 2u * WG_COLS + b;
      for (var c = 0u; c < 4u; c++) {
        w_tile[at + c * 2u * WG_COLS] = lo[c];
        w_tile[at + (4u + c) * 2u * WG_COLS] = hi[c];
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let a = kk * 2u * WG_ROWS + 2u * lid.y;
      let b = kk * 2u * WG_COLS + 2u * lid.x;
      let a0 = x_tile[a];
      let a1 = x_tile[a + 1u];
      let b0 = w_tile[b];
      let b1 = w_tile[b + 1u];
      acc00 += outer(a0, b0);
      acc01 += outer(a0, b1);
      acc10 += outer(a1, b0);
      acc11 += outer(a1, b1);
    }
    workgroupBarrier();
  }

  let m = row0 + 8u * lid.y;
  let col = col0 + 8u * lid.x;
  store_block(m, col, acc00);
  store_block(m, col + 4u, acc01);
  store_block(m + 4u, col, acc10);
  store_block(m + 4u, col + 4u, acc11);
}
