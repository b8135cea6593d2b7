import type { LinearModule } from '../../src/formats/tensor_names.ts';
import { addForward as add } from './add.ts';
import { attentionBackward, attentionForward, type AttentionShape } from './attention.ts';
import { linearBackward, linearForward, type FrozenLinear, type LinearCache, type LoraAdapter } from './model_lora.ts';
import { rmsNormBackward, rmsNormForward } from './rms_norm.ts';
import { ropeBackward, ropeForward } from './rope.ts';
import { swigluBackward, swigluForward } from './swiglu.ts';

// One pre-norm decoder layer (formats.md §4.3, §4.4; Qwen3's q_norm / k_norm), forward and
// backward in float64, llm.c style: the forward keeps every activation the backward needs, and
// each backward line undoes one forward line, quoted beside it (⟵). Shapes, with M = B·T tokens,
// C = hidden, H / Hkv heads of D = head_dim, I = intermediate:
//
//   n1 = RMSNorm(h; input_layernorm)                  (M, C)
//   q = q_proj(n1) (M, H·D)   k = k_proj(n1), v = v_proj(n1) (M, Hkv·D)   (+ bias, + LoRA)
//   qn = RMSNorm_D(q; q_norm), kn = RMSNorm_D(k; k_norm)   per token and head (Qwen3 only)
//   qr = RoPE(qn), kr = RoPE(kn)                     half-split, positions restart per example
//   att = Attention(qr, kr, v)                       (M, H·D) causal within a segment, GQA
//   h2 = h + o_proj(att)                             (M, C)
//   n2 = RMSNorm(h2; post_attention_layernorm)       (M, C)
//   g = gate_proj(n2), u = up_proj(n2)               (M, I)
//   a = silu(g) ⊙ u                                  (M, I)
//   out = h2 + down_proj(a)                          (M, C)

export interface LayerWeights {
  inputNorm: ArrayLike<number>;
  postNorm: ArrayLike<number>;
  /** [D] each, Qwen3 only. */
  qNorm: ArrayLike<number> | null;
  kNorm: ArrayLike<number> | null;
  linears: Record<LinearModule, FrozenLinear>;
}

/** What every layer of one forward shares: the batch geometry and RoPE table. */
export interface LayerContext {
  M: number;
  hidden: number;
  eps: number;
  attention: AttentionShape;
  /** (M) per token; the attention reference's convention: negative = padding. */
  segment: Int32Array;
  positions: ArrayLike<number>;
  invFreq: ArrayLike<number>;
}

export type LayerAdapters = Partial<Record<LinearModule, LoraAdapter>>;

export interface LayerCache {
  h: Float64Array;
  rstd1: Float64Array;
  q: Float64Array;
  k: Float64Array;
  rstdQ: Float64Array | null;
  rstdK: Float64Array | null;
  qr: Float64Array;
  kr: Float64Array;
  v: Float64Array;
  h2: Float64Array;
  rstd2: Float64Array;
  g: Float64Array;
  u: Float64Array;
  linear: Partial<Record<LinearModule, LinearCache>>;
}

export function layerForward(ctx: LayerContext, w: LayerWeights, lora: LayerAdapters, h: Float64Array): { out: Float64Array; cache: LayerCache } {
  const { M, hidden: C, eps } = ctx;
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = ctx.attention;
  const linear: LayerCache['linear'] = {};
  const project = (m: LinearModule, x: ArrayLike<number>): Float64Array => {
    const { y, cache } = linearForward(w.linears[m], lora[m] ?? null, x, M);
    linear[m] = cache;
    return y;
  };

  const { y: n1, rstd: rstd1 } = rmsNormForward(h, w.inputNorm, { rows: M, cols: C, eps });
  const q = project('q_proj', n1);
  const k = project('k_proj', n1);
  const v = project('v_proj', n1);
  let qn: Float64Array = q;
  let kn: Float64Array = k;
  let rstdQ: Float64Array | null = null;
  let rstdK: Float64Array | null = null;
  if (w.qNorm && w.kNorm) {
    ({ y: qn, rstd: rstdQ } = rmsNormForward(q, w.qNorm, { rows: M * H, cols: D, eps }));
    ({ y: kn, rstd: rstdK } = rmsNormForward(k, w.kNorm, { rows: M * Hkv, cols: D, eps }));
  }
  const qr = ropeForward(qn, ctx.positions, ctx.invFreq, { rows: M, heads: H, headDim: D });
  const kr = ropeForward(kn, ctx.positions, ctx.invFreq, { rows: M, heads: Hkv, headDim: D });
  const { o: att } = attentionForward(ctx.attention, { q: qr, k: kr, v, segment: ctx.segment });
  const o = project('o_proj', att);
  const h2 = add(h, o);
  const { y: n2, rstd: rstd2 } = rmsNormForward(h2, w.postNorm, { rows: M, cols: C, eps });
  const g = project('gate_proj', n2);
  const u = project('up_proj', n2);
  const a = swigluForward(g, u);
  const d = project('down_proj', a);
  const out = add(h2, d);
  return { out, cache: { h, rstd1, q, k, rstdQ, rstdK, qr, kr, v, h2, rstd2, g, u, linear } };
}

/** dh from dout, and the LoRA gradients of this layer's targets (when wantGrads). */
export function layerBackward(
  ctx: LayerContext,
  w: LayerWeights,
  lora: LayerAdapters,
  cache: LayerCache,
  dout: Float64Array,
  wantGrads: boolean,
): { dh: Float64Array; grads: Map<LinearModule, { dA: Float64Array; dB: Float64Array }> } {
  const { M, hidden: C } = ctx;
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = ctx.attention;
  const grads = new Map<LinearModule, { dA: Float64Array; dB: Float64Array }>();
  const unproject = (m: LinearModule, dy: ArrayLike<number>): Float64Array => {
    const { dx, dA, dB } = linearBackward(w.linears[m], lora[m] ?? null, cache.linear[m]!, dy, M, wantGrads);
    if (dA && dB) grads.set(m, { dA, dB });
    return dx;
  };

  // ⟵ out = h2 + d: both receive dout
  const dh2 = Float64Array.from(dout);
  // ⟵ d = down_proj(a)
  const da = unproject('down_proj', dout);
  // ⟵ a = silu(g) ⊙ u
  const { dgate: dg, dup: du } = swigluBackward(da, cache.g, cache.u);
  // ⟵ g = gate_proj(n2), u = up_proj(n2): both read n2, so their input gradients add
  const dn2 = add(unproject('gate_proj', dg), unproject('up_proj', du));
  // ⟵ n2 = RMSNorm(h2)
  accumulate(dh2, rmsNormBackward(dn2, cache.h2, w.postNorm, cache.rstd2, { rows: M, cols: C }));
  // ⟵ h2 = h + o: both receive dh2
  const dh = Float64Array.from(dh2);
  // ⟵ o = o_proj(att)
  const datt = unproject('o_proj', dh2);
  // ⟵ att = Attention(qr, kr, v)
  const { dq: dqr, dk: dkr, dv } = attentionBackward(ctx.attention, { q: cache.qr, k: cache.kr, v: cache.v, segment: ctx.segment }, datt);
  // ⟵ qr = RoPE(qn), kr = RoPE(kn)
  let dq = ropeBackward(dqr, ctx.positions, ctx.invFreq, { rows: M, heads: H, headDim: D });
  let dk = ropeBackward(dkr, ctx.positions, ctx.invFreq, { rows: M, heads: Hkv, headDim: D });
  // ⟵ qn = RMSNorm_D(q), kn = RMSNorm_D(k)
  if (w.qNorm && w.kNorm) {
    dq = rmsNormBackward(dq, cache.q, w.qNorm, cache.rstdQ!, { rows: M * H, cols: D });
    dk = rmsNormBackward(dk, cache.k, w.kNorm, cache.rstdK!, { rows: M * Hkv, cols: D });
  }
  // ⟵ q, k, v = q_proj(n1), k_proj(n1), v_proj(n1): the three input gradients add
  const dn1 = add(add(unproject('q_proj', dq), unproject('k_proj', dk)), unproject('v_proj', dv));
  // ⟵ n1 = RMSNorm(h)
  accumulate(dh, rmsNormBackward(dn1, cache.h, w.inputNorm, cache.rstd1, { rows: M, cols: C }));
  return { dh, grads };
}

function accumulate(into: Float64Array, x: ArrayLike<number>): void {
  for (let i = 0; i < into.length; i++) into[i] += x[i];
}
