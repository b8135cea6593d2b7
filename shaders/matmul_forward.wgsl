// matmul_forward — the forward of a Linear layer (PyTorch layout, W is [N, K]):
//   Y[m, y_col + j] = α·Σ_k X[m, k]·W[j, k] + bias[y_col + j] + β·Y[m, y_col + j]
// W may be one row chunk of a split weight: j runs over the chunk's n rows and y_col is the
// chunk's first row, so each chunk writes its own columns of Y. β = 0 never reads Y.
// Fast path only: K, ldy, y_col and n are multiples of 4 (vec4 loads and stores). Other shapes go
// through matmul_strided. Nothing is saved for backward (X and W are the inputs).
//
// Dispatch: (ceil(n / (4·WG_COLS)), ceil(M / (4·WG_ROWS))) workgroups of WG_COLS × WG_ROWS
// threads; thread (tx, ty) owns the 4×4 block Y[row0 + 4ty .. +3, col0 + 4tx .. +3], built from
// TILE_K-deep tiles of X and W staged (transposed, k-major) in workgroup memory.

struct Params { m: u32, n: u32, k: u32, ldy: u32, y_col: u32, has_bias: u32, alpha: f32, beta: f32 }

override WG_ROWS: u32 = 16;
override WG_COLS: u32 = 16;
override TILE_K: u32 = 16; // a multiple of 4

@group(0) @binding(0) var<storage, read> x: array<vec4f>; // (M, K/4)
@group(0) @binding(1) var<storage, read> w: array<vec4f>; // (n, K/4) — this chunk's rows of W
@group(0) @binding(2) var<storage, read> bias: array<f32>; // (N) — read only when has_bias = 1
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>; // (M, ldy/4)
@group(0) @binding(4) var<uniform> params: Params;

// x_tile[kk·WG_ROWS + r/4][r%4] = X[row0 + r, k0 + kk]; w_tile likewise with the rows of W.
var<workgroup> x_tile: array<vec4f, TILE_K * WG_ROWS>; // (TILE_K, 4·WG_ROWS)
var<workgroup> w_tile: array<vec4f, TILE_K * WG_COLS>; // (TILE_K, 4·WG_COLS)

// Scatters 4 consecutive k of row r into component r%4 of tile rows k, k+1, k+2, k+3.
fn stage_x(at: u32, r: u32, v: vec4f) {
  x_tile[at][r % 4u] = v.x;
  x_tile[at + WG_ROWS][r % 4u] = v.y;
  x_tile[at + 2u * WG_ROWS][r % 4u] = v.z;
  x_tile[at + 3u * WG_ROWS][r % 4u] = v.w;
}

fn stage_w(at: u32, r: u32, v: vec4f) {
  w_tile[at][r % 4u] = v.x;
  w_tile[at + WG_COLS][r % 4u] = v.y;
  w_tile[at + 2u * WG_COLS][r % 4u] = v.z;
  w_tile[at + 3u * WG_COLS][r % 4u] = v.w;
}

fn store(m: u32, c4: u32, v: vec4f, b: vec4f) {
  if (m >= params.m) { return; }
  let at = m * (params.ldy / 4u) + c4;
  var out = params.alpha * v + b;
  if (params.beta != 0.0) { out += params.beta * y[at]; }
  y[at] = out;
}

@compute @workgroup_size(WG_COLS, WG_ROWS)
fn matmul_forward(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3u,
) {
  let row0 = wg.y * 4u * WG_ROWS;
  let col0 = wg.x * 4u * WG_COLS;
  let k4 = params.k / 4u;
  let threads = WG_ROWS * WG_COLS;
  let quads = TILE_K / 4u; // vec4 loads per tile row
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);

  for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
    // Consecutive threads read consecutive vec4s along k of one row (coalesced loads).
    for (var i = li; i < 4u * WG_ROWS * quads; i += threads) {
      let r = i / quads;
      let q = i % quads;
      let m = row0 + r;
      let kq = k0 / 4u + q;
      var v = vec4f(0.0);
      if (m < params.m && kq < k4) { v = x[m * k4 + kq]; }
      stage_x(4u * q * WG_ROWS + r / 4u, r, v);
    }
    for (var i = li; i < 4u * WG_COLS * quads; i += threads) {
      let r = i / quads;
      let q = i % quads;
      let j = col0 + r;
      let kq = k0 / 4u + q;
      var v = vec4f(0.0);
      if (j < params.n && kq < k4) { v = w[j * k4 + kq]; }
      stage_w(4u * q * WG_COLS + r / 4u, r, v);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let a = x_tile[kk * WG_ROWS + lid.y];
      let b = w_tile[kk * WG_COLS + lid.x];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }

  let col = col0 + 4u * lid.x;
  if (col >= params.n) { return; }
  var b = vec4f(0.0);
  if (params.has_bias != 0u) {
    let at = params.y_col + col;
    b = vec4f(bias[at], bias[at + 1u], bias[at + 2u], bias[at + 3u]);
  }
  let c4 = (params.y_col + col) / 4u;
  let m = row0 + 4u * lid.y;
  store(m, c4, acc0, b);
  store(m + 1u, c4, acc1, b);
  store(m + 2u, c4, acc2, b);
  store(m + 3u, c4, acc3, b);
}
