// matmul_backward_input — the gradient of a Linear layer's input (W is [N, K]):
//   dX[m, c] = α·Σ_j dY[m, y_col + j]·W[j, c] + β·dX[m, c]
// W may be one row chunk of a split weight: j runs over the chunk's n rows and y_col is the
// chunk's first row; the launcher gives the first chunk the caller's β and the rest β = 1, so the
// chunks accumulate. β = 0 never reads dX.
// Fast path only: K, ldy, y_col and n are multiples of 4 (vec4 loads and stores). Other shapes go
// through matmul_strided.
//
// Dispatch: (ceil(K / (4·WG_COLS)), ceil(M / (4·WG_ROWS))) workgroups of WG_COLS × WG_ROWS
// threads; thread (tx, ty) owns the 4×4 block dX[row0 + 4ty .. +3, col0 + 4tx .. +3], built from
// TILE_K-deep tiles (along j) of dY (transposed when staged) and W (copied as is).

struct Params { m: u32, n: u32, k: u32, ldy: u32, y_col: u32, alpha: f32, beta: f32 }

override WG_ROWS: u32 = 16;
override WG_COLS: u32 = 16;
override TILE_K: u32 = 16; // a multiple of 4

@group(0) @binding(0) var<storage, read> dy: array<vec4f>; // (M, ldy/4)
@group(0) @binding(1) var<storage, read> w: array<vec4f>; // (n, K/4) — this chunk's rows of W
@group(0) @binding(2) var<storage, read_write> dx: array<vec4f>; // (M, K/4)
@group(0) @binding(3) var<uniform> params: Params;

// dy_tile[jj·WG_ROWS + r/4][r%4] = dY[row0 + r, y_col + j0 + jj]; w_tile[jj·WG_COLS + c/4] = W[j0 + jj, col0 + c .. +3].
var<workgroup> dy_tile: array<vec4f, TILE_K * WG_ROWS>; // (TILE_K, 4·WG_ROWS)
var<workgroup> w_tile: array<vec4f, TILE_K * WG_COLS>; // (TILE_K, 4·WG_COLS)

// Scatters 4 consecutive j of row r into component r%4 of tile rows j, j+1, j+2, j+3.
fn stage_dy(at: u32, r: u32, v: vec4f) {
  dy_tile[at][r % 4u] = v.x;
  dy_tile[at + WG_ROWS][r % 4u] = v.y;
  dy_tile[at + 2u * WG_ROWS][r % 4u] = v.z;
  dy_tile[at + 3u * WG_ROWS][r % 4u] = v.w;
}

fn store(m: u32, c4: u32, v: vec4f) {
  if (m >= params.m) { return; }
  let at = m * (params.k / 4u) + c4;
  var out = params.alpha * v;
  if (params.beta != 0.0) { out += params.beta * dx[at]; }
  dx[at] = out;
}

@compute @workgroup_size(WG_COLS, WG_ROWS)
fn matmul_backward_input(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3u,
) {
  let row0 = wg.y * 4u * WG_ROWS;
  let col0 = wg.x * 4u * WG_COLS;
  let k4 = params.k / 4u;
  let ldy4 = params.ldy / 4u;
  let threads = WG_ROWS * WG_COLS;
  let quads = TILE_K / 4u;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);

  for (var j0 = 0u; j0 < params.n; j0 += TILE_K) {
    for (var i = li; i < 4u * WG_ROWS * quads; i += threads) {
      let r = i / quads;
      let q = i % quads;
      let m = row0 + r;
      let j = j0 + 4u * q;
      var v = vec4f(0.0);
      if (m < params.m && j < params.n) { v = dy[m * ldy4 + (params.y_col + j) / 4u]; }
      stage_dy(4u * q * WG_ROWS + r / 4u, r, v);
    }
    for (var i = li; i < TILE_K * WG_COLS; i += threads) {
      let jj = i / WG_COLS;
      let c = i % WG_COLS;
      let j = j0 + jj;
      let cq = col0 / 4u + c;
      var v = vec4f(0.0);
      if (j < params.n && cq < k4) { v = w[j * k4 + cq]; }
      w_tile[i] = v;
    }
    workgroupBarrier();
    for (var jj = 0u; jj < TILE_K; jj++) {
      let a = dy_tile[jj * WG_ROWS + lid.y];
      let b = w_tile[jj * WG_COLS + lid.x];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }

  let c4 = col0 / 4u + lid.x;
  if (c4 >= k4) { return; }
  let m = row0 + 4u * lid.y;
  store(m, c4, acc0);
  store(m + 1u, c4, acc1);
  store(m + 2u, c4, acc2);
  store(m + 3u, c4, acc3);
}
