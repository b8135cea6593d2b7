import { describe, expect, it } from 'vitest';
import { PyFloat, pythonFloatRepr, pythonJsonDumps, pythonJsonString } from '../../../src/formats/peft_json.ts';

describe('Python json.dumps', () => {
  it('prints floats as Python’s repr does', () => {
    // Each right-hand side is what CPython 3 prints for repr(x) and json.dumps(x).
    const cases: [number, string][] = [
      [0.05, '0.05'],
      [0, '0.0'],
      [-0, '-0.0'],
      [1e-5, '1e-05'],
      [0.0001, '0.0001'],
      [0.00012, '0.00012'],
      [1e16, '1e+16'],
      [1.5e16, '1.5e+16'],
      [9999999999999998, '9999999999999998.0'],
      [123456789012345.6, '123456789012345.6'],
      [2e-4, '0.0002'],
      [1 / 3, '0.3333333333333333'],
      [-2.5, '-2.5'],
      [1e22, '1e+22'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [100, '100.0'],
      [0.1 + 0.2, '0.30000000000000004'],
      [1e-7, '1e-07'],
      [32.5, '32.5'],
    ];
    for (const [x, want] of cases) expect(pythonFloatRepr(x), String(x)).toBe(want);
  });

  it('escapes strings as ensure_ascii does', () => {
    expect(pythonJsonString('é')).toBe('"\\u00e9"');
    expect(pythonJsonString('😀')).toBe('"\\ud83d\\ude00"');
    expect(pythonJsonString('a\nb\t"\\')).toBe('"a\\nb\\t\\"\\\\"');
    expect(pythonJsonString('\x7f\x01')).toBe('"\\u007f\\u0001"');
  });

  it('lays out nested values with indent=2 and sorted keys', () => {
    expect(pythonJsonDumps({ b: [1, new PyFloat(2)], a: {}, c: [], d: { y: null, x: true } })).toBe(
      '{\n  "a": {},\n  "b": [\n    1,\n    2.0\n  ],\n  "c": [],\n  "d": {\n    "x": true,\n    "y": null\n  }\n}',
    );
    expect(() => pythonJsonDumps(0.5)).toThrow(TypeError);
  });
});
