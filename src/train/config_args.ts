import { parseArgs, type FlagSpec } from '../cli/args.ts';
import { InputError } from '../errors.ts';
import { parseTargetModules } from '../model/lora_targets.ts';
import { ARGV, DEFAULT_TRAIN_CONFIG, TRAIN_FIELDS, TrainConfigError, validateTrainConfig, type ConfigProblem, type TrainConfig, type TrainField } from './config.ts';

// `webtune train` flags (kebab-case, issue 4) → the TrainConfig record, through the same
// validateTrainConfig the UI uses. Strings become typed values here; every range and combination
// rule lives in config.ts. All problems are collected, so one run of the command lists them all.

const FIELDS = Object.keys(TRAIN_FIELDS) as TrainField[];

/** The parseArgs spec: booleans for bool fields, a value for everything else. */
export const TRAIN_FLAG_SPEC: FlagSpec = Object.fromEntries(FIELDS.map((f) => [TRAIN_FIELDS[f].flag, TRAIN_FIELDS[f].kind.type === 'bool' ? 'boolean' : 'string']));

// A decimal or exponent literal; Number() alone would take "", " ", "0x10" and "Infinity".
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Parses and validates `webtune train` arguments (without the verb). */
export function trainConfigFromArgs(argv: readonly string[]): { config: TrainConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const input: Partial<Record<TrainField, unknown>> = {};
  let flags: Record<string, string | boolean>;
  try {
    const parsed = parseArgs([...argv], TRAIN_FLAG_SPEC);
    flags = parsed.flags;
    for (const arg of parsed.positionals) problems.push({ field: ARGV, message: `unexpected argument ${JSON.stringify(arg)}; every setting is a --flag` });
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { config: { ...DEFAULT_TRAIN_CONFIG, targetModules: [...DEFAULT_TRAIN_CONFIG.targetModules] }, problems: [{ field: ARGV, message: e.message }] };
  }
  for (const field of FIELDS) {
    const spec = TRAIN_FIELDS[field];
    const raw = flags[spec.flag];
    if (raw === undefined) continue;
    const kind = spec.kind;
    if (kind.type === 'bool') {
      input[field] = kind.flagNegates ? false : true;
    } else if (typeof raw !== 'string') {
      continue;
    } else if (kind.type === 'int' || kind.type === 'number') {
      if (NUMBER.test(raw.trim())) input[field] = Number(raw);
      else problems.push({ field, message: `must be a number, got ${JSON.stringify(raw)}` });
    } else if (kind.type === 'modules') {
      const { modules, unknown } = parseTargetModules(raw);
      if (unknown.length > 0) problems.push({ field, message: `has unknown module ${unknown.map((u) => JSON.stringify(u)).join(', ')}; use q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj or all-linear` });
      else input[field] = modules;
    } else {
      input[field] = raw;
    }
  }
  const result = validateTrainConfig(input, { requirePaths: true });
  return { config: result.config, problems: [...problems, ...result.problems] };
}

/** The config, or a TrainConfigError (exit 2) listing every problem on one line. */
export function parseTrainArgs(argv: readonly string[]): TrainConfig {
  const { config, problems } = trainConfigFromArgs(argv);
  if (problems.length > 0) throw new TrainConfigError(problems);
  return config;
}

/** `webtune train --help`: one line per flag with its default, from the same table. */
export function trainUsage(): string {
  const lines = FIELDS.map((field) => {
    const spec = TRAIN_FIELDS[field];
    const kind = spec.kind;
    const value = { bool: '', enum: ` ${kind.type === 'enum' ? kind.values.join('|') : ''}`, path: ' PATH', modules: ' LIST', int: ' N', number: ' F' }[kind.type];
    const fallback = DEFAULT_TRAIN_CONFIG[field];
    const shown = kind.type === 'bool' || fallback === null ? '' : ` (default ${Array.isArray(fallback) ? 'all-linear' : String(fallback)})`;
    const head = `  --${spec.flag}${value}`;
    const pad = head.length < COLUMN - 1 ? head.padEnd(COLUMN) : `${head}\n${' '.repeat(COLUMN)}`;
    return `${pad}${spec.flagDoc ?? spec.doc}${shown}`;
  });
  return `usage: webtune train --model DIR --data FILE --out DIR [options]\n${lines.join('\n')}\n`;
}

const COLUMN = 28;
