// Causal grouped-query attention, backward for dK and dV of one kv head, summed over its q heads.
//   for each q head h = j·g … j·g+g−1 and each query tile from the one holding the key tile's first
//   key up to the one holding the end of its last key's segment:
//     P = exp(S − lse) (S = scale·Q_h K_jᵀ recomputed, masked as in attention_forward)
//     dV_j += Pᵀ dO_h;  dS = P ∘ (dO_h V_jᵀ − delta_h);  dK_j += scale · dSᵀ Q_h
// Dispatch: (ceil(T / BK), Hkv, B) workgroups of WG threads, one per BK key rows of one kv head
// of one sequence. The group sum happens inside the workgroup in a fixed order: no atomics,
// deterministic. Every row of dK and dV is written, so neither needs clearing.
// Reads delta = stats[1] (B, H, T) = rowsum(dO ∘ O), written by attention_backward_dq.

override WG: u32 = 64u;
override BQ: u32 = 16u;
override BK: u32 = 16u;
override HEAD_DIM: u32 = 64u;

struct Params { batch: u32, seq_len: u32, n_heads: u32, n_kv_heads: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> q: array<f32>;        // (B*T, H*D)
@group(0) @binding(1) var<storage, read> k: array<f32>;        // (B*T, Hkv*D)
@group(0) @binding(2) var<storage, read> v: array<f32>;        // (B*T, Hkv*D)
@group(0) @binding(3) var<storage, read> d_o: array<f32>;      // (B*T, H*D)
@group(0) @binding(4) var<storage, read> segment: array<i32>;  // (B*T), < 0 = padding
@group(0) @binding(5) var<storage, read> stats: array<f32>;    // (2, B, H, T): [0] = lse, [1] = delta
@group(0) @binding(6) var<storage, read_write> dk: array<f32>; // (B*T, Hkv*D)
@group(0) @binding(7) var<storage, read_write> dv: array<f32>; // (B*T, Hkv*D)
@group(0) @binding(8) var<uniform> params: Params;

var<workgroup> k_tile: array<f32, BK * HEAD_DIM>;  // (BK, D)
var<workgroup> v_tile: array<f32, BK * HEAD_DIM>;  // (BK, D)
var<workgroup> dk_acc: array<f32, BK * HEAD_DIM>;  // (BK, D), without the scale
var<workgroup> dv_acc: array<f32, BK * HEAD_DIM>;  // (BK, D)
var<workgroup> q_tile: array<f32, BQ * HEAD_DIM>;  // (BQ, D)
var<workgroup> do_tile: array<f32, BQ * HEAD_DIM>; // (BQ, D)
var<workgroup> p_tile: array<f32, BQ * BK>;        // (BQ, BK)
var<workgroup> ds_tile: array<f32, BQ * BK>;       // (BQ, BK)
var<workgroup> row_lse: array<f32, BQ>;
var<workgroup> row_delta: array<f32, BQ>;
var<workgroup> q_seg: array<i32, BQ>;
var<workgroup> k_seg: array<i32, BK>;

@compute @workgroup_size(WG)
fn attention_backward_dkdv(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let T = params.seq_len;
  let H = params.n_heads;
  let D = HEAD_DIM;
  let kv = wid.y;
  let b = wid.z;
  let group = H / params.n_kv_heads;
  let k0 = wid.x * BK;
  let q_stride = H * D;
  let kv_stride = params.n_kv_heads * D;

  for (var e = tid; e < BK * D; e += WG) {
    let s = k0 + e / D;
    let at = (b * T + min(s, T - 1u)) * kv_stride + kv * D + e % D;
    k_tile[e] = select(0.0, k[at], s < T);
    v_tile[e] = select(0.0, v[at], s < T);
    dk_acc[e] = 0.0;
    dv_acc[e] = 0.0;
  }
  for (var c = tid; c < BK; c += WG) {
    k_seg[c] = key_segment(b, k0 + c);
  }

  // Causal: queries before the tile's first key never see it. Packing: queries after the end of
  // the segment of the tile's last key never see it either. A skipped tile would add only ±0 to
  // dk_acc and dv_acc, which changes no bit of a sum that started at +0.
  let first_tile = k0 / BQ;
  let last_query = last_seeing_query(b, min(k0 + BK, T) - 1u);
  for (var hh = 0u; hh < group; hh++) {
    let h = kv * group + hh;
    for (var q0 = first_tile * BQ; q0 <= last_query; q0 += BQ) {
      workgroupBarrier();
      for (var e = tid; e < BQ * D; e += WG) {
        let t = q0 + e / D;
        let at = (b * T + min(t, T - 1u)) * q_stride + h * D + e % D;
        q_tile[e] = select(0.0, q[at], t < T);
        do_tile[e] = select(0.0, d_o[at], t < T);
      }
      for (var r = tid; r < BQ; r += WG) {
        let t = q0 + r;
        let tc = min(t, T - 1u);
        q_seg[r] = query_segment(b, t);
        row_lse[r] = stats[(b * H + h) * T + tc];
        row_delta[r] = stats[(params.batch * H + b * H + h) * T + tc];
      }
      workgroupBarrier();

      for (var e = tid; e < BQ * BK; e += WG) {
        let p_ds = p_and_ds(e / BK, e % BK, q0, k0);
        p_tile[e] = p_ds.x;
        ds_tile[e] = p_ds.y;
      }
      workgroupBarrier();

      for (var e = tid; e < BK * D; e += WG) {
        let c = e / D;
        let d = e % D;
        var dk_sum = dk_acc[e];
        var dv_sum = dv_acc[e];
        for (var r = 0u; r < BQ; r++) {
          dk_sum += ds_tile[r * BK + c] * q_tile[r * D + d];
          dv_sum += p_tile[r * BK + c] * do_tile[r * D + d];
        }
        dk_acc[e] = dk_sum;
        dv_acc[e] = dv_sum;
      }
    }
  }

  for (var e = tid; e < BK * D; e += WG) {
    let s = k0 + e / D;
    if (s < T) {
      let at = (b * T + s) * kv_stride + kv * D + e % D;
      dk[at] = dk_acc[e] * params.scale;
      dv[at] = dv_acc[e];
    }
  }
}
