import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.ts';
import { parseTrainArgs, trainConfigFromArgs, trainUsage } from '../../../src/train/config_args.ts';
import { DEFAULT_TRAIN_CONFIG, describeProblem, TRAIN_FIELDS, TrainConfigError, validateTrainConfig, type TrainField } from '../../../src/train/config.ts';
import { withAdapterSettings } from '../../../src/train/config_adapter.ts';
import { applyPreset, matchingPreset, PRESET_FIELDS, TRAIN_PRESETS } from '../../../src/train/config_presets.ts';

const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const PATHS = ['--model', 'm', '--data', 'd.jsonl', '--out', 'o'];

describe('TrainConfig defaults', () => {
  it('are issue 4’s', () => {
    expect(DEFAULT_TRAIN_CONFIG).toMatchObject({
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
      targetModules: ALL,
      rslora: false,
      maxLength: 1024,
      packing: false,
      lossOn: 'completion',
      seed: 42,
      shuffle: true,
      quant: 'nf4',
      doubleQuant: true,
      gradCheckpointing: false,
    });
    expect(validateTrainConfig({ ...DEFAULT_TRAIN_CONFIG }).problems).toEqual([]);
  });

  it('has a flag, a label and a one-line doc for every field, and the flags of issue 4', () => {
    const fields = Object.keys(TRAIN_FIELDS) as TrainField[];
    expect(fields.sort()).toEqual(Object.keys(DEFAULT_TRAIN_CONFIG).sort());
    for (const f of fields) {
      expect(TRAIN_FIELDS[f].doc, f).toMatch(/^[^\n]{10,140}$/);
      expect(TRAIN_FIELDS[f].label.length, f).toBeGreaterThan(0);
    }
    const flags = fields.map((f) => TRAIN_FIELDS[f].flag);
    expect(new Set(flags).size).toBe(flags.length);
    const issue4 = 'model data out epochs max-steps batch-size grad-accum lr schedule warmup-steps warmup-ratio weight-decay max-grad-norm lora-r lora-alpha lora-dropout target-modules rslora max-length packing loss-on format seed no-shuffle eval-data eval-split eval-every init-adapter quant no-double-quant grad-checkpointing log';
    for (const flag of issue4.split(' ')) expect(flags, flag).toContain(flag);
    expect(trainUsage()).toContain('--lora-r N');
    expect(trainUsage()).toMatch(/--no-shuffle +Keep file order/);
  });
});

describe('validateTrainConfig', () => {
  it('collects every problem at once', () => {
    const { problems, config } = validateTrainConfig({
      loraR: 0,
      loraDropout: 1,
      lr: -1,
      batchSize: 2.5,
      targetModules: ['q_proj', 'c_attn'],
      warmupSteps: 10,
      warmupRatio: 0.1,
      schedule: 'step' as never,
      epochs: '3' as never,
      bogus: 1,
    } as never);
    const fields = problems.map((p) => p.field).sort();
    expect(fields).toEqual(['batchSize', 'bogus', 'epochs', 'loraDropout', 'loraR', 'lr', 'schedule', 'targetModules', 'warmupRatio'].sort());
    expect(config.loraR).toBe(16);
    const text = problems.map((p) => describeProblem(p)).join('\n');
    expect(text).toContain('--lora-r must be an integer from 1 to 4096, got 0');
    expect(text).toContain('--lora-dropout must be a number from 0 to below 1, got 1');
    expect(text).toContain('"c_attn"');
    expect(text).toContain('--warmup-ratio cannot be combined with warmup steps');
    expect(text).toContain('bogus is not a training setting');
    expect(describeProblem(problems.find((p) => p.field === 'loraR')!, 'label')).toMatch(/^LoRA rank must be/);
  });

  it('checks the combinations', () => {
    const fields = (input: object, requirePaths = false) => validateTrainConfig(input, { requirePaths }).problems.map((p) => p.field);
    expect(fields({ evalEvery: 50 })).toEqual(['evalEvery']);
    expect(fields({ evalEvery: 50, evalSplit: 0.1 })).toEqual([]);
    expect(fields({ evalData: 'e.jsonl', evalSplit: 0.1 })).toEqual(['evalSplit']);
    expect(fields({ resume: 'ckpt', initAdapter: 'a' })).toEqual(['initAdapter']);
    expect(fields({}, true)).toEqual(['model', 'data', 'out']);
    expect(fields({ warmupSteps: null, warmupRatio: 0.1 })).toEqual([]);
  });

  it('puts target modules in canonical order and refuses repeats', () => {
    expect(validateTrainConfig({ targetModules: ['v_proj', 'q_proj'] }).config.targetModules).toEqual(['q_proj', 'v_proj']);
    expect(validateTrainConfig({ targetModules: ['q_proj', 'q_proj'] }).problems[0].message).toMatch(/more than once/);
    expect(validateTrainConfig({ targetModules: [] }).problems[0].field).toBe('targetModules');
  });

  it('takes an existing adapter’s r, alpha, rsLoRA and targets', () => {
    const c = withAdapterSettings(DEFAULT_TRAIN_CONFIG, { r: 8, loraAlpha: 16, useRslora: true, targetModules: ['v_proj', 'q_proj'] });
    expect([c.loraR, c.loraAlpha, c.rslora, c.targetModules, c.loraDropout]).toEqual([8, 16, true, ['q_proj', 'v_proj'], 0.05]);
  });
});

describe('webtune train flags', () => {
  it('map onto the config', () => {
    const config = parseTrainArgs([
      ...PATHS,
      '--lr=1e-4',
      '--target-modules',
      'v_proj,q_proj',
      '--no-shuffle',
      '--rslora',
      '--max-steps',
      '100',
      '--warmup-ratio',
      '0.03',
      '--schedule',
      'cosine',
      '--no-double-quant',
      '--quant',
      'none',
      '--format',
      'alpaca',
      '--loss-on',
      'all',
      '--eval-split',
      '0.1',
      '--eval-every',
      '20',
    ]);
    expect(config).toMatchObject({
      model: 'm',
      data: 'd.jsonl',
      out: 'o',
      lr: 1e-4,
      targetModules: ['q_proj', 'v_proj'],
      shuffle: false,
      rslora: true,
      maxSteps: 100,
      warmupRatio: 0.03,
      schedule: 'cosine',
      doubleQuant: false,
      quant: 'none',
      format: 'alpaca',
      lossOn: 'all',
      evalSplit: 0.1,
      evalEvery: 20,
    });
    expect(parseTrainArgs([...PATHS, '--target-modules', 'all-linear']).targetModules).toEqual(ALL);
    expect(parseTrainArgs(PATHS)).toEqual({ ...DEFAULT_TRAIN_CONFIG, model: 'm', data: 'd.jsonl', out: 'o' });
  });

  it('report every bad value on one line as an InputError (exit 2)', () => {
    const argv = [...PATHS, '--lora-r', 'abc', '--lora-dropout', '1.5', '--schedule', 'step', '--batch-size', '', '--target-modules', 'q_proj,fc1', '--epochs', '0x10'];
    const { problems } = trainConfigFromArgs(argv);
    expect(problems.map((p) => p.field).sort()).toEqual(['batchSize', 'epochs', 'loraDropout', 'loraR', 'schedule', 'targetModules']);
    let error: unknown;
    try {
      parseTrainArgs(argv);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrainConfigError);
    expect(error).toBeInstanceOf(InputError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain('--lora-r must be a number, got "abc"');
    expect(message).toContain('--target-modules has unknown module "fc1"');
  });

  it('name unknown flags (all of them), stray arguments, missing values and missing paths', () => {
    const described = (argv: string[]) => trainConfigFromArgs(argv).problems.map((p) => describeProblem(p));
    expect(described([...PATHS, '--lora-rank', '8', '--learning-rate=1e-4', '--epochz', '2'])).toEqual([
      'unknown option --lora-rank (did you mean --lora-r?)',
      'unknown option --learning-rate',
      'unknown option --epochz (did you mean --epochs?)',
    ]);
    expect(described([...PATHS, 'extra'])).toEqual(['unexpected argument "extra"; every setting is a --flag']);
    expect(described(['--model', 'm'])).toEqual(['--data is required', '--out is required']);
    expect(described([...PATHS, '--rslora=yes'])).toEqual(['--rslora takes no value']);
    expect(described([...PATHS, '--lr', '--epochs', '2'])).toEqual(['--lr needs a value']);
    expect(described([...PATHS, '--lr', '1e-4', '--lr=2e-4'])).toEqual(['--lr is given more than once']);
    expect(described([...PATHS, '--epochs'])).toEqual(['--epochs needs a value']);
  });
});

describe('presets', () => {
  it('each validate, set the same knobs, and Balanced is the defaults', () => {
    for (const p of TRAIN_PRESETS) {
      expect(Object.keys(p.settings).sort(), p.id).toEqual([...PRESET_FIELDS].sort());
      expect(validateTrainConfig(p.settings).problems, p.id).toEqual([]);
      expect(p.trade.length).toBeGreaterThan(40);
    }
    const balanced = TRAIN_PRESETS.find((p) => p.id === 'balanced')!;
    for (const f of PRESET_FIELDS) expect(balanced.settings[f], f).toEqual(DEFAULT_TRAIN_CONFIG[f]);
    expect(matchingPreset({ ...DEFAULT_TRAIN_CONFIG })).toBe('balanced');
  });

  it('switch cleanly and keep files, seed and precision', () => {
    const mine = { ...DEFAULT_TRAIN_CONFIG, model: 'm', seed: 7, quant: 'none' as const };
    const demo = applyPreset(mine, 'quick-demo');
    expect([demo.model, demo.seed, demo.quant, demo.loraR, demo.maxLength]).toEqual(['m', 7, 'none', 8, 256]);
    expect(matchingPreset(demo)).toBe('quick-demo');
    expect(applyPreset(applyPreset(demo, 'quality'), 'balanced')).toEqual(mine);
    expect(matchingPreset({ ...demo, loraR: 12 })).toBeNull();
  });
});
