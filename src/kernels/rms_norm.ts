import forwardSource from '../../shaders/rms_norm_forward.wgsl?raw';
import backwardSource from '../../shaders/rms_norm_backward.wgsl?raw';
import workgroupSum from '../../shaders/lib/workgroup_sum.wgsl?raw';
import { withLibs, type KernelSpec } from '../engine/kernel.ts';
import { grid, type BindingResource, type Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import { requireCounts, requireElements } from './launch_checks.ts';

// RMSNorm forward / backward (shaders/rms_norm_*.wgsl): one workgroup per row, for the decoder
// norms (rows = B·T, cols = hidden) and Qwen3's q_norm / k_norm (rows = B·T·heads, cols = head_dim).

export const RMS_NORM_FORWARD: KernelSpec = {
  name: 'rms_norm_forward',
  source: withLibs(forwardSource, workgroupSum),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'weight', access: 'read' },
    { name: 'y', access: 'read_write' },
    { name: 'rstd', access: 'read_write' },
  ],
  uniforms: { rows: 'u32', cols: 'u32', eps: 'f32' },
};

export const RMS_NORM_BACKWARD: KernelSpec = {
  name: 'rms_norm_backward',
  source: withLibs(backwardSource, workgroupSum),
  bindings: [
    { name: 'dy', access: 'read' },
    { name: 'x', access: 'read' },
    { name: 'weight', access: 'read' },
    { name: 'rstd', access: 'read' },
    { name: 'dx', access: 'read_write' },
  ],
  uniforms: { rows: 'u32', cols: 'u32' },
};

export interface RmsNormShape {
  rows: number;
  cols: number;
  eps: number;
}

/** Threads per row: the power of two ≥ cols, within [32, 256], so short rows (head_dim) idle few. */
export function rmsNormWorkgroup(cols: number): number {
  let wg = 32;
  while (wg < cols && wg < 256) wg *= 2;
  return wg;
}

/** y = weight ⊙ (x·rstd) per row; writes rstd (rows) for the backward. x (rows, cols), y (rows, cols). */
export function rmsNormForward(
  rt: Runtime,
  rec: Recorder,
  io: { x: BindingResource; weight: BindingResource; y: BindingResource; rstd: BindingResource },
  shape: RmsNormShape,
): void {
  const { rows, cols, eps } = shape;
  const n = requireCounts('rms_norm_forward', { rows, cols });
  if (cols === 0) throw new Error('rms_norm_forward: cols must be positive');
  if (!(eps >= 0)) throw new Error(`rms_norm_forward: eps must be non-negative, got ${eps}`);
  requireElements('rms_norm_forward', 'x', io.x, n);
  requireElements('rms_norm_forward', 'weight', io.weight, cols);
  requireElements('rms_norm_forward', 'y', io.y, n);
  requireElements('rms_norm_forward', 'rstd', io.rstd, rows);
  rec.dispatch(rt.kernel(RMS_NORM_FORWARD), {
    bindings: [io.x, io.weight, io.y, io.rstd],
    uniforms: { rows, cols, eps },
    workgroups: grid(rows),
    overrides: { WG: rmsNormWorkgroup(cols) },
  });
}

/**
 * dx from dy (weight frozen). With `accumulate`, dx += the gradient (the residual stream's
 * gradient already in dx) instead of dx = it. dx must be a different buffer from dy and x.
 */
export function rmsNormBackward(
  rt: Runtime,
  rec: Recorder,
  io: { dy: BindingResource; x: BindingResource; weight: BindingResource; rstd: BindingResource; dx: BindingResource },
  shape: { rows: number; cols: number; accumulate?: boolean },
): void {
  const { rows, cols } = shape;
  const n = requireCounts('rms_norm_backward', { rows, cols });
  if (cols === 0) throw new Error('rms_norm_backward: cols must be positive');
  requireElements('rms_norm_backward', 'dy', io.dy, n);
  requireElements('rms_norm_backward', 'x', io.x, n);
  requireElements('rms_norm_backward', 'weight', io.weight, cols);
  requireElements('rms_norm_backward', 'rstd', io.rstd, rows);
  requireElements('rms_norm_backward', 'dx', io.dx, n);
  rec.dispatch(rt.kernel(RMS_NORM_BACKWARD), {
    bindings: [io.dy, io.x, io.weight, io.rstd, io.dx],
    uniforms: { rows, cols },
    workgroups: grid(rows),
    overrides: { WG: rmsNormWorkgroup(cols), ACCUMULATE: shape.accumulate ? 1 : 0 },
  });
}
