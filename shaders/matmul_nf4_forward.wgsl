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

// A = X and B = dequant(W)ᵀ in lib/register_tile.wgsl's a_tile and b_tile (both k-major);
// W is read through lib/nf4_matmul.wgsl.

// dequant(W)[j, k .. k+7] of this chunk, zero for a row j past it.
fn w_row(j: u32, k: u32) -> Run8 {
  if (j < params.rows) {
    return w_run8(j, k);
  }
  return Run8(vec4f(0.0), vec4f(0.0));
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
  var acc = Tile8x8();

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
      a_tile[kk * 2u * WG_ROWS + a] = v;
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
        b_tile[at + c * 2u * WG_COLS] = lo[c];
        b_tile[at + (4u + c) * 2u * WG_COLS] = hi[c];
      }
    }
    workgroupBarrier();
    acc = tile_multiply(acc, lid);
    workgroupBarrier();
  }

  tile_store(acc, row0 + 8u * lid.y, col0 + 8u * lid.x);
}
