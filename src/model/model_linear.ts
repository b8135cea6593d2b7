import type { Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { LinearModule } from '../formats/tensor_names.ts';
import { biasAddForward } from '../kernels/add.ts';
import { loraDropout, loraDropoutKey } from '../kernels/lora_dropout.ts';
import { matmulBackwardInput, matmulBackwardWeight, matmulForward } from '../kernels/matmul.ts';
import { matmulNf4BackwardInput, matmulNf4Forward } from '../kernels/matmul_nf4.ts';
import type { ActBuffer, BackwardScratch } from './activations.ts';
import type { BaseLinear } from './base_weights.ts';
import type { LoraPairGpu, LoraParams } from './lora_params.ts';

// One frozen Linear with its LoRA pair beside it (formats.md §1.10, §2.1), M = tokens:
//
//   forward   y  = x·Wᵀ + bias (+ β·y)          (M, out)  W NF4 (fused dequant) or dense f32
//             xd = dropout(x)                   (M, in)   training only; x itself otherwise
//             u  = xd·Aᵀ                        (M, r)    saved for dB
//             y += s·u·Bᵀ
//   backward  dx  = dy·W (+ β·dx)               the base is frozen: no dW, no dbias
//             du  = s·dy·B                      (M, r)
//             dB  = s·dyᵀ·u (+ γ·dB)            γ = 1 accumulates micro-batches of one step
//             xd  = dropout(x)                  regenerated from the same key, not stored
//             dA  = duᵀ·xd (+ γ·dA)
//             dx += dropout(du·A)               (dx += du·A without dropout)

/** What every Linear of one recorded pass shares. */
export interface PassContext {
  rt: Runtime;
  rec: Recorder;
  /** Tokens of this batch (B·T). */
  tokens: number;
  lora: LoraParams | null;
  /** Set when training: the micro-batch's dropout seed and γ for the LoRA gradients. */
  train: { dropoutSeed: number; gradBeta: 0 | 1 } | null;
  grad: BackwardScratch;
}

export interface LinearIo {
  layer: number;
  module: LinearModule;
  base: BaseLinear;
  /** (M, in) input */
  x: ActBuffer;
  /** (M, r) where u is kept, when the module has a LoRA pair. */
  u?: ActBuffer;
}

function pairOf(ctx: PassContext, io: LinearIo): LoraPairGpu | undefined {
  return ctx.lora?.byLayer[io.layer].get(io.module);
}

function dropoutP(ctx: PassContext): number {
  return ctx.train && ctx.lora ? ctx.lora.options.dropout : 0;
}

/** xd = dropout(x) into the shared scratch when dropout is on; else x itself. */
function loraInput(ctx: PassContext, pair: LoraPairGpu, x: ActBuffer): ActBuffer {
  const p = dropoutP(ctx);
  if (p === 0) return x;
  const xd = ctx.grad.xd!.withCols(x.cols);
  loraDropout(ctx.rt, ctx.rec, { x: x.buffer, out: xd.buffer }, { n: ctx.tokens * x.cols, key: loraDropoutKey(ctx.train!.dropoutSeed, pair.slot), p });
  return xd;
}

/**
 * y = base(x) + s·B(A(dropout(x))), with β = 1 adding onto y (the residual). `loraOnly` computes
 * just u (a checkpointed layer's recompute, whose output is already saved).
 */
export function linearForward(ctx: PassContext, io: LinearIo, y: ActBuffer, options: { beta?: 0 | 1; loraOnly?: boolean } = {}): void {
  const { rt, rec, tokens: M } = ctx;
  const beta = options.beta ?? 0;
  const x = io.x.rows(M);
  const out = y.rows(M);
  if (!options.loraOnly) {
    // y = x·Wᵀ + bias (+ β·y)
    if (io.base.kind === 'dense') {
      matmulForward(rt, rec, { x, w: io.base.weight, y: out, bias: io.base.bias, beta });
    } else {
      matmulNf4Forward(rt, rec, { x, w: io.base.weight, y: out, beta });
      if (io.base.bias) biasAddForward(rt, rec, { y: y.buffer, bias: io.base.bias.buffer }, { rows: M, cols: y.cols });
    }
  }
  const pair = pairOf(ctx, io);
  if (!pair) return;
  // xd = dropout(x);  u = xd·Aᵀ
  const xd = loraInput(ctx, pair, io.x);
  const u = io.u!.rows(M);
  matmulForward(rt, rec, { x: xd.rows(M), w: pair.a, y: u });
  // y += s·u·Bᵀ
  if (!options.loraOnly) matmulForward(rt, rec, { x: u, w: pair.b, y: out, alpha: ctx.lora!.scaling, beta: 1 });
}

/** dx (= or +=, by β) from dy through the frozen base and the LoRA pair; accumulates dA, dB. */
export function linearBackward(ctx: PassContext, io: LinearIo, dy: ActBuffer, dx: ActBuffer, beta: 0 | 1): void {
  const { rt, rec, tokens: M } = ctx;
  const dyT = dy.rows(M);
  const dxT = dx.rows(M);
  // ⟵ y = x·Wᵀ + bias:  dx = dy·W
  if (io.base.kind === 'dense') matmulBackwardInput(rt, rec, { dy: dyT, w: io.base.weight, dx: dxT, beta });
  else matmulNf4BackwardInput(rt, rec, { dy: dyT, w: io.base.weight, dx: dxT, beta });
  const pair = pairOf(ctx, io);
  if (!pair || !ctx.train) return;
  const s = ctx.lora!.scaling;
  const gamma = ctx.train.gradBeta;
  const du = ctx.grad.du!.rows(M);
  // ⟵ y += s·u·Bᵀ:  du = s·dy·B,  dB = s·dyᵀ·u
  matmulBackwardInput(rt, rec, { dy: dyT, w: pair.b, dx: du, alpha: s });
  matmulBackwardWeight(rt, rec, { dy: dyT, x: io.u!.rows(M), dw: pair.dB, alpha: s, beta: gamma });
  // ⟵ u = xd·Aᵀ:  dA = duᵀ·xd
  const xd = loraInput(ctx, pair, io.x);
  matmulBackwardWeight(rt, rec, { dy: du, x: xd.rows(M), dw: pair.dA, beta: gamma });
  // ⟵ xd = dropout(x):  dx += dropout(du·A)
  const p = dropoutP(ctx);
  if (p === 0) {
    matmulBackwardInput(rt, rec, { dy: du, w: pair.a, dx: dxT, beta: 1 });
    return;
  }
  const dxd = ctx.grad.dxd!.withCols(io.x.cols);
  matmulBackwardInput(rt, rec, { dy: du, w: pair.a, dx: dxd.rows(M) });
  loraDropout(rt, rec, { x: dxd.buffer, out: dx.buffer }, { n: M * io.x.cols, key: loraDropoutKey(ctx.train.dropoutSeed, pair.slot), p, accumulate: true });
}
