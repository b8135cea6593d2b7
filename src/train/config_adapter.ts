import type { AdapterSettings } from '../formats/peft_config.ts';
import { canonicalModules } from '../model/lora_targets.ts';
import { TRAIN_FIELDS, type TrainConfig, type TrainField } from './config.ts';

// Between the training settings and the adapter they produce or start from: what goes into
// adapter_config.json, what an --init-adapter overrides, and what the model card shows.

/** What adapter_config.json records for a run with this config. */
export function adapterSettingsFor(config: TrainConfig, baseModelNameOrPath: string | null): AdapterSettings {
  return {
    r: config.loraR,
    loraAlpha: config.loraAlpha,
    loraDropout: config.loraDropout,
    targetModules: [...config.targetModules],
    useRslora: config.rslora,
    baseModelNameOrPath,
  };
}

/** The config with an existing adapter's r, alpha, rsLoRA and target modules (they win). */
export function withAdapterSettings(config: TrainConfig, adapter: Pick<AdapterSettings, 'r' | 'loraAlpha' | 'targetModules' | 'useRslora'>): TrainConfig {
  return { ...config, loraR: adapter.r, loraAlpha: adapter.loraAlpha, rslora: adapter.useRslora, targetModules: canonicalModules(adapter.targetModules) };
}

const CARD_FIELDS: readonly TrainField[] = [
  'epochs',
  'maxSteps',
  'batchSize',
  'gradAccum',
  'lr',
  'schedule',
  'warmupSteps',
  'warmupRatio',
  'weightDecay',
  'maxGradNorm',
  'loraR',
  'loraAlpha',
  'loraDropout',
  'targetModules',
  'rslora',
  'maxLength',
  'packing',
  'lossOn',
  'format',
  'seed',
  'quant',
  'doubleQuant',
  'gradCheckpointing',
];

/** The settings worth showing in an adapter's model card, label → value, unset ones left out. */
export function modelCardSettings(config: TrainConfig): Record<string, string | number | boolean | readonly string[]> {
  const out: Record<string, string | number | boolean | readonly string[]> = {};
  for (const field of CARD_FIELDS) {
    const value = config[field];
    if (value !== null) out[TRAIN_FIELDS[field].label] = value;
  }
  return out;
}
