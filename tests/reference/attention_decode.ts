// Attention of M new rows against a KV cache, in float64 (the definition attention_decode.wgsl is
// checked against): query row i sits at position start + i and sees cached positions 0 … start + i,
// S = q·kᵀ·head_dim^-0.5, softmax in full precision, O = P·V, kv head j = h / (H / Hkv).
// Layout: q, o (M, H·D); kCache, vCache (capacity, Hkv·D). Equals rows start … start + M − 1 of
// full causal attention over the first start + M positions (tests/reference/attention.ts).

export interface AttentionDecodeShape {
  rows: number;
  start: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

export function attentionDecode(shape: AttentionDecodeShape, q: ArrayLike<number>, kCache: ArrayLike<number>, vCache: ArrayLike<number>): Float64Array {
  const { rows: M, start, nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const o = new Float64Array(M * H * D);
  const scale = 1 / Math.sqrt(D);
  for (let i = 0; i < M; i++) {
    const seen = start + i + 1;
    for (let h = 0; h < H; h++) {
      const j = Math.floor(h / (H / Hkv));
      const s = new Float64Array(seen);
      let max = -Infinity;
      for (let c = 0; c < seen; c++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[i * H * D + h * D + d] * kCache[c * Hkv * D + j * D + d];
        s[c] = dot * scale;
        max = Math.max(max, s[c]);
      }
      let sum = 0;
      for (let c = 0; c < seen; c++) sum += s[c] = Math.exp(s[c] - max);
      for (let c = 0; c < seen; c++) {
        for (let d = 0; d < D; d++) o[i * H * D + h * D + d] += (s[c] / sum) * vCache[c * Hkv * D + j * D + d];
      }
    }
  }
  return o;
}
