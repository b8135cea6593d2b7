import { describe, expect, it } from 'vitest';
import { bf16ToF32, byteLengthOf, dtypeBits, f16ToF32, f32ToBf16, f32ToF16, fromFloat32, toFloat32, typedView } from '../../../src/formats/dtype.ts';

describe('float conversions', () => {
  it('f16 → f32 → f16 is the identity on every non-NaN half', () => {
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      if (!Number.isNaN(v) && f32ToF16(v) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('bf16 → f32 → bf16 is the identity on every non-NaN bf16', () => {
    const bad: number[] = [];
    for (let b = 0; b < 65536; b++) {
      const v = bf16ToF32(b);
      if (!Number.isNaN(v) && f32ToBf16(v) !== b) bad.push(b);
    }
    expect(bad).toEqual([]);
  });

  it('decodes known halves and bf16s', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
  });

  it('rounds to nearest even, overflows to Inf, keeps NaN', () => {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1).
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(2 ** -25)).toBe(0);
    expect(f32ToF16(2 ** -25 * 1.5)).toBe(1);
    expect(Number.isNaN(f16ToF32(f32ToF16(NaN)))).toBe(true);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(Number.isNaN(bf16ToF32(f32ToBf16(NaN)))).toBe(true);
  });

  it('fromFloat32 / toFloat32 round trip for F32, F16, BF16', () => {
    const values = new Float32Array([0, 1, -2.5, 0.1, 1e-3, 3e4]);
    expect(toFloat32('F32', fromFloat32(values, 'F32'))).toEqual(values);
    const f16 = toFloat32('F16', fromFloat32(values, 'F16'));
    const bf16 = toFloat32('BF16', fromFloat32(values, 'BF16'));
    values.forEach((v, i) => {
      expect(Math.abs(f16[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11);
      expect(Math.abs(bf16[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8);
    });
  });
});

describe('views and sizes', () => {
  it('copies when a view would be misaligned, shares memory otherwise', () => {
    const buf = new Uint8Array(13);
    new Float32Array(buf.buffer, 4, 2).set([1.5, -2]);
    const aligned = typedView('F32', buf.subarray(4, 12)) as Float32Array;
    expect([...aligned]).toEqual([1.5, -2]);
    expect(aligned.buffer).toBe(buf.buffer);
    const odd = new Uint8Array(9);
    odd.set(buf.subarray(4, 12), 1);
    const copied = typedView('F32', odd.subarray(1, 9)) as Float32Array;
    expect([...copied]).toEqual([1.5, -2]);
    expect(copied.buffer).not.toBe(odd.buffer);
  });

  it('sizes every dtype, sub-byte ones only in whole bytes', () => {
    expect(dtypeBits('BF16')).toBe(16);
    expect(byteLengthOf('F64', [2, 3])).toBe(48);
    expect(byteLengthOf('F4', [3])).toBeNull();
    expect(byteLengthOf('F4', [4])).toBe(2);
    expect(byteLengthOf('F6_E2M3', [4])).toBe(3);
    expect(byteLengthOf('U8', [])).toBe(1);
    expect(byteLengthOf('I64', [0, 5])).toBe(0);
  });
});
