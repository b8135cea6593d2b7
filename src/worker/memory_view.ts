import { paddedLength } from '../data/batch.ts';
import { defaultBatchOptions } from '../data/sampler.ts';
import type { GpuContext } from '../engine/device.ts';
import { trainingMemoryOptions } from '../train/memory_options.ts';
import { estimateTrainingMemory } from '../model/memory_estimate.ts';
import type { TrainConfig } from '../train/config.ts';
import type { MemoryView } from './api.ts';
import type { DatasetSession } from './dataset_session.ts';
import type { ModelSession } from './model_session.ts';

// The memory a run with these settings would take on this GPU, before anything is allocated
// (model/memory_estimate.ts replays every allocation). The sequence length is the one training
// will plan for: the longest example the data has (after the settings' max length), padded as the
// batcher pads it; without a dataset yet, max length itself.

export function memoryView(model: ModelSession, dataset: DatasetSession | undefined, config: TrainConfig, gpu: GpuContext): MemoryView {
  let longestInData = dataset ? 1 : config.maxLength;
  for (const e of dataset?.loaded.examples ?? []) longestInData = Math.max(longestInData, e.inputIds.length);
  const longest = config.packing ? config.maxLength : Math.min(longestInData, config.maxLength);
  const seq = paddedLength(longest, defaultBatchOptions.padMultiple);
  const estimate = estimateTrainingMemory(model.base.config, trainingMemoryOptions(config, seq, { maxBindingBytes: gpu.adapter.limits.maxStorageBufferBindingSize, maxBufferBytes: gpu.adapter.limits.maxBufferSize }));
  return {
    live: { ...estimate.live },
    total: estimate.liveTotal,
    peak: estimate.peakTotal,
    tokens: config.batchSize * seq,
    seq,
    fromData: dataset !== undefined,
    problems: estimate.problems.map((p) => p.message),
  };
}
