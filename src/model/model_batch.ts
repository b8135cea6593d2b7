import type { ActivationPlan } from './activations.ts';

// A micro-batch as the model consumes it: the fields of data/batch.ts's Batch that reach the GPU
// (model/ may not import data/, so the shape is restated; a Batch is one). All Int32Array (B·T):
//   inputIds, labels (UNSHIFTED, -100 ignored; the loss kernel shifts), positions (RoPE, restart
//   at 0 per example), segmentIds (1, 2, … per example in a row, 0 = padding).

export interface ModelBatch {
  B: number;
  T: number;
  inputIds: Int32Array;
  labels: Int32Array;
  positions: Int32Array;
  segmentIds: Int32Array;
}

export interface BatchShape {
  B: number;
  T: number;
  tokens: number;
}

/**
 * Checks the batch against the plan's (maxBatch, maxSeq) and writes it into the plan's input
 * buffers. Segment ids go through `segmentHost` (preallocated): the attention kernel wants a
 * negative id for padding where the data layer writes 0.
 */
export function uploadBatchInputs(device: GPUDevice, plan: ActivationPlan, batch: ModelBatch, limits: { maxBatch: number; maxSeq: number }, segmentHost: Int32Array): BatchShape {
  const { B, T } = batch;
  if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1 || B > limits.maxBatch || T > limits.maxSeq) {
    throw new RangeError(`batch ${B} × ${T} does not fit the model's plan of ${limits.maxBatch} × ${limits.maxSeq}`);
  }
  const tokens = B * T;
  for (const name of ['inputIds', 'labels', 'positions', 'segmentIds'] as const) {
    if (batch[name].length !== tokens) throw new RangeError(`batch.${name} has ${batch[name].length} values, expected B·T = ${tokens}`);
  }
  for (let i = 0; i < tokens; i++) segmentHost[i] = batch.segmentIds[i] === 0 ? -1 : batch.segmentIds[i];
  const write = (buffer: GPUBuffer, data: Int32Array) => device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, tokens * 4);
  write(plan.ids.buffer, batch.inputIds);
  write(plan.labels.buffer, batch.labels);
  write(plan.positions.buffer, batch.positions);
  write(plan.segments.buffer, segmentHost);
  return { B, T, tokens };
}
