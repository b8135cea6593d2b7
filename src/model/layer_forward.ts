import type { ModelConfig } from '../formats/hf_config.ts';
import type { LinearModule } from '../formats/tensor_names.ts';
import { attentionForward, type AttentionShape } from '../kernels/attention.ts';
import { rmsNormForward } from '../kernels/rms_norm.ts';
import { ropeForward } from '../kernels/rope.ts';
import { swigluForward } from '../kernels/swiglu.ts';
import type { ActBuffer, LayerActs } from './activations.ts';
import type { LayerWeights } from './base_weights.ts';
import type { CachedPass } from './kv_cache.ts';
import { linearForward, type LinearIo, type PassContext } from './model_linear.ts';

// One pre-norm decoder layer forward on the GPU (formats.md §4.3, §4.4; Qwen3's q_norm/k_norm),
// writing into `acts` everything the backward reads. M = B·T tokens, shapes per token:
//
//   xn1 = RMSNorm(h; input_layernorm)                          (C)     saves rstd1
//   q = q_proj(xn1) (Hq), k = k_proj(xn1), v = v_proj(xn1) (Hkv)       + bias, + LoRA (u saved)
//   [Qwen3] q = RMSNorm_D(qRaw; q_norm), k = RMSNorm_D(kRaw; k_norm)   per head, saves rstdQ/K
//   q, k = RoPE(q), RoPE(k)                                    in place, per-token positions
//   att = Attention(q, k, v)                                   (Hq)    saves lse in stats
//         [generation: k, v appended to the KV cache, att over the cache (kv_cache.ts)]
//   hMid = h + o_proj(att)                                     (C)     h copied, o_proj adds (β = 1)
//   xn2 = RMSNorm(hMid; post_attention_layernorm)              (C)     saves rstd2
//   gate = gate_proj(xn2), up = up_proj(xn2)                   (I)
//   act = silu(gate) ⊙ up                                      (I)
//   out = hMid + down_proj(act)                                (C)     hMid copied, down adds

/** A pass over the whole model: the Linear context plus the batch's geometry and inputs. */
export interface ModelPass extends PassContext {
  config: ModelConfig;
  attention: AttentionShape;
  invFreq: GPUBuffer;
  positions: GPUBuffer;
  /** i32 (M): the attention kernel's convention, negative = padding. */
  segments: GPUBuffer;
  /** Generation: the M tokens sit at positions cache.start …, attention reads the KV cache. */
  cache?: CachedPass;
}

export function layerIo(pass: ModelPass, layer: number, weights: LayerWeights, acts: LayerActs, module: LinearModule, x: ActBuffer): LinearIo {
  return { layer, module, base: weights.linear[module], x, u: acts.loraU.get(module) };
}

/**
 * out = layer(h). With `recompute` (a checkpointed layer in the backward) `out` is already saved:
 * everything else is rewritten, down_proj only as far as its LoRA u.
 */
export function layerForward(pass: ModelPass, layer: number, weights: LayerWeights, acts: LayerActs, h: ActBuffer, out: ActBuffer, recompute = false): void {
  const { rt, rec, config, tokens: M } = pass;
  const { hiddenSize: C, numHeads: H, numKvHeads: Hkv, headDim: D, rmsNormEps: eps } = config;
  const io = (module: LinearModule, x: ActBuffer) => layerIo(pass, layer, weights, acts, module, x);

  rmsNormForward(rt, rec, { x: h.buffer, weight: weights.inputNorm.buffer, y: acts.xn1.buffer, rstd: acts.rstd1.buffer }, { rows: M, cols: C, eps });
  const qOut = acts.qRaw ?? acts.q;
  const kOut = acts.kRaw ?? acts.k;
  linearForward(pass, io('q_proj', acts.xn1), qOut);
  linearForward(pass, io('k_proj', acts.xn1), kOut);
  linearForward(pass, io('v_proj', acts.xn1), acts.v);
  if (config.qkNorm) {
    rmsNormForward(rt, rec, { x: acts.qRaw!.buffer, weight: weights.qNorm!.buffer, y: acts.q.buffer, rstd: acts.rstdQ!.buffer }, { rows: M * H, cols: D, eps });
    rmsNormForward(rt, rec, { x: acts.kRaw!.buffer, weight: weights.kNorm!.buffer, y: acts.k.buffer, rstd: acts.rstdK!.buffer }, { rows: M * Hkv, cols: D, eps });
  }
  const rope = { positions: pass.positions, invFreq: pass.invFreq };
  ropeForward(rt, rec, { x: acts.q.buffer, ...rope }, { rows: M, heads: H, headDim: D });
  ropeForward(rt, rec, { x: acts.k.buffer, ...rope }, { rows: M, heads: Hkv, headDim: D });
  if (pass.cache) pass.cache.kv.attend(rec, layer, { q: acts.q.buffer, k: acts.k.buffer, v: acts.v.buffer, att: acts.att.buffer }, M, pass.cache.start);
  else attentionForward(rt, rec, { q: acts.q.buffer, k: acts.k.buffer, v: acts.v.buffer, segment: pass.segments, o: acts.att.buffer, stats: acts.stats.buffer }, pass.attention);
  // hMid = h + o_proj(att): the projection adds onto a copy of h.
  rec.copy(h.buffer, 0, acts.hMid.buffer, 0, M * C * 4);
  linearForward(pass, io('o_proj', acts.att), acts.hMid, { beta: 1 });

  rmsNormForward(rt, rec, { x: acts.hMid.buffer, weight: weights.postAttentionNorm.buffer, y: acts.xn2.buffer, rstd: acts.rstd2.buffer }, { rows: M, cols: C, eps });
  linearForward(pass, io('gate_proj', acts.xn2), acts.gate);
  linearForward(pass, io('up_proj', acts.xn2), acts.up);
  swigluForward(rt, rec, { gate: acts.gate.buffer, up: acts.up.buffer, out: acts.act.buffer }, { n: M * config.intermediateSize });
  if (!recompute) rec.copy(acts.hMid.buffer, 0, out.buffer, 0, M * C * 4);
  linearForward(pass, io('down_proj', acts.act), out, { beta: 1, loraOnly: recompute });
}
