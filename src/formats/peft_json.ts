// Python's `json.dumps(value, indent=2, sort_keys=True)` (ensure_ascii on), which is how PEFT
// writes adapter_config.json (formats.md §2.9), so that our file is byte-for-byte what PEFT would
// write for the same config. Two things differ from JSON.stringify: Python floats print as
// repr() does (0.0, 1e-05, 2.5e+16), and every non-ASCII character is escaped as \uXXXX.

/** A number that Python holds as a float (printed "0.0", not "0"). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyJson = null | boolean | number | string | PyFloat | readonly PyJson[] | { readonly [key: string]: PyJson };

/** repr() of a Python float: shortest round-trip digits, fixed for 1e-4 ≤ |x| < 1e16, else d.ddde±XX. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument gives the shortest digits that round-trip, like repr.
  const [mantissa, exponent] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(exponent);
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    if (exp >= digits.length - 1) return `${sign}${digits}${'0'.repeat(exp - digits.length + 1)}.0`;
    return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** A JSON string literal as Python writes it with ensure_ascii=True. */
export function pythonJsonString(s: string): string {
  // JSON.stringify escapes quotes, backslashes and C0 controls exactly as Python does (\n, \u001f);
  // Python also escapes everything outside printable ASCII (DEL and up), as UTF-16 code units in
  // lowercase hex.
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function pythonJsonDumps(value: PyJson, indent = 2): string {
  return dump(value, indent, 0);
}

function dump(value: PyJson, indent: number, level: number): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (value instanceof PyFloat) return pythonFloatRepr(value.value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`${value} is not an integer; wrap floats in PyFloat`);
    return String(value);
  }
  if (typeof value === 'string') return pythonJsonString(value);
  const inner = ' '.repeat(indent * (level + 1));
  const outer = ' '.repeat(indent * level);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + dump(v, indent, level + 1)).join(',\n')}\n${outer}]`;
  }
  const record = value as { readonly [key: string]: PyJson };
  // sort_keys compares str by code point; for the ASCII keys of a config that is plain `<`.
  const keys = Object.keys(record).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length === 0) return '{}';
  return `{\n${keys.map((k) => `${inner}${pythonJsonString(k)}: ${dump(record[k], indent, level + 1)}`).join(',\n')}\n${outer}}`;
}
