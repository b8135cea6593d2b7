// Causal grouped-query attention, backward for dQ (and the row term delta that dK/dV needs).
//   delta_t = Σ_d dO[t,d]·O[t,d]
//   P = exp(S − lse) (S = scale·Q_h K_jᵀ recomputed per tile, masked as in attention_forward)
//   dP = dO V_jᵀ;  dS = P ∘ (dP − delta);  dQ_h = scale · dS K_j
// Dispatch: (ceil(T / BQ), H, B) workgroups of WG threads, one per BQ query rows of one head of
// one sequence, streaming the BK-row key/value tiles from the one holding the start of its first
// query's segment up to its last query. Every row of dQ and delta is written (padding rows get 0),
// so neither needs clearing.
// Runs before attention_backward_dkdv, which reads delta = stats[1].

override WG: u32 = 64u;
override BQ: u32 = 16u;
override BK: u32 = 16u;
override HEAD_DIM: u32 = 64u;

struct Params { batch: u32, seq_len: u32, n_heads: u32, n_kv_heads: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> q: array<f32>;           // (B*T, H*D)
@group(0) @binding(1) var<storage, read> k: array<f32>;           // (B*T, Hkv*D)
@group(0) @binding(2) var<storage, read> v: array<f32>;           // (B*T, Hkv*D)
@group(0) @binding(3) var<storage, read> o: array<f32>;           // (B*T, H*D), saved by forward
@group(0) @binding(4) var<storage, read> d_o: array<f32>;         // (B*T, H*D)
@group(0) @binding(5) var<storage, read> segment: array<i32>;     // (B*T), < 0 = padding
@group(0) @binding(6) var<storage, read_write> stats: array<f32>; // (2, B, H, T): reads [0] = lse, writes [1] = delta
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;    // (B*T, H*D)
@group(0) @binding(8) var<uniform> params: Params;

var<workgroup> q_tile: array<f32, BQ * HEAD_DIM>;  // (BQ, D)
var<workgroup> do_tile: array<f32, BQ * HEAD_DIM>; // (BQ, D)
var<workgroup> dq_acc: array<f32, BQ * HEAD_DIM>;  // (BQ, D), without the scale
var<workgroup> k_tile: array<f32, BK * HEAD_DIM>;  // (BK, D)
var<workgroup> v_tile: array<f32, BK * HEAD_DIM>;  // (BK, D)
var<workgroup> ds_tile: array<f32, BQ * BK>;       // (BQ, BK)
var<workgroup> row_lse: array<f32, BQ>;
var<workgroup> row_delta: array<f32, BQ>;
var<workgroup> q_seg: array<i32, BQ>;
var<workgroup> k_seg: array<i32, BK>;

@compute @workgroup_size(WG)
fn attention_backward_dq(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
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
    let at = (b * T + min(t, T - 1u)) * q_stride + h * D + e % D;
    q_tile[e] = select(0.0, q[at], t < T);
    do_tile[e] = select(0.0, d_o[at], t < T);
    dq_acc[e] = 0.0;
  }
  for (var r = tid; r < BQ; r += WG) {
    let t = q0 + r;
    let tc = min(t, T - 1u);
    q_seg[r] = query_segment(b, t);
    row_lse[r] = stats[(b * H + h) * T + tc];
    var dot = 0.0;
    for (var d = 0u; d < D; d++) {
      dot += d_o[(b * T + tc) * q_stride + h * D + d] * o[(b * T + tc) * q_stride + h * D + d];
    }
    row_delta[r] = dot;
    if (t < T) {
      stats[(params.batch * H + b * H + h) * T + t] = dot;
    }
  }

  // Causal and packed, as in attention_forward: the key tiles from the one holding the start of
  // the first query's segment to the last query. A skipped tile adds only ±0 to dq_acc, still +0.
  let last_key = min(q0 + BQ, T) - 1u;
  for (var k0 = first_visible_key(b, q0) / BK * BK; k0 <= last_key; k0 += BK) {
    for (var e = tid; e < BK * D; e += WG) {
      let s = k0 + e / D;
      let at = (b * T + min(s, T - 1u)) * kv_stride + kv * D + e % D;
      k_tile[e] = select(0.0, k[at], s < T);
      v_tile[e] = select(0.0, v[at], s < T);
    }
    for (var c = tid; c < BK; c += WG) {
      k_seg[c] = key_segment(b, k0 + c);
    }
    workgroupBarrier();

    for (var e = tid; e < BQ * BK; e += WG) {
      ds_tile[e] = p_and_ds(e / BK, e % BK, q0, k0).y;
    }
    workgroupBarrier();

    for (var e = tid; e < BQ * D; e += WG) {
      let r = e / D;
      let d = e % D;
      var acc = dq_acc[e];
      for (var c = 0u; c < BK; c++) {
        acc += ds_tile[r * BK + c] * k_tile[c * D + d];
      }
      dq_acc[e] = acc;
    }
    workgroupBarrier();
  }

  for (var e = tid; e < BQ * D; e += WG) {
    let t = q0 + e / D;
    if (t < T) {
      dq[(b * T + t) * q_stride + h * D + e % D] = dq_acc[e] * params.scale;
    }
  }
}
