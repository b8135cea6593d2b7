// attention_decode — causal grouped-query attention of M new query rows against a KV cache, for
// generation (formats.md §4.3). Query row i sits at position p = start + i; for head h and its kv
// head j = h / (H / Hkv):
//   s_c = scale · q[i, h] · K[c, j]   for every cached position c ≤ p   (scale = head_dim^-0.5)
//   o[i, h] = Σ_c softmax(s)_c · V[c, j]                                 fp32, online softmax
// The cache already holds the new rows' K (after RoPE) and V at positions start … start + M − 1;
// rows past p (later tokens, or a previous generation's leftovers) are never read.
//
// Dispatch: (M, H) workgroups of WG threads; a workgroup owns one query row of one head. It
// streams BK cached keys at a time: one thread per key computes its score, thread 0 folds the
// tile into the running max m and sum l (rescaling by α = exp(m_old − m_new)), then one thread
// per output dimension accumulates Σ p·V. Nothing is saved: generation has no backward.

override WG: u32 = 64u;
override BK: u32 = 64u;
override HEAD_DIM: u32 = 64u;

// The running max starts at this sentinel; real scores are far above it.
const MASKED: f32 = -3.0e38;

struct Params { rows: u32, start: u32, n_heads: u32, n_kv_heads: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> q: array<f32>;           // (M, H*D), after RoPE
@group(0) @binding(1) var<storage, read> k_cache: array<f32>;     // (capacity, Hkv*D), after RoPE
@group(0) @binding(2) var<storage, read> v_cache: array<f32>;     // (capacity, Hkv*D)
@group(0) @binding(3) var<storage, read_write> o: array<f32>;     // (M, H*D)
@group(0) @binding(4) var<uniform> params: Params;

var<workgroup> q_row: array<f32, HEAD_DIM>;  // (D) this row's query
var<workgroup> o_acc: array<f32, HEAD_DIM>;  // (D) unnormalized output
var<workgroup> p_tile: array<f32, BK>;       // (BK) scores, then exp(s − m_new)
var<workgroup> running: array<f32, 3>;       // m, l, α of the latest tile

@compute @workgroup_size(WG)
fn attention_decode(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let i = wid.x;
  let h = wid.y;
  let D = HEAD_DIM;
  let kv = h / (params.n_heads / params.n_kv_heads);
  let q_stride = params.n_heads * D;
  let kv_stride = params.n_kv_heads * D;
  let last = params.start + i; // the last visible position (inclusive)

  for (var d = tid; d < D; d += WG) {
    q_row[d] = q[i * q_stride + h * D + d];
    o_acc[d] = 0.0;
  }
  if (tid == 0u) {
    running[0] = MASKED;
    running[1] = 0.0;
    running[2] = 0.0;
  }
  workgroupBarrier();

  for (var k0 = 0u; k0 <= last; k0 += BK) {
    let count = min(BK, last + 1u - k0); // visible keys in this tile
    for (var c = tid; c < BK; c += WG) {
      var dot = 0.0;
      if (c < count) {
        let base = (k0 + c) * kv_stride + kv * D;
        for (var d = 0u; d < D; d++) {
          dot += q_row[d] * k_cache[base + d];
        }
      }
      p_tile[c] = select(MASKED, dot * params.scale, c < count);
    }
    workgroupBarrier();

    if (tid == 0u) {
      let m_old = running[0];
      var m_new = m_old;
      for (var c = 0u; c < count; c++) {
        m_new = max(m_new, p_tile[c]);
      }
      var l = 0.0;
      for (var c = 0u; c < count; c++) {
        let p = exp(p_tile[c] - m_new);
        p_tile[c] = p;
        l += p;
      }
      // The first tile has nothing to rescale (o_acc and l are 0).
      let alpha = select(0.0, exp(m_old - m_new), m_old > MASKED);
      running[0] = m_new;
      running[1] = running[1] * alpha + l;
      running[2] = alpha;
    }
    workgroupBarrier();

    let alpha = running[2];
    for (var d = tid; d < D; d += WG) {
      var acc = o_acc[d] * alpha;
      for (var c = 0u; c < count; c++) {
        acc += p_tile[c] * v_cache[(k0 + c) * kv_stride + kv * D + d];
      }
      o_acc[d] = acc;
    }
    workgroupBarrier();
  }

  let l = running[1];
  for (var d = tid; d < D; d += WG) {
    o[i * q_stride + h * D + d] = o_acc[d] / l;
  }
}
