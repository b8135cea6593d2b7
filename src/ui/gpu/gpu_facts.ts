import type { AdapterSummary } from '../../worker/api.ts';

// What the adapter panel says about the features and limits webtune cares about, and why
// (DESIGN §2: f16 as a faster path, reductions, timing; splitting tensors at the binding limit).

export interface FeatureFact {
  name: string;
  /** What webtune does with it, in one line. */
  use: string;
}

export const KEY_FEATURES: readonly FeatureFact[] = [
  { name: 'shader-f16', use: 'Half-precision math in shaders: a faster path that stores weights and activations in f16 (adding up in f32).' },
  { name: 'subgroups', use: 'Threads sharing values directly: faster sums and maxima in norms, softmax and the loss.' },
  { name: 'timestamp-query', use: 'GPU clocks: how long each kernel takes, for the benchmarks.' },
];

export type LimitName = keyof AdapterSummary['limits'];

export interface LimitFact {
  name: LimitName;
  /** What the limit bounds, in one line. */
  meaning: string;
}

export const KEY_LIMITS: readonly LimitFact[] = [
  { name: 'maxBufferSize', meaning: 'The largest single GPU buffer.' },
  {
    name: 'maxStorageBufferBindingSize',
    meaning: 'The most one kernel can read or write in one binding; larger tensors are split into pieces.',
  },
  { name: 'maxComputeWorkgroupStorageSize', meaning: 'Fast shared memory per workgroup, where matmul tiles live.' },
];
