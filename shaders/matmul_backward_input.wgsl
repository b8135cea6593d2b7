// matmul_backward_input — the gradient of a Linear layer's input (W is [N, K]):
//   dX[m, c] = α·Σ_j dY[m, y_col + j]·W[j, c] + β·dX[m, c]
// W may be one row chunk of a split weight: j runs over the chunk's n rows and y_col is the
// chunk's first row; the launcher gives the first chunk the caller's β and the rest β = 1, so the
// chunks accumulate. β = 0 never reads dX.
// Fast path only: K, ldy, y_col and n are multiples of 4 (vec4 loads and stores). Other shapes go
// through matmul_strided.
//
// Dispatch: (ceil(K / (8·WG_COLS)), ceil(M / (8·WG_ROWS))) workgroups of WG_COLS × WG_ROWS
// threads; thread (tx, ty) owns the 8×8 block dX[row0 + 8ty .. +7, col0 + 8tx .. +7] in four 4×4
// register blocks, built from TILE_K-deep tiles (along j) of dY (transposed when staged) and W
// (copied as is).

struct Params { m: u32, n: u32, k: u32, ldy: u32, y_col: u32, alpha: f32, beta: f32 }

override WG_ROWS: u32 = 8;
override WG_COLS: u32 = 8;
override TILE_K: u32 = 16; // a multiple of 4

@group(0) @binding(0) var<storage, read> dy: array<vec4f>; // (M, ldy/4)
@group(0) @binding(1) var<storage, read> w: array<vec4f>; // (n, K/4) — this chunk's rows of W
@group(0) @binding(2) var<storage, read_write> dx: array<vec4f>; // (M, K/4)
@group(0) @binding(3) var<uniform> params: Params;

// A = dY[:, y_col ..] and B = W in lib/register_tile.wgsl's a_tile and b_tile: dY is read along j
// as vec4s and scattered j-major by stage_a_depth4; W rows are already j-major and copied as is.

fn store(m: u32, c4: u32, v: vec4f) {
  if (m >= params.m) { return; }
  let at = m * (params.k / 4u) + c4;
  var out = params.alpha * v;
  if (params.beta != 0.0) { out += params.beta * dx[at]; }
  dx[at] = out;
}

// Rows m .. m+3, columns col .. col+3 of dX (col a multiple of 4), unless past K.
fn store_block(m: u32, col: u32, acc: mat4x4f) {
  if (col >= params.k) { return; }
  let c4 = col / 4u;
  store(m, c4, acc[0]);
  store(m + 1u, c4, acc[1]);
  store(m + 2u, c4, acc[2]);
  store(m + 3u, c4, acc[3]);
}

@compute @workgroup_size(WG_COLS, WG_ROWS)
fn matmul_backward_input(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3u,
) {
  let row0 = wg.y * 8u * WG_ROWS;
  let col0 = wg.x * 8u * WG_COLS;
  let k4 = params.k / 4u;
  let ldy4 = params.ldy / 4u;
  let threads = WG_ROWS * WG_COLS;
  let quads = TILE_K / 4u;
  var acc = Tile8x8();

  for (var j0 = 0u; j0 < params.n; j0 += TILE_K) {
    for (var i = li; i < 8u * WG_ROWS * quads; i += threads) {
      let r = i / quads;
      let q = i % quads;
      let m = row0 + r;
      let j = j0 + 4u * q;
      var v = vec4f(0.0);
      if (m < params.m && j < params.n) { v = dy[m * ldy4 + (params.y_col + j) / 4u]; }
      stage_a_depth4(4u * q, r, v);
    }
    for (var i = li; i < TILE_K * 2u * WG_COLS; i += threads) {
      let j = j0 + i / (2u * WG_COLS);
      let cq = col0 / 4u + i % (2u * WG_COLS);
      var v = vec4f(0.0);
      if (j < params.n && cq < k4) { v = w[j * k4 + cq]; }
      b_tile[i] = v;
    }
    workgroupBarrier();
    acc = tile_multiply(acc, lid);
    workgroupBarrier();
  }

  tile_store(acc, row0 + 8u * lid.y, col0 + 8u * lid.x);
}
