import { datasetFormats, type DatasetFormat } from '../data/formats.ts';
import type { LossOn } from '../data/encode.ts';
import { InputError } from '../errors.ts';
import { LINEAR_MODULES, type LinearModule } from '../formats/tensor_names.ts';
import { canonicalModules, isLinearModule } from '../model/lora_targets.ts';
import { SCHEDULE_KINDS, type ScheduleKind } from './schedule.ts';

// The one record of every `webtune train` setting (DESIGN.md §5; issue 4's flag list), its
// defaults, a one-line doc per field for the UI's hints, and the one validation that the CLI
// (config_args.ts) and the UI share. Validation collects every problem at once.

export interface TrainConfig {
  model: string | null;
  data: string | null;
  out: string | null;
  evalData: string | null;
  initAdapter: string | null;
  resume: string | null;
  log: string | null;
  epochs: number;
  maxSteps: number | null;
  batchSize: number;
  gradAccum: number;
  lr: number;
  schedule: ScheduleKind;
  warmupSteps: number | null;
  warmupRatio: number | null;
  weightDecay: number;
  maxGradNorm: number;
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  /** Canonical order (q, k, v, o, gate, up, down), no repeats. */
  targetModules: LinearModule[];
  rslora: boolean;
  maxLength: number;
  packing: boolean;
  lossOn: LossOn;
  format: DatasetFormat | 'auto';
  seed: number;
  shuffle: boolean;
  evalSplit: number | null;
  evalEvery: number | null;
  checkpointEvery: number | null;
  quant: 'nf4' | 'none';
  doubleQuant: boolean;
  gradCheckpointing: boolean;
}

export type TrainField = keyof TrainConfig;

/** How a field is typed and bounded; `nullable` fields may be null (= not set). */
export type FieldKind =
  | { type: 'int'; min: number; max: number; nullable?: boolean }
  | { type: 'number'; min: number; max: number; minOpen?: boolean; maxOpen?: boolean; nullable?: boolean }
  | { type: 'bool'; flagNegates?: boolean }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'path' }
  | { type: 'modules' };

export interface FieldSpec {
  /** The `webtune train` flag, without "--". A negating bool flag (no-shuffle) sets false. */
  flag: string;
  /** A short name for the UI. */
  label: string;
  /** One line, shown as the UI's hint and in `webtune train --help`. */
  doc: string;
  /** For a negating flag, its own line for `--help` (the doc describes the setting). */
  flagDoc?: string;
  kind: FieldKind;
}

const MAX_INT = 2 ** 31 - 1;
const path: FieldKind = { type: 'path' };

export const TRAIN_FIELDS: { readonly [K in TrainField]: FieldSpec } = {
  model: { flag: 'model', label: 'Base model', doc: 'Hugging Face model folder (config.json, safetensors, tokenizer files).', kind: path },
  data: { flag: 'data', label: 'Training data', doc: 'JSONL file of training examples.', kind: path },
  out: { flag: 'out', label: 'Output folder', doc: 'Where the PEFT adapter, the log and checkpoints are written.', kind: path },
  evalData: { flag: 'eval-data', label: 'Eval data', doc: 'A separate JSONL file to measure eval loss on (instead of --eval-split).', kind: path },
  initAdapter: { flag: 'init-adapter', label: 'Start from adapter', doc: 'Start from an existing PEFT adapter; its r, alpha, rsLoRA and target modules win.', kind: path },
  resume: { flag: 'resume', label: 'Resume from', doc: 'A checkpoint folder to continue an interrupted run from.', kind: path },
  log: { flag: 'log', label: 'Log file', doc: 'Write one JSON line per optimizer step and per evaluation to this file.', kind: path },
  epochs: { flag: 'epochs', label: 'Epochs', doc: 'Passes over the training data (fractions allowed); ignored when max steps is set.', kind: { type: 'number', min: 0, max: 10_000, minOpen: true } },
  maxSteps: { flag: 'max-steps', label: 'Max steps', doc: 'Stop after this many optimizer steps; overrides epochs.', kind: { type: 'int', min: 1, max: MAX_INT, nullable: true } },
  batchSize: { flag: 'batch-size', label: 'Batch size', doc: 'Examples per micro-batch (one forward/backward pass).', kind: { type: 'int', min: 1, max: 4096 } },
  gradAccum: { flag: 'grad-accum', label: 'Gradient accumulation', doc: 'Micro-batches per optimizer step; effective batch = batch size × this.', kind: { type: 'int', min: 1, max: 65_536 } },
  lr: { flag: 'lr', label: 'Learning rate', doc: 'Peak learning rate of AdamW.', kind: { type: 'number', min: 0, max: 1, minOpen: true } },
  schedule: { flag: 'schedule', label: 'LR schedule', doc: 'How the learning rate changes after warmup: linear decay to 0, cosine to 0, or constant.', kind: { type: 'enum', values: SCHEDULE_KINDS } },
  warmupSteps: { flag: 'warmup-steps', label: 'Warmup steps', doc: 'Optimizer steps of linear warmup from 0 (give this or the warmup ratio, not both).', kind: { type: 'int', min: 0, max: MAX_INT, nullable: true } },
  warmupRatio: { flag: 'warmup-ratio', label: 'Warmup ratio', doc: 'Warmup as a fraction of all steps, rounded up (give this or warmup steps, not both).', kind: { type: 'number', min: 0, max: 1, maxOpen: true, nullable: true } },
  weightDecay: { flag: 'weight-decay', label: 'Weight decay', doc: 'AdamW decoupled weight decay on LoRA A and B.', kind: { type: 'number', min: 0, max: 1 } },
  maxGradNorm: { flag: 'max-grad-norm', label: 'Max grad norm', doc: 'Clip the global gradient norm to this; 0 turns clipping off.', kind: { type: 'number', min: 0, max: 1e6 } },
  loraR: { flag: 'lora-r', label: 'LoRA rank', doc: 'Rank r of each LoRA pair: A is r × in, B is out × r.', kind: { type: 'int', min: 1, max: 4096 } },
  loraAlpha: { flag: 'lora-alpha', label: 'LoRA alpha', doc: 'LoRA output is scaled by alpha / r (alpha / √r with rsLoRA).', kind: { type: 'number', min: 0, max: 1e6, minOpen: true } },
  loraDropout: { flag: 'lora-dropout', label: 'LoRA dropout', doc: 'Dropout probability on the input of LoRA A during training.', kind: { type: 'number', min: 0, max: 1, maxOpen: true } },
  targetModules: { flag: 'target-modules', label: 'Target modules', doc: 'Projections that get LoRA: a comma list of q_proj … down_proj, or all-linear.', kind: { type: 'modules' } },
  rslora: { flag: 'rslora', label: 'rsLoRA', doc: 'Scale by alpha / √r instead of alpha / r (rank-stabilized LoRA).', kind: { type: 'bool' } },
  maxLength: { flag: 'max-length', label: 'Max length', doc: 'Tokens per example; longer examples are cut at the end.', kind: { type: 'int', min: 2, max: 1 << 20 } },
  packing: { flag: 'packing', label: 'Packing', doc: 'Pack several short examples into each row (attention stays within each example).', kind: { type: 'bool' } },
  lossOn: { flag: 'loss-on', label: 'Train on', doc: 'completion: only the answer tokens are trained; all: every token.', kind: { type: 'enum', values: ['completion', 'all'] } },
  format: { flag: 'format', label: 'Data format', doc: 'Dataset format, or auto to detect it from the first line.', kind: { type: 'enum', values: ['auto', ...datasetFormats] } },
  seed: { flag: 'seed', label: 'Seed', doc: 'Seed for LoRA init, shuffling, dropout and the eval split: same seed, same run.', kind: { type: 'int', min: 0, max: 2 ** 32 - 1 } },
  shuffle: { flag: 'no-shuffle', label: 'Shuffle', doc: 'Shuffle the examples each epoch (off: file order).', flagDoc: 'Keep file order instead of shuffling each epoch.', kind: { type: 'bool', flagNegates: true } },
  evalSplit: { flag: 'eval-split', label: 'Eval split', doc: 'Hold out this fraction of the training data for eval loss.', kind: { type: 'number', min: 0, max: 1, minOpen: true, maxOpen: true, nullable: true } },
  evalEvery: { flag: 'eval-every', label: 'Eval every', doc: 'Also evaluate every N optimizer steps (always at the end of each epoch).', kind: { type: 'int', min: 1, max: MAX_INT, nullable: true } },
  checkpointEvery: { flag: 'checkpoint-every', label: 'Checkpoint every', doc: 'Also save a resumable checkpoint every N optimizer steps (always at each epoch end).', kind: { type: 'int', min: 1, max: MAX_INT, nullable: true } },
  quant: { flag: 'quant', label: 'Base precision', doc: 'nf4: 4-bit base weights (QLoRA); none: keep the base unquantized (exact, more memory).', kind: { type: 'enum', values: ['nf4', 'none'] } },
  doubleQuant: { flag: 'no-double-quant', label: 'Double quantization', doc: 'Quantize the NF4 block scales too (saves ~0.37 bits per weight).', flagDoc: 'Keep one float32 scale per 64 NF4 weights (~0.37 bits per weight more).', kind: { type: 'bool', flagNegates: true } },
  gradCheckpointing: { flag: 'grad-checkpointing', label: 'Gradient checkpointing', doc: 'Recompute each layer in backward instead of keeping its activations: less memory, ~30% slower.', kind: { type: 'bool' } },
};

export const DEFAULT_TRAIN_CONFIG: Readonly<TrainConfig> = Object.freeze({
  model: null,
  data: null,
  out: null,
  evalData: null,
  initAdapter: null,
  resume: null,
  log: null,
  epochs: 3,
  maxSteps: null,
  batchSize: 4,
  gradAccum: 4,
  lr: 2e-4,
  schedule: 'linear',
  warmupSteps: null,
  warmupRatio: null,
  weightDecay: 0.01,
  maxGradNorm: 1.0,
  loraR: 16,
  loraAlpha: 32,
  loraDropout: 0.05,
  targetModules: [...LINEAR_MODULES],
  rslora: false,
  maxLength: 1024,
  packing: false,
  lossOn: 'completion',
  format: 'auto',
  seed: 42,
  shuffle: true,
  evalSplit: null,
  evalEvery: null,
  checkpointEvery: null,
  quant: 'nf4',
  doubleQuant: true,
  gradCheckpointing: false,
});

/** AdamW constants that are not settings (formats.md §5.4, PyTorch's defaults). */
export const ADAMW = Object.freeze({ beta1: 0.9, beta2: 0.999, eps: 1e-8 });

/** One thing wrong with one setting; `message` reads after the field's flag or label. */
export interface ConfigProblem {
  /** A TrainConfig key, an unknown key that was given, or ARGV for the command line as a whole. */
  field: TrainField | string;
  message: string;
}

/** The `field` of a problem with the command line itself (an unknown flag, a stray argument). */
export const ARGV = 'argv';

export interface ValidateOptions {
  /** The CLI needs --model, --data and --out; the UI fills them from pickers later. */
  requirePaths?: boolean;
}

/**
 * Checks every given field (type, range, enum), then the combinations, and returns the full
 * config (defaults for fields not given or invalid) with every problem found. The config is only
 * meant to be used when `problems` is empty.
 */
export function validateTrainConfig(input: Partial<Record<TrainField, unknown>>, options: ValidateOptions = {}): { config: TrainConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, targetModules: [...DEFAULT_TRAIN_CONFIG.targetModules] };
  const values = config as unknown as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!(key in TRAIN_FIELDS)) problems.push({ field: key, message: 'is not a training setting' });
  }
  for (const field of Object.keys(TRAIN_FIELDS) as TrainField[]) {
    const value = input[field];
    if (value === undefined) continue;
    const checked = checkField(TRAIN_FIELDS[field].kind, value);
    if ('problem' in checked) problems.push({ field, message: checked.problem });
    else values[field] = checked.value;
  }
  const given = (field: TrainField) => input[field] !== undefined && input[field] !== null;
  if (given('warmupSteps') && given('warmupRatio')) {
    problems.push({ field: 'warmupRatio', message: 'cannot be combined with warmup steps; give one of the two' });
  }
  if (given('evalData') && given('evalSplit')) {
    problems.push({ field: 'evalSplit', message: 'cannot be combined with a separate eval file; give one of the two' });
  }
  if (config.evalEvery !== null && config.evalData === null && config.evalSplit === null) {
    problems.push({ field: 'evalEvery', message: 'needs an eval set: give an eval data file or an eval split' });
  }
  if (config.resume !== null && config.initAdapter !== null) {
    problems.push({ field: 'initAdapter', message: 'cannot be combined with resume; a checkpoint already holds its adapter' });
  }
  if (options.requirePaths) {
    for (const field of ['model', 'data', 'out'] as const) {
      if (config[field] === null && !problems.some((p) => p.field === field)) problems.push({ field, message: 'is required' });
    }
  }
  return { config, problems };
}

function checkField(kind: FieldKind, value: unknown): { value: unknown } | { problem: string } {
  switch (kind.type) {
    case 'int':
    case 'number': {
      if (value === null && kind.nullable) return { value: null };
      const what = kind.type === 'int' ? 'an integer' : 'a number';
      const range = describeRange(kind);
      if (typeof value !== 'number' || !Number.isFinite(value)) return { problem: `must be ${what} ${range}, got ${show(value)}` };
      if (kind.type === 'int' && !Number.isInteger(value)) return { problem: `must be ${what} ${range}, got ${show(value)}` };
      const open = kind.type === 'number' ? kind : { minOpen: false, maxOpen: false };
      const low = open.minOpen ? value <= kind.min : value < kind.min;
      const high = open.maxOpen ? value >= kind.max : value > kind.max;
      return low || high ? { problem: `must be ${what} ${range}, got ${show(value)}` } : { value };
    }
    case 'bool':
      return typeof value === 'boolean' ? { value } : { problem: `must be true or false, got ${show(value)}` };
    case 'enum':
      return typeof value === 'string' && kind.values.includes(value) ? { value } : { problem: `must be one of ${kind.values.join(', ')}; got ${show(value)}` };
    case 'path':
      if (value === null) return { value };
      return typeof value === 'string' && value.trim() !== '' ? { value } : { problem: `must be a file or folder name, got ${show(value)}` };
    case 'modules': {
      if (!Array.isArray(value) || value.length === 0) return { problem: `must be a non-empty list of ${LINEAR_MODULES.join(', ')}` };
      const unknown = value.filter((m) => !isLinearModule(m));
      if (unknown.length > 0) return { problem: `has unknown module ${unknown.map(show).join(', ')}; known: ${LINEAR_MODULES.join(', ')} (or all-linear)` };
      const modules = canonicalModules(value as LinearModule[]);
      if (modules.length !== value.length) return { problem: 'names a module more than once' };
      return { value: modules };
    }
  }
}

function describeRange(kind: { min: number; max: number; minOpen?: boolean; maxOpen?: boolean }): string {
  const { min, max, minOpen, maxOpen } = kind;
  if (max >= MAX_INT) return minOpen ? `above ${min}` : `of at least ${min}`;
  if (minOpen && maxOpen) return `between ${min} and ${max} (both excluded)`;
  if (minOpen) return `above ${min} and at most ${max}`;
  if (maxOpen) return `from ${min} to below ${max}`;
  return `from ${min} to ${max}`;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A problem as one phrase: "--lora-r must be …" for the CLI, "LoRA rank must be …" for the UI. */
export function describeProblem(problem: ConfigProblem, style: 'flag' | 'label' = 'flag'): string {
  const spec = (TRAIN_FIELDS as Record<string, FieldSpec | undefined>)[problem.field];
  if (problem.field === ARGV) return problem.message;
  const name = spec ? (style === 'flag' ? `--${spec.flag}` : spec.label) : problem.field;
  return `${name} ${problem.message}`;
}

/** Every problem of a config, as one InputError (CLI exit 2) with one line. */
export class TrainConfigError extends InputError {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super('bad_train_config', problems.map((p) => describeProblem(p)).join('; '));
  }
}
