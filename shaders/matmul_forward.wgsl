// matmul_forward — the forward of a Linear layer (PyTorch layout, W is [N, K]):
//   Y[m, y_col + j] = α·Σ_k X[m, k]·W[j, k] + bias[y_col + j] + β·Y[m, y_col + j]
// W may be one row chunk of a split weight: j runs over the chunk's n rows and y_col is the
// chunk's first row, so each chunk writes its own columns of Y. β = 0 never reads Y.
// Fast path only: K, ldy, y_col and n are multiples of 4 (vec4 loads and stores). Other shapes go
// through matmul_strided. Nothing is saved for backward (X and W are the inputs).
//
// Dispatch: (ceil(n / (8·WG_COLS)), ceil(M / (8·WG_ROWS))) workgroups of WG_COLS × WG_ROWS
// threads; thread (tx, ty) owns the 8×8 block Y[row0 + 8ty .. +7, col0 + 8tx .. +7] in four 4×4
// register blocks, built from TILE_K-deep tiles of X and W staged k-major in workgroup memory.

struct Params { m: u32, n: u32, k: u32, ldy: u32, y_col: u32, has_bias: u32, alpha: f32, beta: f32 }

override WG_ROWS: u32 = 8;
override WG_COLS: u32 = 8;
override TILE_K: u32 = 16; // a multiple of 4

@group(0) @binding(0) var<storage, read> x: array<vec4f>; // (M, K/4)
@group(0) @binding(1) var<storage, read> w: array<vec4f>; // (n, K/4) — this chunk's rows of W
@group(0) @binding(2) var<storage, read> bias: array<f32>; // (N) — read only when has_bias = 1
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>; // (M, ldy/4)
@group(0) @binding(4) var<uniform> params: Params;

// x_tile[kk·2·WG_ROWS + r/4][r%4] = X[row0 + r, k0 + kk]; w_tile likewise with the rows j of W.
var<workgroup> x_tile: array<vec4f, TILE_K * 2u * WG_ROWS>; // (TILE_K, 8·WG_ROWS)
var<workgroup> w_tile: array<vec4f, TILE_K * 2u * WG_COLS>; // (TILE_K, 8·WG_COLS)

// Scatters 4 consecutive k of tile row r into component r%4 of tile rows k .. k+3.
fn stage_x(at: u32, r: u32, v: vec4f) {
  let s = 2u * WG_ROWS;
  x_tile[at][r % 4u] = v.x;
  x_tile[at + s][r % 4u] = v.y;
  x_tile[at + 2u * s][r % 4u] = v.z;
  x_tile[at + 3u * s][r % 4u] = v.w;
}

fn stage_w(at: u32, r: u32, v: vec4f) {
  let s = 2u * WG_COLS;
  w_tile[at][r % 4u] = v.x;
  w_tile[at + s][r % 4u] = v.y;
  w_tile[at + 2u * s][r % 4u] = v.z;
  w_tile[at + 3u * s][r % 4u] = v.w;
}

// a·bᵀ as columns: column i is row i of the 4×4 output block.
fn outer(a: vec4f, b: vec4f) -> mat4x4f {
  return mat4x4f(a.x * b, a.y * b, a.z * b, a.w * b);
}

fn store(m: u32, c4: u32, v: vec4f) {
  if (m >= params.m) { return; }
  let at = m * (params.ldy / 4u) + c4;
  var out = params.alpha * v;
  if (params.has_bias != 0u) {
    let j = 4u * c4;
    out += vec4f(bias[j], bias[j + 1u], bias[j + 2u], bias[j + 3u]);
  }
  if (params.beta != 0.0) { out += params.beta * y[at]; }
  y[at] = out;
}

// Rows m .. m+3 of one vec4 column c4 of Y (global, in vec4 units), unless past the chunk.
fn store_block(m: u32, c4: u32, acc: mat4x4f) {
  if (4u * c4 >= params.y_col + params.n) { return; }
  store(m, c4, acc[0]);
  store(m + 1u, c4, acc[1]);
  store(m + 2u, c4, acc[2]);
  store(m + 3u, c4, acc[3]);
}

@compute @workgroup_size(WG_COLS, WG_ROWS)
fn matmul_forward(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3u,
) {
  let row0 = wg.y * 8u * WG_ROWS;
  let col0 = wg.x * 8u * WG_COLS;
  let k4 = params.k / 4u;
  let threads = WG_ROWS * WG_COLS;
  let quads = TILE_K / 4u; // vec4 loads per tile row
  var acc00 = mat4x4f();
  var acc01 = mat4x4f();
  var acc10 = mat4x4f();
  var acc11 = mat4x4f();

  for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
    // Consecutive threads read consecutive vec4s along k of one row (coalesced loads).
    for (var i = li; i < 8u * WG_ROWS * quads; i += threads) {
      let r = i / quads;
      let q = i % quads;
      let m = row0 + r;
      let kq = k0 / 4u + q;
      var v = vec4f(0.0);
      if (m < params.m && kq < k4) { v = x[m * k4 + kq]; }
      stage_x(8u * q * WG_ROWS + r / 4u, r, v);
    }
    for (var i = li; i < 8u * WG_COLS * quads; i += threads) {
      let r = i / quads;
      let q = i % quads;
      let j = col0 + r;
      let kq = k0 / 4u + q;
      var v = vec4f(0.0);
      if (j < params.n && kq < k4) { v = w[j * k4 + kq]; }
      stage_w(8u * q * WG_COLS + r / 4u, r, v);
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

  let c4 = (params.y_col + col0) / 4u + 2u * lid.x;
  let m = row0 + 8u * lid.y;
  store_block(m, c4, acc00);
  store_block(m, c4 + 1u, acc01);
  store_block(m + 4u, c4, acc10);
  store_block(m + 4u, c4 + 1u, acc11);
}
