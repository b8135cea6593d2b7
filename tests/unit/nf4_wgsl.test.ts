import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NF4_CODE, NF4_MIDPOINTS } from '../../src/formats/nf4.ts';

// The NF4 constants in shaders/lib/nf4.wgsl are hex floats; they must be exactly the float32
// values of src/formats/nf4.ts, or GPU and CPU codes would part at the boundaries.

const lib = readFileSync(new URL('../../shaders/lib/nf4.wgsl', import.meta.url), 'utf8');

function hexFloat(text: string): number {
  if (text === '0.0f') return 0;
  const m = /^(-?)0x([0-9a-f]+)\.([0-9a-f]*)p(-?\d+)f$/i.exec(text);
  if (!m) throw new Error(`not a hex float: ${text}`);
  const mantissa = parseInt(m[2] + m[3], 16) / 16 ** m[3].length;
  return (m[1] ? -1 : 1) * mantissa * 2 ** Number(m[4]);
}

function constArray(name: string): number[] {
  const m = new RegExp(`const ${name} = array<f32, (\\d+)>\\(([^)]*)\\)`).exec(lib);
  if (!m) throw new Error(`${name} not found in shaders/lib/nf4.wgsl`);
  const values = m[2].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(hexFloat);
  expect(values.length).toBe(Number(m[1]));
  return values;
}

describe('shaders/lib/nf4.wgsl constants', () => {
  it('hold the NF4 code exactly', () => {
    constArray('NF4_CODE').forEach((v, i) => expect(v).toBe(NF4_CODE[i]));
  });

  it('hold the float32 midpoints exactly', () => {
    constArray('NF4_MID').forEach((v, i) => expect(v).toBe(NF4_MIDPOINTS[i]));
  });
});
