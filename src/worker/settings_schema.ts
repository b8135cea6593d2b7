import { LINEAR_MODULES } from '../formats/tensor_names.ts';
import { DEFAULT_TRAIN_CONFIG, describeProblem, TRAIN_FIELDS, validateTrainConfig, type TrainConfig, type TrainField } from '../train/config.ts';
import { TRAIN_PRESETS } from '../train/config_presets.ts';
import type { SettingKind, SettingsInput, SettingsProblem, SettingsSchema, SettingSpec } from './api.ts';

// The training settings as the web app shows them: train/config.ts's fields (labels, one-line docs,
// bounds, defaults, the one validation shared with the CLI) in groups, with advice from practice.
// Left out: the file paths (the app picks files instead). Checkpoints go to IndexedDB (run_store.ts).

const GROUPS: Record<SettingSpec['group'], readonly TrainField[]> = {
  Schedule: ['epochs', 'maxSteps', 'lr', 'schedule', 'warmupRatio', 'warmupSteps', 'batchSize', 'gradAccum'],
  'LoRA adapter': ['loraR', 'loraAlpha', 'loraDropout', 'targetModules', 'rslora'],
  Data: ['maxLength', 'lossOn', 'format', 'evalSplit', 'evalEvery', 'packing', 'shuffle', 'seed'],
  Advanced: ['weightDecay', 'maxGradNorm', 'gradCheckpointing', 'quant', 'doubleQuant', 'checkpointEvery'],
};

/** What usually works, from QLoRA practice (issue #7's list). */
const ADVICE: Partial<Record<TrainField, string>> = {
  lr: 'Usually 1e-4 to 5e-4 for LoRA; lower it if the loss jumps around.',
  loraR: 'Usually 8 to 32; higher learns more and costs more memory.',
  loraAlpha: 'Often twice the rank.',
  epochs: 'Usually 1 to 3; more tends to memorize a small dataset.',
  warmupRatio: 'Usually 0.05 to 0.1 (5–10% of the steps).',
  warmupSteps: 'Alternatively, a fixed count: about 5–10% of all steps.',
  batchSize: 'Usually 4 to 8; raise gradient accumulation instead when memory is short.',
  gradAccum: 'Effective batch of 16 to 32 is common.',
  evalSplit: 'e.g. 0.1 holds out 10% to watch for overfitting.',
  maxLength: 'Long enough for most examples; check the length histogram.',
  loraDropout: '0.05 is a common choice; 0 for tiny datasets is fine too.',
  checkpointEvery: 'Empty is fine: the browser also keeps one every minute, at each epoch end, on pause and on stop.',
};

/** Fields the app shows, in group order. */
export const APP_FIELDS: readonly TrainField[] = Object.values(GROUPS).flat();

export function settingsSchema(): SettingsSchema {
  const fields: SettingSpec[] = [];
  for (const [group, names] of Object.entries(GROUPS) as [SettingSpec['group'], readonly TrainField[]][]) {
    for (const field of names) {
      const spec = TRAIN_FIELDS[field];
      fields.push({ field, flag: spec.flag, label: spec.label, doc: spec.doc, advice: ADVICE[field] ?? null, kind: kindOf(field), group });
    }
  }
  const defaults: Record<string, unknown> = {};
  for (const field of APP_FIELDS) defaults[field] = copy(DEFAULT_TRAIN_CONFIG[field]);
  const presets = TRAIN_PRESETS.map((p) => ({ id: p.id, name: p.name, trade: p.trade, settings: Object.fromEntries(Object.entries(p.settings).map(([k, v]) => [k, copy(v)])) }));
  return { fields, defaults, presets };
}

/** The app's settings as a full TrainConfig, or every problem, at most one per field. */
export function checkSettings(input: SettingsInput): { config: TrainConfig; problems: SettingsProblem[] } {
  const given: Partial<Record<TrainField, unknown>> = {};
  const unknown: SettingsProblem[] = [];
  for (const [key, value] of Object.entries(input)) {
    if ((APP_FIELDS as readonly string[]).includes(key)) given[key as TrainField] = value;
    else unknown.push({ field: key, message: `${key} is not a setting of the app` });
  }
  const { config, problems } = validateTrainConfig(given);
  const seen = new Set<string>();
  const out: SettingsProblem[] = [...unknown];
  for (const p of problems) {
    if (seen.has(p.field)) continue;
    seen.add(p.field);
    out.push({ field: p.field, message: describeProblem(p, 'label') });
  }
  return { config, problems: out };
}

function kindOf(field: TrainField): SettingKind {
  const kind = TRAIN_FIELDS[field].kind;
  switch (kind.type) {
    case 'bool':
      return { type: 'bool' };
    case 'modules':
      return { type: 'modules', values: [...LINEAR_MODULES] };
    case 'path':
      throw new Error(`${field} is a path; the app does not show it`);
    case 'enum':
      return { type: 'enum', values: [...kind.values] };
    default:
      return { ...kind };
  }
}

function copy<T>(v: T): T {
  return Array.isArray(v) ? ([...v] as T) : v;
}
