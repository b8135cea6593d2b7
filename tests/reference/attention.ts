// Causal grouped-query attention in float64, the definition the GPU kernels are checked against
// (formats.md §4.3): S = q·kᵀ·head_dim^-0.5, softmax in full precision, O = P·v, with kv head j
// serving q heads j·g … j·g+g−1 (g = n_heads / n_kv_heads, interleaved repeat_kv).
//
// Masking (packed rows): key s is visible to query t of the same sequence iff s ≤ t and
// segment[s] == segment[t] and segment[t] ≥ 0. A token with a negative segment id is padding: it
// attends to nothing (its output row is 0 and its lse is stored as 0) and nobody attends to it.
//
// Layout: rows are the B·T tokens; q and o are (B·T, H·D), k and v (B·T, Hkv·D); lse (B, H, T).

export interface AttentionShape {
  batch: number;
  seqLen: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

export interface AttentionInputs {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  segment: ArrayLike<number>;
}

/** Whether query t may attend to key s (both positions within sequence b). */
export function visible(segment: ArrayLike<number>, b: number, t: number, s: number, seqLen: number): boolean {
  const st = segment[b * seqLen + t];
  return s <= t && st >= 0 && segment[b * seqLen + s] === st;
}

/** Softmax probabilities P[t][s] of one (b, h), zero where masked; also the row logsumexp. */
function probabilities(shape: AttentionShape, x: AttentionInputs, b: number, h: number): { p: Float64Array; lse: Float64Array } {
  const { seqLen: T, nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const j = Math.floor(h / (H / Hkv));
  const scale = 1 / Math.sqrt(D);
  const p = new Float64Array(T * T);
  const lse = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let max = -Infinity;
    const row = p.subarray(t * T, (t + 1) * T);
    for (let s = 0; s < T; s++) {
      if (!visible(x.segment, b, t, s, T)) continue;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += x.q[(b * T + t) * H * D + h * D + d] * x.k[(b * T + s) * Hkv * D + j * D + d];
      row[s] = dot * scale;
      max = Math.max(max, row[s]);
    }
    if (max === -Infinity) continue;
    let sum = 0;
    for (let s = 0; s < T; s++) if (visible(x.segment, b, t, s, T)) sum += Math.exp(row[s] - max);
    for (let s = 0; s < T; s++) row[s] = visible(x.segment, b, t, s, T) ? Math.exp(row[s] - max) / sum : 0;
    lse[t] = max + Math.log(sum);
  }
  return { p, lse };
}

export function attentionForward(shape: AttentionShape, x: AttentionInputs): { o: Float64Array; lse: Float64Array } {
  const { batch: B, seqLen: T, nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const o = new Float64Array(B * T * H * D);
  const lse = new Float64Array(B * H * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const j = Math.floor(h / (H / Hkv));
      const { p, lse: rowLse } = probabilities(shape, x, b, h);
      lse.set(rowLse, (b * H + h) * T);
      for (let t = 0; t < T; t++) {
        for (let s = 0; s < T; s++) {
          const w = p[t * T + s];
          if (w === 0) continue;
          for (let d = 0; d < D; d++) o[(b * T + t) * H * D + h * D + d] += w * x.v[(b * T + s) * Hkv * D + j * D + d];
        }
      }
    }
  }
  return { o, lse };
}

/**
 * Gradients of Σ dO·O with respect to q, k and v:
 *   dP = dO·vᵀ, dS = P ∘ (dP − rowsum(dO ∘ O)), dq = scale·dS·k, dk = scale·dSᵀ·q, dv = Pᵀ·dO,
 * with dk and dv summed over the g query heads that share a kv head.
 */
export function attentionBackward(
  shape: AttentionShape,
  x: AttentionInputs,
  dO: ArrayLike<number>,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { batch: B, seqLen: T, nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const scale = 1 / Math.sqrt(D);
  const { o } = attentionForward(shape, x);
  const dq = new Float64Array(B * T * H * D);
  const dk = new Float64Array(B * T * Hkv * D);
  const dv = new Float64Array(B * T * Hkv * D);
  const qi = (b: number, t: number, h: number, d: number) => (b * T + t) * H * D + h * D + d;
  const ki = (b: number, t: number, j: number, d: number) => (b * T + t) * Hkv * D + j * D + d;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const j = Math.floor(h / (H / Hkv));
      const { p } = probabilities(shape, x, b, h);
      for (let t = 0; t < T; t++) {
        let delta = 0;
        for (let d = 0; d < D; d++) delta += dO[qi(b, t, h, d)] * o[qi(b, t, h, d)];
        for (let s = 0; s < T; s++) {
          const w = p[t * T + s];
          if (w === 0) continue;
          let dp = 0;
          for (let d = 0; d < D; d++) dp += dO[qi(b, t, h, d)] * x.v[ki(b, s, j, d)];
          const ds = w * (dp - delta);
          for (let d = 0; d < D; d++) {
            dv[ki(b, s, j, d)] += w * dO[qi(b, t, h, d)];
            dq[qi(b, t, h, d)] += scale * ds * x.k[ki(b, s, j, d)];
            dk[ki(b, s, j, d)] += scale * ds * x.q[qi(b, t, h, d)];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
