import { withLibs, type KernelSpec } from '../engine/kernel.ts';
import { grid, type BindingResource, type Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import fusedSource from '../../shaders/cross_entropy_fused.wgsl?raw';
import sumSource from '../../shaders/cross_entropy_sum.wgsl?raw';
import workgroupSum from '../../shaders/lib/workgroup_sum.wgsl?raw';

// Causal-LM cross-entropy (formats.md §5.1, §5.2), computed chunk by chunk so the (B·T, V)
// logits never exist at once. Per chunk the model computes logits for rows
// [rowStart, rowStart + rows) with the lm_head, `crossEntropy` writes their per-token losses
// into rowLoss (B·T) and overwrites the logits with dlogits = (softmax − onehot)·gradScale, and
// the model backprops the chunk through the lm_head before computing the next chunk. After the
// micro-batch, `crossEntropySum` adds Σ rowLoss to a one-float accumulator on the GPU (no
// readback in the hot loop; read it once per step).
//
// Labels are the data layer's unshifted labels (B·T, i32, -100 = ignored) and the shift happens
// here, as in transformers: row g = b·T + t predicts labels[g + 1], and the last position of each
// sequence predicts nothing. Pass `shift: false` for labels that are already targets.
// gradScale = 1 / (number of trained shifted targets over every micro-batch of the optimizer
// step), known to the trainer from the labels before the step starts.

const WORKGROUP = 256;

const FUSED: KernelSpec = {
  name: 'cross_entropy_fused',
  source: fusedSource,
  bindings: [
    { name: 'logits', access: 'read_write' },
    { name: 'labels', access: 'read' },
    { name: 'row_loss', access: 'read_write' },
  ],
  uniforms: { rows: 'u32', vocab: 'u32', row_start: 'u32', seq_len: 'u32', shift: 'u32', write_grad: 'u32', grad_scale: 'f32' },
};

const SUM: KernelSpec = {
  name: 'cross_entropy_sum',
  source: withLibs(sumSource, workgroupSum),
  bindings: [
    { name: 'row_loss', access: 'read' },
    { name: 'loss_sum', access: 'read_write' },
  ],
  uniforms: { count: 'u32' },
};

export interface CrossEntropyChunk {
  /** Logit rows in this chunk. */
  rows: number;
  vocab: number;
  /** Global token index (b·T + t) of the chunk's first row. */
  rowStart: number;
  /** T: the label shift never crosses from one sequence into the next. */
  seqLen: number;
}

export interface CrossEntropyOptions {
  /** Labels are unshifted (the default, as the data layer gives them). */
  shift?: boolean;
  /** Write dlogits = (softmax − onehot)·gradScale over the logits; omit for loss only (eval). */
  gradScale?: number;
}

/** Per-token losses of a chunk into rowLoss[rowStart …], and dlogits in place when gradScale is given. */
export function crossEntropy(
  rt: Runtime,
  rec: Recorder,
  io: { logits: BindingResource; labels: BindingResource; rowLoss: BindingResource },
  chunk: CrossEntropyChunk,
  options: CrossEntropyOptions = {},
): void {
  const { rows, vocab, rowStart, seqLen } = chunk;
  if (![rows, vocab, seqLen].every((n) => Number.isInteger(n) && n > 0) || !Number.isInteger(rowStart) || rowStart < 0) {
    throw new Error(`cross_entropy: bad chunk ${JSON.stringify(chunk)}`);
  }
  const gradScale = options.gradScale;
  if (gradScale !== undefined && !Number.isFinite(gradScale)) throw new Error(`cross_entropy: gradScale ${gradScale} is not finite`);
  rec.dispatch(rt.kernel(FUSED), {
    bindings: [io.logits, io.labels, io.rowLoss],
    uniforms: {
      rows,
      vocab,
      row_start: rowStart,
      seq_len: seqLen,
      shift: options.shift === false ? 0 : 1,
      write_grad: gradScale === undefined ? 0 : 1,
      grad_scale: gradScale ?? 0,
    },
    workgroups: grid(rows),
    overrides: { WG: WORKGROUP },
  });
}

/** lossSum[0] += Σ rowLoss[0 … count): every row must have been written by crossEntropy (or cleared). */
export function crossEntropySum(rt: Runtime, rec: Recorder, io: { rowLoss: BindingResource; lossSum: BindingResource }, count: number): void {
  rec.dispatch(rt.kernel(SUM), {
    bindings: [io.rowLoss, io.lossSum],
    uniforms: { count },
    workgroups: [1],
    overrides: { WG: WORKGROUP },
  });
}
