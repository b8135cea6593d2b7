import { parseTargetModules } from '../model/lora_targets.ts';
import { ARGV, DEFAULT_TRAIN_CONFIG, TRAIN_FIELDS, TrainConfigError, validateTrainConfig, type ConfigProblem, type TrainConfig, type TrainField } from './config.ts';

// `webtune train` flags (kebab-case, issue 4) → the TrainConfig record, through the same
// validateTrainConfig the UI uses. Strings become typed values here; every range and combination
// rule lives in config.ts. Flags are `--name value`, `--name=value` or a bare boolean `--flag`,
// as src/cli/args.ts takes them (train/ may not import cli/), but every problem is collected —
// unknown flags too — so one run of the command lists them all.

const FIELDS = Object.keys(TRAIN_FIELDS) as TrainField[];
const BY_FLAG = new Map(FIELDS.map((f) => [TRAIN_FIELDS[f].flag, f]));

// A decimal or exponent literal; Number() alone would take "", " ", "0x10" and "Infinity".
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** argv → flag name → raw value (true for a bare boolean flag), with the problems of the syntax. */
function readFlags(argv: readonly string[], problems: ConfigProblem[]): Map<string, string | true> {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      problems.push({ field: ARGV, message: `unexpected argument ${JSON.stringify(arg)}; every setting is a --flag` });
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const field = BY_FLAG.get(name);
    if (field === undefined) {
      problems.push({ field: ARGV, message: `unknown option --${name}${suggest(name)}` });
      // Swallow its value too, or "--lora-rank 8" would also report a stray "8".
      if (inline === undefined && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) i++;
      continue;
    }
    if (flags.has(name)) problems.push({ field, message: 'is given more than once' });
    if (TRAIN_FIELDS[field].kind.type === 'bool') {
      if (inline !== undefined) problems.push({ field, message: 'takes no value' });
      else flags.set(name, true);
      continue;
    }
    const value = inline ?? (argv[i + 1]?.startsWith('--') ? undefined : argv[++i]);
    if (value === undefined) problems.push({ field, message: 'needs a value' });
    else flags.set(name, value);
  }
  return flags;
}

/** " (did you mean --lora-r?)" for a near miss, else "". */
function suggest(name: string): string {
  let best = '';
  let bestDistance = 4;
  for (const flag of BY_FLAG.keys()) {
    const d = flag.startsWith(name) || name.startsWith(flag) ? Math.min(2, editDistance(name, flag)) : editDistance(name, flag);
    if (d < bestDistance) [best, bestDistance] = [flag, d];
  }
  return best ? ` (did you mean --${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** Parses and validates `webtune train` arguments (without the verb). */
export function trainConfigFromArgs(argv: readonly string[]): { config: TrainConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const input: Partial<Record<TrainField, unknown>> = {};
  const flags = readFlags(argv, problems);
  for (const field of FIELDS) {
    const spec = TRAIN_FIELDS[field];
    const raw = flags.get(spec.flag);
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
