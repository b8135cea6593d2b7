import type { TrainConfig } from './config.ts';

// The UI's three starting points. Each sets the same knobs (so switching presets never leaves
// one preset's value behind) and nothing about files, data format, seed or precision.
// "Balanced" is exactly the `webtune train` defaults.

export type PresetId = 'quick-demo' | 'balanced' | 'quality';

/** The fields every preset sets. */
export const PRESET_FIELDS = [
  'epochs',
  'maxSteps',
  'batchSize',
  'gradAccum',
  'lr',
  'schedule',
  'warmupSteps',
  'warmupRatio',
  'loraR',
  'loraAlpha',
  'loraDropout',
  'targetModules',
  'maxLength',
  'gradCheckpointing',
] as const satisfies readonly (keyof TrainConfig)[];

export type PresetSettings = Pick<TrainConfig, (typeof PRESET_FIELDS)[number]>;

export interface TrainPreset {
  id: PresetId;
  name: string;
  /** What it gives and what it costs, for the UI. */
  trade: string;
  settings: PresetSettings;
}

export const TRAIN_PRESETS: readonly TrainPreset[] = [
  {
    id: 'quick-demo',
    name: 'Quick demo',
    trade:
      'Minutes, not hours: one epoch, sequences cut at 256 tokens, a rank-8 adapter on q_proj and v_proj only, every micro-batch its own step at a higher learning rate. ' +
      'Learns the tone and format of the data, little of its content; long examples lose their ends.',
    settings: {
      epochs: 1,
      maxSteps: null,
      batchSize: 4,
      gradAccum: 1,
      lr: 3e-4,
      schedule: 'linear',
      warmupSteps: null,
      warmupRatio: null,
      loraR: 8,
      loraAlpha: 16,
      loraDropout: 0.05,
      targetModules: ['q_proj', 'v_proj'],
      maxLength: 256,
      gradCheckpointing: false,
    },
  },
  {
    id: 'balanced',
    name: 'Balanced',
    trade:
      'The usual QLoRA recipe: three epochs, 1024-token sequences, rank 16 (alpha 32) on all seven projections, effective batch 16. ' +
      'Good results on most instruction datasets; several times the demo’s time and about twice its adapter memory.',
    settings: {
      epochs: 3,
      maxSteps: null,
      batchSize: 4,
      gradAccum: 4,
      lr: 2e-4,
      schedule: 'linear',
      warmupSteps: null,
      warmupRatio: null,
      loraR: 16,
      loraAlpha: 32,
      loraDropout: 0.05,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      maxLength: 1024,
      gradCheckpointing: false,
    },
  },
  {
    id: 'quality',
    name: 'Quality',
    trade:
      'More capacity and longer context: rank 32 (alpha 64), 2048-token sequences, effective batch 32, a gentler learning rate with 3% warmup and cosine decay. ' +
      'Twice Balanced’s adapter and optimizer memory; gradient checkpointing keeps the long sequences in memory at ~30% more time per token, so expect 2–4× Balanced’s run time.',
    settings: {
      epochs: 3,
      maxSteps: null,
      batchSize: 4,
      gradAccum: 8,
      lr: 1e-4,
      schedule: 'cosine',
      warmupSteps: null,
      warmupRatio: 0.03,
      loraR: 32,
      loraAlpha: 64,
      loraDropout: 0.05,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      maxLength: 2048,
      gradCheckpointing: true,
    },
  },
];

export function trainPreset(id: PresetId): TrainPreset {
  const preset = TRAIN_PRESETS.find((p) => p.id === id);
  if (!preset) throw new RangeError(`unknown preset "${id}"`);
  return preset;
}

/** The config with the preset's knobs; everything else (files, seed, precision …) kept. */
export function applyPreset(config: TrainConfig, id: PresetId): TrainConfig {
  const { settings } = trainPreset(id);
  return { ...config, ...settings, targetModules: [...settings.targetModules] };
}

/** The preset whose knobs all equal the config's, or null when the user changed one. */
export function matchingPreset(config: TrainConfig): PresetId | null {
  const same = (a: unknown, b: unknown) => (Array.isArray(a) && Array.isArray(b) ? a.join() === b.join() : a === b);
  return TRAIN_PRESETS.find((p) => PRESET_FIELDS.every((f) => same(config[f], p.settings[f])))?.id ?? null;
}
