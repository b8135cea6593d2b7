// The recomputed probability and score gradient of one (query, key) pair, shared by
// attention_backward_dq and attention_backward_dkdv (formats.md §4.3):
//   p = exp(scale·q_r·k_c − lse_r) if key c is visible to query r, else 0
//   ds = p·(dO_r·v_c − delta_r)
// Needs lib/attention_mask.wgsl. Contract with the shader that includes this file: it declares
// `override HEAD_DIM: u32`, a uniform `params` with `scale: f32`, and the workgroup arrays
// q_tile, do_tile (BQ, D), k_tile, v_tile (BK, D), row_lse, row_delta, q_seg (BQ) and k_seg (BK),
// staged for the query tile starting at q0 and the key tile starting at k0.

fn p_and_ds(r: u32, c: u32, q0: u32, k0: u32) -> vec2f {
  let D = HEAD_DIM;
  let seen = key_visible(q0 + r, k0 + c, q_seg[r], k_seg[c]);
  var qk = 0.0;
  var dp = 0.0;
  for (var d = 0u; d < D; d++) {
    qk += q_tile[r * D + d] * k_tile[c * D + d];
    dp += do_tile[r * D + d] * v_tile[c * D + d];
  }
  let p = select(0.0, exp(qk * params.scale - row_lse[r]), seen);
  return vec2f(p, p * (dp - row_delta[r]));
}
