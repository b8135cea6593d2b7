import { describe, expect, it } from 'vitest';
import { ropeInvFreq } from '../../src/model/rope_freqs.ts';

// ropeInvFreq against the formulas of formats.md §4.3 worked in float64: the float32 result may
// differ from them only by rounding, and each llama3 band takes its own rule.

const LLAMA32 = { type: 'llama3' as const, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

function defaultF64(headDim: number, theta: number): number[] {
  return Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));
}

describe('ropeInvFreq', () => {
  it('default: 1 / theta^(2i/d) in float32', () => {
    const inv = ropeInvFreq(8, 10000);
    expect(inv).toEqual(Float32Array.from([1, 0.1, 0.01, 0.001]));
    const big = ropeInvFreq(128, 1e6);
    defaultF64(128, 1e6).forEach((v, i) => expect(Math.abs(big[i] - v) / v).toBeLessThan(2e-7));
  });

  it('linear divides every frequency by the factor', () => {
    const base = ropeInvFreq(64, 10000);
    const scaled = ropeInvFreq(64, 10000, { type: 'linear', factor: 4 });
    base.forEach((v, i) => expect(scaled[i]).toBe(Math.fround(v / 4)));
  });

  it('llama3 keeps short wavelengths, divides long ones and blends the band between', () => {
    // Llama-3.2-1B: head_dim 64, theta 500000, factor 32, bands at 8192/4 = 2048 and 8192/1.
    const base = ropeInvFreq(64, 500000);
    const inv = ropeInvFreq(64, 500000, LLAMA32);
    let kept = 0;
    let divided = 0;
    let blended = 0;
    defaultF64(64, 500000).forEach((v, i) => {
      const wavelen = (2 * Math.PI) / v;
      let want: number;
      if (wavelen < 2048) {
        want = v;
        expect(inv[i]).toBe(base[i]);
        kept++;
      } else if (wavelen > 8192) {
        want = v / 32;
        expect(inv[i]).toBe(Math.fround(base[i] / 32));
        divided++;
      } else {
        const s = (8192 / wavelen - 1) / (4 - 1);
        want = ((1 - s) * v) / 32 + s * v;
        blended++;
      }
      expect(Math.abs(inv[i] - want) / want).toBeLessThan(1e-6);
    });
    expect([kept, blended, divided]).toEqual([15, 3, 14]); // 2π·500000^(i/32) against 2048 and 8192
    for (let i = 1; i < inv.length; i++) expect(inv[i]).toBeLessThan(inv[i - 1]);
  });

  it('refuses an odd or non-positive head_dim', () => {
    expect(() => ropeInvFreq(7, 10000)).toThrow(/even/);
    expect(() => ropeInvFreq(0, 10000)).toThrow(/even/);
    expect(() => ropeInvFreq(8, 0)).toThrow(/positive/);
  });
});
