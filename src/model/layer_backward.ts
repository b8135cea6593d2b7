import type { LinearModule } from '../formats/tensor_names.ts';
import { attentionBackward } from '../kernels/attention.ts';
import { rmsNormBackward } from '../kernels/rms_norm.ts';
import { ropeBackward } from '../kernels/rope.ts';
import { swigluBackward } from '../kernels/swiglu.ts';
import type { ActBuffer, LayerActs } from './activations.ts';
import type { LayerWeights } from './base_weights.ts';
import { layerIo, type ModelPass } from './layer_forward.ts';
import { linearBackward } from './model_linear.ts';

// One decoder layer backward: layer_forward.ts read bottom to top, one adjoint per forward line
// (⟵ quotes the line it undoes). On entry dh holds dL/d(out); on exit dL/dh, the layer's input.
// The frozen norms, projections and biases get no gradients; every LoRA pair of the layer
// accumulates dA, dB (model_linear.ts). Scratch gradients (pass.grad) are reused by every layer.

export function layerBackward(pass: ModelPass, layer: number, weights: LayerWeights, acts: LayerActs, h: ActBuffer): void {
  const { rt, rec, config, tokens: M, grad: g } = pass;
  const { hiddenSize: C, numHeads: H, numKvHeads: Hkv, headDim: D } = config;
  const io = (module: LinearModule, x: ActBuffer) => layerIo(pass, layer, weights, acts, module, x);

  // ⟵ out = hMid + down_proj(act): dh passes to hMid as it is, and into down_proj
  linearBackward(pass, io('down_proj', acts.act), g.dh, g.da, 0);
  // ⟵ act = silu(gate) ⊙ up
  swigluBackward(rt, rec, { dout: g.da.buffer, gate: acts.gate.buffer, up: acts.up.buffer, dgate: g.dgate.buffer, dup: g.dup.buffer }, { n: M * config.intermediateSize });
  // ⟵ gate = gate_proj(xn2), up = up_proj(xn2): both read xn2, so their input gradients add
  linearBackward(pass, io('gate_proj', acts.xn2), g.dgate, g.dxn, 0);
  linearBackward(pass, io('up_proj', acts.xn2), g.dup, g.dxn, 1);
  // ⟵ xn2 = RMSNorm(hMid): dhMid = dh + RMSNorm'(dxn)
  rmsNormBackward(rt, rec, { dy: g.dxn.buffer, x: acts.hMid.buffer, weight: weights.postAttentionNorm.buffer, rstd: acts.rstd2.buffer, dx: g.dh.buffer }, { rows: M, cols: C, accumulate: true });

  // ⟵ hMid = h + o_proj(att): dh passes to h, and into o_proj
  linearBackward(pass, io('o_proj', acts.att), g.dh, g.datt, 0);
  // ⟵ att = Attention(q, k, v)
  attentionBackward(
    rt,
    rec,
    { q: acts.q.buffer, k: acts.k.buffer, v: acts.v.buffer, o: acts.att.buffer, dO: g.datt.buffer, segment: pass.segments, stats: acts.stats.buffer, dq: g.dq.buffer, dk: g.dk.buffer, dv: g.dv.buffer },
    pass.attention,
  );
  // ⟵ q, k = RoPE(q), RoPE(k): rotate the gradients back, in place
  const rope = { positions: pass.positions, invFreq: pass.invFreq };
  ropeBackward(rt, rec, { grad: g.dq.buffer, ...rope }, { rows: M, heads: H, headDim: D });
  ropeBackward(rt, rec, { grad: g.dk.buffer, ...rope }, { rows: M, heads: Hkv, headDim: D });
  // ⟵ [Qwen3] q = RMSNorm_D(qRaw), k = RMSNorm_D(kRaw)
  let dq = g.dq;
  let dk = g.dk;
  if (config.qkNorm) {
    rmsNormBackward(rt, rec, { dy: g.dq.buffer, x: acts.qRaw!.buffer, weight: weights.qNorm!.buffer, rstd: acts.rstdQ!.buffer, dx: g.dqRaw!.buffer }, { rows: M * H, cols: D });
    rmsNormBackward(rt, rec, { dy: g.dk.buffer, x: acts.kRaw!.buffer, weight: weights.kNorm!.buffer, rstd: acts.rstdK!.buffer, dx: g.dkRaw!.buffer }, { rows: M * Hkv, cols: D });
    dq = g.dqRaw!;
    dk = g.dkRaw!;
  }
  // ⟵ q, k, v = q_proj(xn1), k_proj(xn1), v_proj(xn1): the three input gradients add
  linearBackward(pass, io('q_proj', acts.xn1), dq, g.dxn, 0);
  linearBackward(pass, io('k_proj', acts.xn1), dk, g.dxn, 1);
  linearBackward(pass, io('v_proj', acts.xn1), g.dv, g.dxn, 1);
  // ⟵ xn1 = RMSNorm(h): dh += RMSNorm'(dxn)
  rmsNormBackward(rt, rec, { dy: g.dxn.buffer, x: h.buffer, weight: weights.inputNorm.buffer, rstd: acts.rstd1.buffer, dx: g.dh.buffer }, { rows: M, cols: C, accumulate: true });
}
