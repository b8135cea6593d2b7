import addSource from '../../shaders/add_forward.wgsl?raw';
import biasSource from '../../shaders/bias_add_forward.wgsl?raw';
import type { KernelSpec } from '../engine/kernel.ts';
import type { BindingResource, Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import { requireCounts, requireElements, threadGrid } from './launch_checks.ts';

// The residual add (out = a + b) and the broadcast bias add (y += bias, Qwen2's q/k/v biases,
// formats.md §4.4). Neither has a backward kernel: a sum passes its gradient through, and the
// base biases are frozen.

const WG = 256;

export const ADD_FORWARD: KernelSpec = {
  name: 'add_forward',
  source: addSource,
  bindings: [
    { name: 'a', access: 'read' },
    { name: 'b', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  uniforms: { n: 'u32' },
};

export const BIAS_ADD_FORWARD: KernelSpec = {
  name: 'bias_add_forward',
  source: biasSource,
  bindings: [
    { name: 'y', access: 'read_write' },
    { name: 'bias', access: 'read' },
  ],
  uniforms: { rows: 'u32', cols: 'u32' },
};

/** out = a + b, all (n); out must be a different buffer from a and b. */
export function addForward(rt: Runtime, rec: Recorder, io: { a: BindingResource; b: BindingResource; out: BindingResource }, shape: { n: number }): void {
  const n = requireCounts('add_forward', shape);
  for (const name of ['a', 'b', 'out'] as const) requireElements('add_forward', name, io[name], n);
  rec.dispatch(rt.kernel(ADD_FORWARD), {
    bindings: [io.a, io.b, io.out],
    uniforms: { n },
    workgroups: threadGrid(n, WG),
    overrides: { WG },
  });
}

/** y (rows, cols) += bias (cols), in place. */
export function biasAddForward(rt: Runtime, rec: Recorder, io: { y: BindingResource; bias: BindingResource }, shape: { rows: number; cols: number }): void {
  const { rows, cols } = shape;
  const n = requireCounts('bias_add_forward', { rows, cols });
  requireElements('bias_add_forward', 'y', io.y, n);
  requireElements('bias_add_forward', 'bias', io.bias, cols);
  rec.dispatch(rt.kernel(BIAS_ADD_FORWARD), {
    bindings: [io.y, io.bias],
    uniforms: { rows, cols },
    workgroups: threadGrid(n, WG),
    overrides: { WG },
  });
}
