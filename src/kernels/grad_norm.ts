import type { KernelSpec } from '../engine/kernel.ts';
import { grid, type BindingResource, type Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import partialSource from '../../shaders/grad_norm_partial.wgsl?raw';
import finishSource from '../../shaders/grad_norm_finish.wgsl?raw';

// Global L2 norm of all trainable gradients and the clip coefficient, as torch's
// clip_grad_norm_ (formats.md §5.3), on the GPU with no readback. Pass 1 writes per-workgroup
// sums of squares of every tensor into fixed slots of `partials`; pass 2 adds the slots in a
// fixed order (deterministic) into `state`:
//   state[0] norm before clipping, [1] clip coefficient, [2] non-finite flag (1/0), [3] Σ g².
// Clipping itself is fused into adamw_step, which multiplies each gradient by state[1] and skips
// the whole update when state[2] is set; the trainer reads `state` once at the end of the step.

const WORKGROUP = 256;
const PER_THREAD = 16;
/** Gradient elements per pass-1 workgroup, i.e. per slot. */
export const GRAD_NORM_CHUNK = WORKGROUP * PER_THREAD;
export const GRAD_NORM_STATE_BYTES = 16;
export const GradNormState = { norm: 0, clipCoef: 1, nonFinite: 2, sumSq: 3 } as const;

const PARTIAL: KernelSpec = {
  name: 'grad_norm_partial',
  source: partialSource,
  bindings: [
    { name: 'grad', access: 'read' },
    { name: 'partials', access: 'read_write' },
  ],
  uniforms: { count: 'u32', offset: 'u32', slot: 'u32' },
};

const FINISH: KernelSpec = {
  name: 'grad_norm_finish',
  source: finishSource,
  bindings: [
    { name: 'partials', access: 'read' },
    { name: 'state', access: 'read_write' },
  ],
  uniforms: { slots: 'u32', max_norm: 'f32' },
};

/** One gradient tensor: `count` f32 elements of `buffer` starting at element `offset` (default 0). */
export interface GradSlice {
  buffer: BindingResource;
  count: number;
  offset?: number;
}

/** Slots of `partials` for these gradients: allocate 8·slots bytes (two f32 per slot). */
export function gradNormSlots(grads: readonly { count: number }[]): number {
  return grads.reduce((n, g) => n + Math.ceil(g.count / GRAD_NORM_CHUNK), 0);
}

/**
 * Records the norm of all `grads` into `state` (GRAD_NORM_STATE_BYTES). `maxNorm` ≤ 0 turns
 * clipping off (coefficient 1), as the Trainer's max_grad_norm = 0 does.
 */
export function gradNorm(
  rt: Runtime,
  rec: Recorder,
  io: { grads: readonly GradSlice[]; partials: BindingResource; state: BindingResource },
  maxNorm: number,
): void {
  if (!Number.isFinite(maxNorm)) throw new Error(`grad_norm: max_norm ${maxNorm} is not finite`);
  const partial = rt.kernel(PARTIAL);
  let slot = 0;
  for (const g of io.grads) {
    const offset = g.offset ?? 0;
    if (!Number.isInteger(g.count) || g.count < 0 || !Number.isInteger(offset) || offset < 0) {
      throw new Error(`grad_norm: bad gradient slice (count ${g.count}, offset ${offset})`);
    }
    const workgroups = Math.ceil(g.count / GRAD_NORM_CHUNK);
    if (workgroups === 0) continue;
    rec.dispatch(partial, {
      bindings: [g.buffer, io.partials],
      uniforms: { count: g.count, offset, slot },
      workgroups: grid(workgroups),
      overrides: { WG: WORKGROUP, PER_THREAD },
    });
    slot += workgroups;
  }
  rec.dispatch(rt.kernel(FINISH), {
    bindings: [io.partials, io.state],
    uniforms: { slots: slot, max_norm: Math.max(0, maxNorm) },
    workgroups: [1],
    overrides: { WG: WORKGROUP },
  });
}
