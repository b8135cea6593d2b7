// Causal grouped-query attention, forward, flash-style (formats.md §4.3).
//   S = scale · Q_h K_jᵀ  (scale = head_dim^-0.5, kv head j = h / g serves q heads j·g … j·g+g−1)
//   P = softmax(S) in fp32 over the visible keys;  O_h = P V_j;  lse_h = log Σ_visible exp(S)
// Visibility (packed rows) as in lib/attention_mask.wgsl: a padding token attends to nothing
// (O row = 0, lse = 0) and no token attends to it.
//
// Dispatch: (ceil(T / BQ), H, B) workgroups of WG threads. A workgroup owns BQ query rows of one
// head of one sequence and streams BK-row key/value tiles (only those from the one holding the
// start of its first query's segment up to its last query) through workgroup memory with the
// online softmax: running max m and sum l per row, the output accumulator rescaled by
// exp(m_old − m_new) whenever the max grows.
// Saved for backward: O and lse = stats[0] (B, H, T) — never the T×T scores, which backward
// recomputes. stats[1] is left for the backward's delta (one buffer keeps every attention kernel
// within the spec's default of 8 storage buffers per stage).

override WG: u32 = 64u;
override BQ: u32 = 16u;
override BK: u32 = 16u;
override HEAD_DIM: u32 = 64u;

// Masked scores hold this sentinel; real scores are far above MASK_LIMIT.
const MASKED: f32 = -3.0e38;
const MASK_LIMIT: f32 = -1.0e38;

struct Params { batch: u32, seq_len: u32, n_heads: u32, n_kv_heads: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> q: array<f32>;         // (B*T, H*D), after RoPE
@group(0) @binding(1) var<storage, read> k: array<f32>;         // (B*T, Hkv*D), after RoPE
@group(0) @binding(2) var<storage, read> v: array<f32>;         // (B*T, Hkv*D)
@group(0) @binding(3) var<storage, read> segment: array<i32>;   // (B*T), < 0 = padding
@group(0) @binding(4) var<storage, read_write> o: array<f32>;   // (B*T, H*D)
@group(0) @binding(5) var<storage, read_write> stats: array<f32>; // (2, B, H, T): [0] = lse
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> q_tile: array<f32, BQ * HEAD_DIM>;  // (BQ, D)
var<workgroup> kv_tile: array<f32, BK * HEAD_DIM>; // (BK, D): K, then V of the same key rows
var<workgroup> o_acc: array<f32, BQ * HEAD_DIM>;   // (BQ, D) unnormalized output
var<workgroup> s_tile: array<f32, BQ * BK>;        // (BQ, BK) scores, then probabilities
var<workgroup> row_max: array<f32, BQ>;
var<workgroup> row_sum: array<f32, BQ>;
var<workgroup> row_alpha: array<f32, BQ>;
var<workgroup> q_seg: array<i32, BQ>;
var<workgroup> k_seg: array<i32, BK>;

@compute @workgroup_size(WG)
fn attention_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let T = params.seq_len;
  let H = params.n_heads;
  let D = HEAD_DIM;
  let h = wid.y;
  let b = wid.z;
  let kv = h / (H / params.n_kv_heads);
  let q0 = wid.x * BQ;
  let q_stride = H * D;
  let kv_stride = params.n_kv_heads * D;

  for (var e = tid; e < BQ * D; e += WG) {
    let t = q0 + e / D;
    q_tile[e] = select(0.0, q[(b * T + t) * q_stride + h * D + e % D], t < T);
    o_acc[e] = 0.0;
  }
  for (var r = tid; r < BQ; r += WG) {
    let t = q0 + r;
    q_seg[r] = query_segment(b, t);
    row_max[r] = MASKED;
    row_sum[r] = 0.0;
  }

  // Causal: keys after the tile's last query are never visible. Packing: keys before the segment
  // of the tile's first query are never visible either. A skipped tile would have left every row
  // as initialized (max MASKED, sum 0, accumulator +0), so skipping it changes no bit.
  let last_key = min(q0 + BQ, T) - 1u;
  for (var k0 = first_visible_key(b, q0) / BK * BK; k0 <= last_key; k0 += BK) {
    for (var e = tid; e < BK * D; e += WG) {
      let s = k0 + e / D;
      kv_tile[e] = select(0.0, k[(b * T + s) * kv_stride + kv * D + e % D], s < T);
    }
    for (var c = tid; c < BK; c += WG) {
      k_seg[c] = key_segment(b, k0 + c);
    }
    workgroupBarrier();

    for (var e = tid; e < BQ * BK; e += WG) {
      let r = e / BK;
      let c = e % BK;
      let seen = key_visible(q0 + r, k0 + c, q_seg[r], k_seg[c]);
      var dot = 0.0;
      for (var d = 0u; d < D; d++) {
        dot += q_tile[r * D + d] * kv_tile[c * D + d];
      }
      s_tile[e] = select(MASKED, dot * params.scale, seen);
    }
    workgroupBarrier();

    // Online softmax, one thread per query row; meanwhile the others load V over K.
    for (var r = tid; r < BQ; r += WG) {
      let m_old = row_max[r];
      var m_new = m_old;
      for (var c = 0u; c < BK; c++) {
        m_new = max(m_new, s_tile[r * BK + c]);
      }
      var l = 0.0;
      for (var c = 0u; c < BK; c++) {
        let s = s_tile[r * BK + c];
        let p = select(0.0, exp(s - m_new), s > MASK_LIMIT);
        s_tile[r * BK + c] = p;
        l += p;
      }
      let alpha = select(1.0, exp(m_old - m_new), m_old > MASK_LIMIT);
      row_alpha[r] = alpha;
      row_sum[r] = row_sum[r] * alpha + l;
      row_max[r] = m_new;
    }
    for (var e = tid; e < BK * D; e += WG) {
      let s = k0 + e / D;
      kv_tile[e] = select(0.0, v[(b * T + s) * kv_stride + kv * D + e % D], s < T);
    }
    workgroupBarrier();

    for (var e = tid; e < BQ * D; e += WG) {
      let r = e / D;
      let d = e % D;
      var acc = o_acc[e] * row_alpha[r];
      for (var c = 0u; c < BK; c++) {
        acc += s_tile[r * BK + c] * kv_tile[c * D + d];
      }
      o_acc[e] = acc;
    }
    workgroupBarrier();
  }

  for (var e = tid; e < BQ * D; e += WG) {
    let r = e / D;
    let t = q0 + r;
    if (t < T) {
      let l = row_sum[r];
      o[(b * T + t) * q_stride + h * D + e % D] = select(0.0, o_acc[e] / l, l > 0.0);
    }
  }
  for (var r = tid; r < BQ; r += WG) {
    let t = q0 + r;
    if (t < T) {
      let l = row_sum[r];
      stats[(b * H + h) * T + t] = select(0.0, row_max[r] + log(l), l > 0.0);
    }
  }
}
