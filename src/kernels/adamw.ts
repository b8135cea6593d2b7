import type { KernelSpec } from '../engine/kernel.ts';
import { grid, type BindingResource, type Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import source from '../../shaders/adamw_step.wgsl?raw';

// torch.optim.AdamW (formats.md §5.4) over a list of parameter tensors, one dispatch per tensor,
// with the clip coefficient and the non-finite flag read on the GPU from the grad-norm state
// (grad_norm.ts): no readback between backward and the update.
//
// `step` is the 1-based count of updates actually applied to these parameters. A step skipped for
// non-finite gradients leaves θ, m and v untouched on the GPU, so the trainer must not count it:
// it reads the flag with the norm at the end of the step and reuses the same `step` next time.

const WORKGROUP = 256;

const ADAMW: KernelSpec = {
  name: 'adamw_step',
  source,
  bindings: [
    { name: 'param', access: 'read_write' },
    { name: 'grad', access: 'read' },
    { name: 'm', access: 'read_write' },
    { name: 'v', access: 'read_write' },
    { name: 'norm_state', access: 'read' },
  ],
  uniforms: {
    count: 'u32',
    decay_factor: 'f32',
    step_size: 'f32',
    bc2_sqrt: 'f32',
    one_minus_beta1: 'f32',
    beta2: 'f32',
    one_minus_beta2: 'f32',
    eps: 'f32',
  },
};

export interface AdamwHyper {
  /** The learning rate this step uses (from the schedule). */
  lr: number;
  /** 1-based index of this update. */
  step: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay λ (torch default 1e-2; HF passes its own, default 0). */
  weightDecay: number;
}

/** One trainable tensor: parameter, gradient, and its two moments, `count` f32 each. */
export interface AdamwTensor {
  param: BindingResource;
  grad: BindingResource;
  m: BindingResource;
  v: BindingResource;
  count: number;
  /** Overrides hyper.weightDecay for this tensor (HF excludes biases and norms: 0). */
  weightDecay?: number;
}

/** The f32 uniforms of one step, computed in float64 as PyTorch does in Python floats. */
export function adamwScalars(h: AdamwHyper, weightDecay = h.weightDecay) {
  if (!Number.isInteger(h.step) || h.step < 1) throw new Error(`adamw: step must be a positive integer, got ${h.step}`);
  return {
    decay_factor: 1 - h.lr * weightDecay,
    step_size: h.lr / (1 - h.beta1 ** h.step),
    bc2_sqrt: Math.sqrt(1 - h.beta2 ** h.step),
    one_minus_beta1: 1 - h.beta1,
    beta2: h.beta2,
    one_minus_beta2: 1 - h.beta2,
    eps: h.eps,
  };
}

/** Records the update of every tensor; `normState` is the grad-norm state buffer of this step. */
export function adamwStep(rt: Runtime, rec: Recorder, tensors: readonly AdamwTensor[], normState: BindingResource, hyper: AdamwHyper): void {
  const kernel = rt.kernel(ADAMW);
  for (const t of tensors) {
    if (!Number.isInteger(t.count) || t.count < 0) throw new Error(`adamw: bad element count ${t.count}`);
    rec.dispatch(kernel, {
      bindings: [t.param, t.grad, t.m, t.v, normState],
      uniforms: { count: t.count, ...adamwScalars(hyper, t.weightDecay) },
      workgroups: grid(Math.ceil(t.count / WORKGROUP)),
      overrides: { WG: WORKGROUP },
    });
  }
}
