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

// A = X and B = Wᵀ in lib/register_tile.wgsl's a_tile and b_tile: both are read along k as vec4s
// and scattered k-major by stage_a_depth4 / stage_b_depth4.

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

// Rows m .. m+3, columns col .. col+3 of Y (global; col a multiple of 4), unless past the chunk.
fn store_block(m: u32, col: u32, acc: mat4x4f) {
  if (col >= params.y_col + params.n) { return; }
  let c4 = col / 4u;
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
  var acc = Tile8x8();

  for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
    // Consecutive threads read consecutive vec4s along k of one row (coalesced loads).
    for (var i = li; i < 8u * WG_ROWS * quads; i += threads) {
      let r = i / quads;
      let q = i % quads;
      let m = row0 + r;
      let kq = k0 / 4u + q;
      var v = vec4f(0.0);
      if (m < params.m && kq < k4) { v = x[m * k4 + kq]; }
      stage_a_depth4(4u * q, r, v);
    }
    for (var i = li; i < 8u * WG_COLS * quads; i += threads) {
      let r = i / quads;
      let q = i % quads;
      let j = col0 + r;
      let kq = k0 / 4u + q;
      var v = vec4f(0.0);
      if (j < params.n && kq < k4) { v = w[j * k4 + kq]; }
      stage_b_depth4(4u * q, r, v);
    }
    workgroupBarrier();
    acc = tile_multiply(acc, lid);
    workgroupBarrier();
  }

  tile_store(acc, row0 + 8u * lid.y, params.y_col + col0 + 8u * lid.x);
}
