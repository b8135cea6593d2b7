import forwardSource from '../../shaders/rope_forward.wgsl?raw';
import backwardSource from '../../shaders/rope_backward.wgsl?raw';
import sinCos from '../../shaders/lib/sin_cos.wgsl?raw';
import ropePair from '../../shaders/lib/rope_pair.wgsl?raw';
import { withLibs, type KernelSpec } from '../engine/kernel.ts';
import type { BindingResource, Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import { requireCounts, requireElements, threadGrid } from './launch_checks.ts';

// RoPE forward / backward in place (shaders/rope_*.wgsl), HF half-split layout. The model calls
// each once for q (heads = n_heads) and once for k (heads = n_kv). inv_freq (head_dim/2, f32)
// comes from ropeInvFreq in src/model/rope_freqs.ts, uploaded once; positions are the batch's
// per-token i32 positions, restarting at 0 for each packed example. sin and cos come from
// shaders/lib/sin_cos.wgsl, not the platform's (see there).

const WG = 256;

const bindings = (target: string) =>
  [
    { name: target, access: 'read_write' },
    { name: 'positions', access: 'read' },
    { name: 'inv_freq', access: 'read' },
  ] as const;

export const ROPE_FORWARD: KernelSpec = {
  name: 'rope_forward',
  source: withLibs(forwardSource, sinCos, ropePair),
  bindings: bindings('x'),
  uniforms: { rows: 'u32', heads: 'u32', head_dim: 'u32' },
};

export const ROPE_BACKWARD: KernelSpec = {
  name: 'rope_backward',
  source: withLibs(backwardSource, sinCos, ropePair),
  bindings: bindings('grad'),
  uniforms: { rows: 'u32', heads: 'u32', head_dim: 'u32' },
};

export interface RopeShape {
  /** Token rows, B·T. */
  rows: number;
  /** Heads in this tensor: n_heads for q, n_kv for k. */
  heads: number;
  headDim: number;
}

function record(rt: Runtime, rec: Recorder, spec: KernelSpec, target: BindingResource, positions: BindingResource, invFreq: BindingResource, shape: RopeShape): void {
  const { rows, heads, headDim } = shape;
  const n = requireCounts(spec.name, { rows, heads, headDim });
  if (headDim % 2 !== 0) throw new Error(`${spec.name}: head_dim must be even, got ${headDim}`);
  requireElements(spec.name, spec.bindings[0].name, target, n);
  requireElements(spec.name, 'positions', positions, rows);
  requireElements(spec.name, 'inv_freq', invFreq, headDim / 2);
  rec.dispatch(rt.kernel(spec), {
    bindings: [target, positions, invFreq],
    uniforms: { rows, heads, head_dim: headDim },
    workgroups: threadGrid(n / 2, WG),
    overrides: { WG },
  });
}

/** Rotates x (rows, heads·headDim) in place by θ = pos·inv_freq. positions: i32 (rows). */
export function ropeForward(rt: Runtime, rec: Recorder, io: { x: BindingResource; positions: BindingResource; invFreq: BindingResource }, shape: RopeShape): void {
  record(rt, rec, ROPE_FORWARD, io.x, io.positions, io.invFreq, shape);
}

/** Turns the gradient of the rotated tensor into the gradient of its input, in place (rotation by −θ). */
export function ropeBackward(rt: Runtime, rec: Recorder, io: { grad: BindingResource; positions: BindingResource; invFreq: BindingResource }, shape: RopeShape): void {
  record(rt, rec, ROPE_BACKWARD, io.grad, io.positions, io.invFreq, shape);
}
