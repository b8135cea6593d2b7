// The register tile shared by the tiled matmuls (matmul_forward, matmul_backward_input,
// matmul_backward_weight, matmul_strided, matmul_nf4_forward, matmul_nf4_dx): C = A·B, where
// thread (tx, ty) of a WG_COLS × WG_ROWS workgroup owns C[row0 + 8ty .. +7, col0 + 8tx .. +7] as
// four 4×4 register blocks, built from TILE_K-deep tiles of A and B staged depth-major:
//   a_tile[d·2·WG_ROWS + r/4][r%4] = A[row0 + r, d0 + d]   r < 8·WG_ROWS
//   b_tile[d·2·WG_COLS + c/4][c%4] = B[d0 + d, col0 + c]   c < 8·WG_COLS
// Contract with the shader that includes this file:
// - it declares `override WG_ROWS: u32`, `override WG_COLS: u32`, `override TILE_K: u32`;
// - for each depth step it fills a_tile and b_tile (zero past the edges), workgroupBarrier(),
//   tile_multiply(), workgroupBarrier();
// - it defines `fn store_block(row: u32, col: u32, acc: mat4x4f)`, the bounds-checked α/β store of
//   C[row .. row+3, col .. col+3] from acc[i][j] = C[row + i, col + j], which tile_store() calls.

var<workgroup> a_tile: array<vec4f, TILE_K * 2u * WG_ROWS>; // (TILE_K, 8·WG_ROWS)
var<workgroup> b_tile: array<vec4f, TILE_K * 2u * WG_COLS>; // (TILE_K, 8·WG_COLS)

// One thread's 8×8 accumulator: c01 = rows 0..3, columns 4..7, and so on.
struct Tile8x8 { c00: mat4x4f, c01: mat4x4f, c10: mat4x4f, c11: mat4x4f }

// a·bᵀ as columns: column i is row i of the 4×4 output block.
fn outer(a: vec4f, b: vec4f) -> mat4x4f {
  return mat4x4f(a.x * b, a.y * b, a.z * b, a.w * b);
}

// acc + the product of the staged tiles: TILE_K rank-1 updates, in depth order.
fn tile_multiply(acc: Tile8x8, lid: vec3u) -> Tile8x8 {
  var t = acc;
  for (var d = 0u; d < TILE_K; d++) {
    let a = d * 2u * WG_ROWS + 2u * lid.y;
    let b = d * 2u * WG_COLS + 2u * lid.x;
    let a0 = a_tile[a];
    let a1 = a_tile[a + 1u];
    let b0 = b_tile[b];
    let b1 = b_tile[b + 1u];
    t.c00 += outer(a0, b0);
    t.c01 += outer(a0, b1);
    t.c10 += outer(a1, b0);
    t.c11 += outer(a1, b1);
  }
  return t;
}

// The epilogue: C[row .. row+7, col .. col+7] from the accumulator, one store_block per 4×4 block.
fn tile_store(acc: Tile8x8, row: u32, col: u32) {
  store_block(row, col, acc.c00);
  store_block(row, col + 4u, acc.c01);
  store_block(row + 4u, col, acc.c10);
  store_block(row + 4u, col + 4u, acc.c11);
}

// Stages a vec4 read along the depth (A[row0 + r, d0 + d .. +3], d a multiple of 4) into
// component r%4 of tile rows d .. d+3 of a_tile; stage_b_depth4 likewise for B[d0 + d .. +3, col0 + r].
fn stage_a_depth4(d: u32, r: u32, v: vec4f) {
  let s = 2u * WG_ROWS;
  let at = d * s + r / 4u;
  a_tile[at][r % 4u] = v.x;
  a_tile[at + s][r % 4u] = v.y;
  a_tile[at + 2u * s][r % 4u] = v.z;
  a_tile[at + 3u * s][r % 4u] = v.w;
}

fn stage_b_depth4(d: u32, r: u32, v: vec4f) {
  let s = 2u * WG_COLS;
  let at = d * s + r / 4u;
  b_tile[at][r % 4u] = v.x;
  b_tile[at + s][r % 4u] = v.y;
  b_tile[at + 2u * s][r % 4u] = v.z;
  b_tile[at + 3u * s][r % 4u] = v.w;
}
