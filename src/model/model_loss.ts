import type { Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { GpuTensor } from '../engine/tensor.ts';
import { crossEntropy, crossEntropySum } from '../kernels/cross_entropy.ts';
import { matmulBackwardInput, matmulForward } from '../kernels/matmul.ts';
import type { ActBuffer, ActivationPlan } from './activations.ts';

// The lm_head fused with the loss, in chunks of R logit rows, so the (M, V) logits never exist
// (formats.md §5.1, §5.2). For rows [r0, r0 + R) of xnF = RMSNorm_f(h_L):
//   logits = xnF[r0…]·Wᵀ                    (R, V)   W = lm_head (= embed_tokens when tied)
//   rowLoss[r0…] = CE(logits, shifted labels), logits ← (softmax − onehot)·gradScale   in place
//   dxnF[r0…] = dlogits·W                   (R, C)   before the next chunk reuses the logits
// then lossSum += Σ rowLoss. With one chunk the matmuls read and write xnF / dxnF directly; with
// several, each chunk's rows are copied into xChunk and its gradient out of dxChunk (the matmul
// launchers take whole buffers, and a row offset is rarely a 256-byte binding offset).

export interface LossPass {
  rt: Runtime;
  rec: Recorder;
  plan: ActivationPlan;
  lmHead: GpuTensor;
  tokens: number;
  seqLen: number;
  /** dlogits scale (1 / trained targets of the optimizer step); omit for the loss alone. */
  gradScale?: number;
  /** Where dxnF goes (the backward's scratch), when gradScale is set. */
  dxn?: ActBuffer;
  /** Accumulates Σ token losses; omit to compute logits only (no loss kernels). */
  lossSum?: GPUBuffer;
  /** Called with each chunk's logits before the loss overwrites them (logits() readback). */
  onLogits?: (logits: GpuTensor, rowStart: number) => void;
}

export function recordHeadAndLoss(p: LossPass): void {
  const { rt, rec, plan, tokens: M } = p;
  const C = plan.xnF.cols;
  const V = plan.logits.cols;
  const R = plan.lossChunkRows;
  const single = M <= R;
  for (let r0 = 0; r0 < M; r0 += R) {
    const rows = Math.min(R, M - r0);
    let x = plan.xnF.rows(M);
    if (!single) {
      rec.copy(plan.xnF.buffer, r0 * C * 4, plan.xChunk!.buffer, 0, rows * C * 4);
      x = plan.xChunk!.rows(rows);
    }
    const logits = plan.logits.rows(rows);
    matmulForward(rt, rec, { x, w: p.lmHead, y: logits });
    p.onLogits?.(logits, r0);
    if (!p.lossSum) continue;
    crossEntropy(rt, rec, { logits: logits.buffer, labels: plan.labels.buffer, rowLoss: plan.rowLoss.buffer }, { rows, vocab: V, rowStart: r0, seqLen: p.seqLen }, { gradScale: p.gradScale });
    if (p.gradScale === undefined) continue;
    const dx = single ? p.dxn!.rows(M) : plan.dxChunk!.rows(rows);
    matmulBackwardInput(rt, rec, { dy: logits, w: p.lmHead, dx });
    if (!single) rec.copy(plan.dxChunk!.buffer, 0, p.dxn!.buffer, r0 * C * 4, rows * C * 4);
  }
  if (p.lossSum) crossEntropySum(rt, rec, { rowLoss: plan.rowLoss.buffer, lossSum: p.lossSum }, M);
}
