import { InputError } from '../errors.ts';

// A small, strict flag parser: `--name value`, `--name=value`, boolean `--flag`; anything
// unknown is an error naming it, so typos never pass silently.
export interface FlagSpec {
  [name: string]: 'string' | 'boolean';
}

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | boolean>;
}

export function parseArgs(argv: string[], spec: FlagSpec): ParsedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = spec[name];
    if (!kind) throw new InputError('unknown_flag', `unknown option --${name}`);
    if (kind === 'boolean') {
      if (eq >= 0) throw new InputError('bad_flag', `--${name} takes no value`);
      flags[name] = true;
    } else if (eq >= 0) {
      flags[name] = arg.slice(eq + 1);
    } else {
      const value = argv[++i];
      if (value === undefined) throw new InputError('bad_flag', `--${name} needs a value`);
      flags[name] = value;
    }
  }
  return { positionals, flags };
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function requireFlag(args: ParsedArgs, name: string): string {
  const v = stringFlag(args, name);
  if (v === undefined) throw new InputError('missing_flag', `--${name} is required`);
  return v;
}

/** An integer flag within [min, max], or the default when absent. */
export function intFlag(args: ParsedArgs, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = stringFlag(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InputError('bad_flag', `--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return n;
}
