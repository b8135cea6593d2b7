import type { AdapterLimits, TrainingMemoryOptions } from '../model/memory_estimate.ts';
import type { TrainConfig } from './config.ts';

/** The memory estimate's inputs for a run with these settings and rows of `seq` tokens. */
export function trainingMemoryOptions(config: TrainConfig, seq: number, limits: AdapterLimits): TrainingMemoryOptions {
  return {
    batch: config.batchSize,
    seq,
    r: config.loraR,
    modules: config.targetModules,
    dropout: config.loraDropout,
    checkpointing: config.gradCheckpointing,
    quant: config.quant,
    doubleQuant: config.doubleQuant,
    limits,
  };
}
