import forwardSource from '../../shaders/swiglu_forward.wgsl?raw';
import backwardSource from '../../shaders/swiglu_backward.wgsl?raw';
import type { KernelSpec } from '../engine/kernel.ts';
import type { BindingResource, Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import { requireCounts, requireElements, threadGrid } from './launch_checks.ts';

// SwiGLU forward / backward (shaders/swiglu_*.wgsl): a = silu(g) ⊙ u between gate_proj/up_proj
// and down_proj. Elementwise over n = B·T·intermediate values; g and u are kept for the backward.

const WG = 256;

export const SWIGLU_FORWARD: KernelSpec = {
  name: 'swiglu_forward',
  source: forwardSource,
  bindings: [
    { name: 'gate', access: 'read' },
    { name: 'up', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  uniforms: { n: 'u32' },
};

export const SWIGLU_BACKWARD: KernelSpec = {
  name: 'swiglu_backward',
  source: backwardSource,
  bindings: [
    { name: 'dout', access: 'read' },
    { name: 'gate', access: 'read' },
    { name: 'up', access: 'read' },
    { name: 'dgate', access: 'read_write' },
    { name: 'dup', access: 'read_write' },
  ],
  uniforms: { n: 'u32' },
};

/** out = silu(gate) ⊙ up, all (n). */
export function swigluForward(rt: Runtime, rec: Recorder, io: { gate: BindingResource; up: BindingResource; out: BindingResource }, shape: { n: number }): void {
  const n = requireCounts('swiglu_forward', shape);
  for (const name of ['gate', 'up', 'out'] as const) requireElements('swiglu_forward', name, io[name], n);
  rec.dispatch(rt.kernel(SWIGLU_FORWARD), {
    bindings: [io.gate, io.up, io.out],
    uniforms: { n },
    workgroups: threadGrid(n, WG),
    overrides: { WG },
  });
}

/** dgate and dup from dout and the saved gate, up; all (n), outputs distinct from inputs. */
export function swigluBackward(
  rt: Runtime,
  rec: Recorder,
  io: { dout: BindingResource; gate: BindingResource; up: BindingResource; dgate: BindingResource; dup: BindingResource },
  shape: { n: number },
): void {
  const n = requireCounts('swiglu_backward', shape);
  for (const name of ['dout', 'gate', 'up', 'dgate', 'dup'] as const) requireElements('swiglu_backward', name, io[name], n);
  rec.dispatch(rt.kernel(SWIGLU_BACKWARD), {
    bindings: [io.dout, io.gate, io.up, io.dgate, io.dup],
    uniforms: { n },
    workgroups: threadGrid(n, WG),
    overrides: { WG },
  });
}
