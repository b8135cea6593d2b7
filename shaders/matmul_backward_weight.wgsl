// matmul_backward_weight — the gradient of a Linear layer's weight (W is [N, K]):
//   dW[j, c] = α·Σ_m dY[m, y_col + j]·X[m, c] + β·dW[j, c]
// β = 1 accumulates into an existing gradient; α carries e.g. the LoRA scale. β = 0 never reads dW.
// dW may be one row chunk of a split gradient: j runs over the chunk's n rows, y_col is its first.
// Fast path only: K, ldy, y_col and n are multiples of 4 (vec4 loads and stores). Other shapes go
// through matmul_strided.
//
// Dispatch: (ceil(K / (8·WG_COLS)), ceil(n / (8·WG_ROWS))) workgroups of WG_COLS × WG_ROWS
// threads; thread (tx, ty) owns the 8×8 block dW[row0 + 8ty .. +7, col0 + 8tx .. +7] in four 4×4
// register blocks, reducing over the tokens m in TILE_K-deep tiles. Both operands are already
// m-major, so they are staged as they are.

struct Params { m: u32, n: u32, k: u32, ldy: u32, y_col: u32, alpha: f32, beta: f32 }

override WG_ROWS: u32 = 8;
override WG_COLS: u32 = 8;
override TILE_K: u32 = 16;

@group(0) @binding(0) var<storage, read> dy: array<vec4f>; // (M, ldy/4)
@group(0) @binding(1) var<storage, read> x: array<vec4f>; // (M, K/4)
@group(0) @binding(2) var<storage, read_write> dw: array<vec4f>; // (n, K/4) — this chunk's rows of dW
@group(0) @binding(3) var<uniform> params: Params;

// A = dYᵀ (the chunk's columns) and B = X in lib/register_tile.wgsl's a_tile and b_tile: both are
// already m-major, so each is copied as is, a_tile[tt·2·WG_ROWS + r/4] = dY[m0 + tt, y_col + row0 + r .. +3].

fn store(j: u32, c4: u32, v: vec4f) {
  if (j >= params.n) { return; }
  let at = j * (params.k / 4u) + c4;
  var out = params.alpha * v;
  if (params.beta != 0.0) { out += params.beta * dw[at]; }
  dw[at] = out;
}

// Rows j .. j+3, columns col .. col+3 of dW (col a multiple of 4), unless past K.
fn store_block(j: u32, col: u32, acc: mat4x4f) {
  if (col >= params.k) { return; }
  let c4 = col / 4u;
  store(j, c4, acc[0]);
  store(j + 1u, c4, acc[1]);
  store(j + 2u, c4, acc[2]);
  store(j + 3u, c4, acc[3]);
}

@compute @workgroup_size(WG_COLS, WG_ROWS)
fn matmul_backward_weight(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(workgroup_id) wg: vec3u,
) {
  let row0 = wg.y * 8u * WG_ROWS;
  let col0 = wg.x * 8u * WG_COLS;
  let k4 = params.k / 4u;
  let ldy4 = params.ldy / 4u;
  let threads = WG_ROWS * WG_COLS;
  var acc = Tile8x8();

  for (var m0 = 0u; m0 < params.m; m0 += TILE_K) {
    for (var i = li; i < TILE_K * 2u * WG_ROWS; i += threads) {
      let m = m0 + i / (2u * WG_ROWS);
      let j = row0 + 4u * (i % (2u * WG_ROWS));
      var v = vec4f(0.0);
      if (m < params.m && j < params.n) { v = dy[m * ldy4 + (params.y_col + j) / 4u]; }
      a_tile[i] = v;
    }
    for (var i = li; i < TILE_K * 2u * WG_COLS; i += threads) {
      let m = m0 + i / (2u * WG_COLS);
      let cq = col0 / 4u + i % (2u * WG_COLS);
      var v = vec4f(0.0);
      if (m < params.m && cq < k4) { v = x[m * k4 + cq]; }
      b_tile[i] = v;
    }
    workgroupBarrier();
    acc = tile_multiply(acc, lid);
    workgroupBarrier();
  }

  tile_store(acc, row0 + 8u * lid.y, col0 + 8u * lid.x);
}
