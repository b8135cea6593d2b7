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

// dy_tile[tt·2·WG_ROWS + r/4] = dY[m0 + tt, y_col + row0 + r .. +3];
// x_tile[tt·2·WG_COLS + c/4] = X[m0 + tt, col0 + c .. +3].
var<workgroup> dy_tile: array<vec4f, TILE_K * 2u * WG_ROWS>; // (TILE_K, 8·WG_ROWS)
var<workgroup> x_tile: array<vec4f, TILE_K * 2u * WG_COLS>; // (TILE_K, 8·WG_COLS)

// a·bᵀ as columns: column i is row i of the 4×4 output block.
fn outer(a: vec4f, b: vec4f) -> mat4x4f {
  return mat4x4f(a.x * b, a.y * b, a.z * b, a.w * b);
}

fn store(j: u32, c4: u32, v: vec4f) {
  if (j >= params.n) { return; }
  let at = j * (params.k / 4u) + c4;
  var out = params.alpha * v;
  if (params.beta != 0.0) { out += params.beta * dw[at]; }
  dw[at] = out;
}

fn store_block(j: u32, c4: u32, acc: mat4x4f) {
  if (c4 >= params.k / 4u) { return; }
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
  var acc00 = mat4x4f();
  var acc01 = mat4x4f();
  var acc10 = mat4x4f();
  var acc11 = mat4x4f();

  for (var m0 = 0u; m0 < params.m; m0 += TILE_K) {
    for (var i = li; i < TILE_K * 2u * WG_ROWS; i += threads) {
      let m = m0 + i / (2u * WG_ROWS);
      let j = row0 + 4u * (i % (2u * WG_ROWS));
      var v = vec4f(0.0);
      if (m < params.m && j < params.n) { v = dy[m * ldy4 + (params.y_col + j) / 4u]; }
      dy_tile[i] = v;
    }
    for (var i = li; i < TILE_K * 2u * WG_COLS; i += threads) {
      let m = m0 + i / (2u * WG_COLS);
      let cq = col0 / 4u + i % (2u * WG_COLS);
      var v = vec4f(0.0);
      if (m < params.m && cq < k4) { v = x[m * k4 + cq]; }
      x_tile[i] = v;
    }
    workgroupBarrier();
    for (var tt = 0u; tt < TILE_K; tt++) {
      let a = tt * 2u * WG_ROWS + 2u * lid.y;
      let b = tt * 2u * WG_COLS + 2u * lid.x;
      let a0 = dy_tile[a];
      let a1 = dy_tile[a + 1u];
      let b0 = x_tile[b];
      let b1 = x_tile[b + 1u];
      acc00 += outer(a0, b0);
      acc01 += outer(a0, b1);
      acc10 += outer(a1, b0);
      acc11 += outer(a1, b1);
    }
    workgroupBarrier();
  }

  let c4 = col0 / 4u + 2u * lid.x;
  let j = row0 + 8u * lid.y;
  store_block(j, c4, acc00);
  store_block(j, c4 + 1u, acc01);
  store_block(j + 4u, c4, acc10);
  store_block(j + 4u, c4 + 1u, acc11);
}
