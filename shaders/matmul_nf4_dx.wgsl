// matmul_nf4_dx — the input gradient through a frozen NF4 Linear layer (formats.md §1.10; W is
// [N, K]; no gradient for W):
//   dX[m, c] = α·Σ_j dY[m, n_start + j]·dequant(W)[j, c] + β·dX[m, c]
// for one row chunk of W (j < rows; n_start = the chunk's first row). The launcher gives the first
// chunk the caller's β and the others β = 1, so the chunks accumulate. β = 0 never reads dX.
// W is dequantized while it is staged into workgroup memory, never as a whole.
//
// Dispatch: (ceil(K / (8·WG_COLS)), ceil(M / (8·WG_ROWS))) workgroups of WG_COLS × WG_ROWS
// threads; thread (tx, ty) owns dX[row0 + 8ty .. +7, col0 + 8tx .. +7] in four 4×4 register
// blocks. Each TILE_K-deep step (along j) stages dY (j-major, 4 rows per vec4) and W rows as they
// lie (one packed word = 8 values along c = two vec4s), then every thread does 8×8
// multiply-adds per j.

struct Params { m: u32, n: u32, k: u32, n_start: u32, rows: u32, group0: u32, alpha: f32, beta: f32 }
// n: columns of dY (all of W's rows); group0: global index of the chunk's first 256-block group

override WG_ROWS: u32 = 8;
override WG_COLS: u32 = 8;
override TILE_K: u32 = 16;
override DQ: bool = false; // absmax holds u8 indices (double quantization)
override K_ALIGNED: bool = true; // K % 8 == 0: 8 values along c are one packed word, one block

@group(0) @binding(0) var<storage, read> dy: array<f32>; // (M, N)
@group(0) @binding(1) var<storage, read> packed: array<u32>; // (ceil(rows·K / 8)) this chunk's nibbles
@group(0) @binding(2) var<storage, read> absmax: array<u32>; // (chunk blocks) f32 bits, or u8 ×4 with DQ
@group(0) @binding(3) var<storage, read> stats: array<f32>; // (260 + groups) map, offset, nested_absmax
@group(0) @binding(4) var<storage, read_write> dx: array<f32>; // (M, K)
@group(0) @binding(5) var<uniform> params: Params;

// A = dY[:, n_start ..] and B = dequant(W) in lib/register_tile.wgsl's a_tile and b_tile (both
// j-major); W is read through lib/nf4_matmul.wgsl.

// Rows m .. m+3, columns col .. col+3 of dX, from a 4×4 block; bounds-checked (any K).
fn store_block(m: u32, col: u32, acc: mat4x4f) {
  for (var i = 0u; i < 4u; i++) {
    if (m + i >= params.m) { return; }
    for (var j = 0u; j < 4u; j++) {
      if (col + j < params.k) {
        let at = (m + i) * params.k + col + j;
        var out = params.alpha * acc[i][j];
        if (params.beta != 0.0) { out += params.beta * dx[at]; }
        dx[at] = out;
      }
    }
  }
}

@compute @workgroup_size(WG_COLS, WG_ROWS)
fn matmul_nf4_dx(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3u,
) {
  let row0 = wg.y * 8u * WG_ROWS;
  let col0 = wg.x * 8u * WG_COLS;
  let threads = WG_ROWS * WG_COLS;
  for (var i = li; i < 16u; i += threads) { code[i] = NF4_CODE[i]; }
  workgroupBarrier();
  var acc = Tile8x8();

  for (var j0 = 0u; j0 < params.rows; j0 += TILE_K) {
    // Consecutive threads read consecutive j of the same 4 rows of dY.
    for (var i = li; i < 2u * WG_ROWS * TILE_K; i += threads) {
      let a = i / TILE_K;
      let jj = i % TILE_K;
      let j = j0 + jj;
      var v = vec4f(0.0);
      if (j < params.rows) {
        for (var r = 0u; r < 4u; r++) {
          let m = row0 + 4u * a + r;
          if (m < params.m) { v[r] = dy[m * params.n + params.n_start + j]; }
        }
      }
      a_tile[jj * 2u * WG_ROWS + a] = v;
    }
    // One unit: 8 values along c of one W row (one packed word when K % 8 == 0).
    for (var i = li; i < TILE_K * WG_COLS; i += threads) {
      let jj = i / WG_COLS;
      let q = i % WG_COLS;
      var run = Run8(vec4f(0.0), vec4f(0.0));
      if (j0 + jj < params.rows) { run = w_run8(j0 + jj, col0 + 8u * q); }
      b_tile[jj * 2u * WG_COLS + 2u * q] = run.lo;
      b_tile[jj * 2u * WG_COLS + 2u * q + 1u] = run.hi;
    }
    workgroupBarrier();
    acc = tile_multiply(acc, lid);
    workgroupBarrier();
  }

  tile_store(acc, row0 + 8u * lid.y, col0 + 8u * lid.x);
}
