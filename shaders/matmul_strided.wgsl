// matmul_strided — the bounds-checked path for shapes the vec4 kernels cannot take (a dimension
// or a chunk start that is not a multiple of 4). One kernel for all three Linear forms, because
// they differ only in strides:
//   C[r, c] = α·Σ_d A[r, d]·B[d, c] + bias[bias_col + c] + β·C[r, c]
//   A[r, d] = a[a_offset + r·a_row_stride + d·a_depth_stride]
//   B[d, c] = b[b_offset + d·b_depth_stride + c·b_col_stride]
//   C[r, c] = out[c_offset + r·c_row_stride + c]
// forward Y = X·Wᵀ: A = X, B[k, j] = W[j, k]; backward dX = dY·W: A = dY[:, chunk], B = W;
// backward dW = dYᵀ·X: A[j, m] = dY[m, chunk + j], B = X. β = 0 never reads C.
//
// Dispatch: (ceil(cols / (8·WG_COLS)), ceil(rows / (8·WG_ROWS))) workgroups of WG_COLS × WG_ROWS
// threads; thread (tx, ty) owns C[row0 + 8ty .. +7, col0 + 8tx .. +7] in four 4×4 register
// blocks, from TILE_K-deep tiles of A and B staged in workgroup memory with scalar, bounds-checked
// loads.

struct Params {
  rows: u32,
  cols: u32,
  depth: u32,
  a_offset: u32,
  a_row_stride: u32,
  a_depth_stride: u32,
  b_offset: u32,
  b_depth_stride: u32,
  b_col_stride: u32,
  c_offset: u32,
  c_row_stride: u32,
  bias_col: u32,
  has_bias: u32,
  alpha: f32,
  beta: f32,
}

override WG_ROWS: u32 = 8;
override WG_COLS: u32 = 8;
override TILE_K: u32 = 16;

@group(0) @binding(0) var<storage, read> a: array<f32>; // A as described by the a_* strides
@group(0) @binding(1) var<storage, read> b: array<f32>; // B as described by the b_* strides
@group(0) @binding(2) var<storage, read> bias: array<f32>; // (bias_col + cols) — read only when has_bias = 1
@group(0) @binding(3) var<storage, read_write> c: array<f32>; // (rows, c_row_stride) from c_offset
@group(0) @binding(4) var<uniform> params: Params;

// A and B go into lib/register_tile.wgsl's a_tile and b_tile one scalar at a time.

fn store_row(r: u32, col: u32, v: vec4f) {
  if (r >= params.rows) { return; }
  for (var i = 0u; i < 4u; i++) {
    let x = col + i;
    if (x >= params.cols) { return; }
    let at = params.c_offset + r * params.c_row_stride + x;
    var out = params.alpha * v[i];
    if (params.has_bias != 0u) { out += bias[params.bias_col + x]; }
    if (params.beta != 0.0) { out += params.beta * c[at]; }
    c[at] = out;
  }
}

fn store_block(r: u32, col: u32, acc: mat4x4f) {
  store_row(r, col, acc[0]);
  store_row(r + 1u, col, acc[1]);
  store_row(r + 2u, col, acc[2]);
  store_row(r + 3u, col, acc[3]);
}

@compute @workgroup_size(WG_COLS, WG_ROWS)
fn matmul_strided(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3u,
) {
  let row0 = wg.y * 8u * WG_ROWS;
  let col0 = wg.x * 8u * WG_COLS;
  let threads = WG_ROWS * WG_COLS;
  var acc = Tile8x8();

  for (var d0 = 0u; d0 < params.depth; d0 += TILE_K) {
    for (var i = li; i < 8u * WG_ROWS * TILE_K; i += threads) {
      let r = i / TILE_K;
      let d = i % TILE_K;
      var v = 0.0;
      if (row0 + r < params.rows && d0 + d < params.depth) {
        v = a[params.a_offset + (row0 + r) * params.a_row_stride + (d0 + d) * params.a_depth_stride];
      }
      a_tile[d * 2u * WG_ROWS + r / 4u][r % 4u] = v;
    }
    for (var i = li; i < 8u * WG_COLS * TILE_K; i += threads) {
      let d = i / (8u * WG_COLS);
      let x = i % (8u * WG_COLS);
      var v = 0.0;
      if (d0 + d < params.depth && col0 + x < params.cols) {
        v = b[params.b_offset + (d0 + d) * params.b_depth_stride + (col0 + x) * params.b_col_stride];
      }
      b_tile[d * 2u * WG_COLS + x / 4u][x % 4u] = v;
    }
    workgroupBarrier();
    acc = tile_multiply(acc, lid);
    workgroupBarrier();
  }

  tile_store(acc, row0 + 8u * lid.y, col0 + 8u * lid.x);
}
