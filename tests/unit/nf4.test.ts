import { describe, expect, it } from 'vitest';
import {
  absmaxMean,
  blockAbsmax,
  bucketize,
  dequantizeNf4,
  NF4_CODE,
  NF4_MIDPOINTS,
  nf4Nibble,
  quantizeNf4,
  quantizeNf4Blocks,
} from '../../src/formats/nf4.ts';
import { rng } from '../helpers/rng.ts';

const f = Math.fround;

// formats.md §1.2, printed with 8 significant digits.
const LISTED_MIDPOINTS = [
  -0.84809637, -0.6106329, -0.45999527, -0.33967942, -0.2346074, -0.13791174, -0.045525018, 0.03979015, 0.12025525,
  0.20352125, 0.29201376, 0.38931254, 0.50166345, 0.64278692, 0.86147845,
];

describe('NF4 code and midpoints (formats.md §1.1, §1.2)', () => {
  it('has the asymmetric table, exact in float32', () => {
    expect(NF4_CODE.length).toBe(16);
    expect(NF4_CODE[0]).toBe(-1);
    expect(NF4_CODE[7]).toBe(0);
    expect(NF4_CODE[15]).toBe(1);
    expect(NF4_CODE[8]).toBe(f(0.07958029955625534));
    for (let i = 1; i < 16; i++) expect(NF4_CODE[i]).toBeGreaterThan(NF4_CODE[i - 1]);
  });

  it('midpoints are the float32 ones of §1.2', () => {
    LISTED_MIDPOINTS.forEach((m, i) => expect(Math.abs(NF4_MIDPOINTS[i] - m)).toBeLessThan(Math.abs(m) * 1e-7 + 1e-9));
  });

  it('bucketize sends a value exactly on a midpoint to the lower code', () => {
    for (let i = 0; i < 15; i++) {
      const m = NF4_MIDPOINTS[i];
      expect(bucketize(m, NF4_MIDPOINTS)).toBe(i);
      const above = new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([m]).buffer)[0] + (m > 0 ? 1 : -1)]).buffer)[0];
      expect(above).toBeGreaterThan(m);
      expect(bucketize(above, NF4_MIDPOINTS)).toBe(i + 1);
    }
  });

  it('bucketize agrees with nearest-by-distance away from midpoints', () => {
    const r = rng(1);
    for (let t = 0; t < 20000; t++) {
      const s = f(r.uniform(-1, 1));
      let best = 0;
      for (let q = 1; q < 16; q++) if (Math.abs(s - NF4_CODE[q]) < Math.abs(s - NF4_CODE[best])) best = q;
      expect(bucketize(s, NF4_MIDPOINTS)).toBe(best);
    }
  });
});

describe('NF4 quantization (formats.md §1.2–§1.4)', () => {
  it('packs the first element in the high nibble and pads an odd count with code 7', () => {
    const data = Float32Array.from([-1, 1, 0, 0.5626170039176941, -0.09105003625154495]);
    const { packed, absmax } = quantizeNf4Blocks(data);
    expect(absmax).toEqual(Float32Array.from([1]));
    expect([...packed]).toEqual([0x0f, 0x7d, 0x67]);
  });

  it('uses x·(1/absmax) in float32, clamps, and takes the lower code on a tie', () => {
    const data = new Float32Array(64);
    data[0] = 2; // absmax 2: 1/absmax is exact, so x = 2·midpoint lands exactly on it
    NF4_MIDPOINTS.forEach((m, i) => (data[1 + i] = f(2 * m)));
    const { packed } = quantizeNf4Blocks(data);
    expect(nf4Nibble(packed, 0)).toBe(15);
    for (let i = 0; i < 15; i++) expect(nf4Nibble(packed, 1 + i)).toBe(i);
  });

  it('gives an all-zero block absmax 0 and nibble 7, and it dequantizes to 0', () => {
    const data = new Float32Array(130);
    data[100] = -3;
    const w = quantizeNf4(data, [130], { doubleQuant: false });
    expect([...w.absmax!]).toEqual([0, 3, 0]);
    for (let i = 0; i < 64; i++) expect(nf4Nibble(w.packed, i)).toBe(7);
    expect(nf4Nibble(w.packed, 100)).toBe(0);
    expect(dequantizeNf4(w).every((v, i) => v === (i === 100 ? -3 : 0))).toBe(true);
  });

  it('gives a trailing partial block its own absmax, across rows when cols % 64 ≠ 0', () => {
    const r = rng(2);
    const data = r.normalArray(7 * 37);
    const w = quantizeNf4(data, [7, 37], { doubleQuant: false });
    expect(w.absmax!.length).toBe(Math.ceil(259 / 64));
    expect(w.packed.length).toBe(130);
    expect(w.absmax![4]).toBe(Math.max(...data.subarray(256).map(Math.abs)));
  });

  it('round-trips within half a code step of the block absmax', () => {
    const r = rng(3);
    const data = r.normalArray(97 * 96, 0.02);
    const w = quantizeNf4(data, [97, 96], { doubleQuant: false });
    const back = dequantizeNf4(w);
    for (let i = 0; i < data.length; i++) {
      expect(Math.abs(back[i] - data[i])).toBeLessThanOrEqual(w.absmax![Math.floor(i / 64)] * 0.1521 + 1e-12);
    }
  });
});

describe('double quantization (formats.md §1.5)', () => {
  it('takes the mean in the documented fixed order, close to the exact mean', () => {
    const r = rng(4);
    for (const n of [1, 255, 256, 257, 256 * 300 + 17]) {
      const absmax = r.uniformArray(n, 0, 0.1);
      const exact = absmax.reduce((a, b) => a + b, 0) / n;
      expect(Math.abs(absmaxMean(absmax) - exact)).toBeLessThan(exact * 1e-5);
    }
    // The order is pinned: a tree over 256, then lanes, then a tree — not a left-to-right sum.
    const tricky = Float32Array.from({ length: 512 }, (_, i) => (i % 2 === 0 ? 1 : f(1e-8 * (i + 1))));
    const leftToRight = f(tricky.reduce((a, b) => f(a + b), 0) / 512);
    expect(absmaxMean(tricky)).not.toBe(leftToRight);
  });

  it('rebuilds absmax as code[q]·nested_absmax + offset within half a step of the 8-bit code', () => {
    const r = rng(5);
    const data = r.normalArray(256 * 64 * 2 + 64 * 37 + 5, 0.05);
    const plain = quantizeNf4(data, [data.length], { doubleQuant: false });
    const dq = quantizeNf4(data, [data.length], { doubleQuant: true });
    expect(dq.packed).toEqual(plain.packed);
    expect(dq.absmax).toBeNull();
    const nested = dq.nested!;
    expect(nested.qabsmax.length).toBe(plain.absmax!.length);
    expect(nested.absmax.length).toBe(3);
    expect(nested.offset).toBe(absmaxMean(plain.absmax!));
    const rebuilt = blockAbsmax(dq);
    for (let b = 0; b < rebuilt.length; b++) {
      expect(Math.abs(rebuilt[b] - plain.absmax![b])).toBeLessThanOrEqual(nested.absmax[b >> 8] * 0.0071);
    }
  });

  it('quantizes a group whose absmax all equal the offset to code 0 (index 127)', () => {
    const data = new Float32Array(64 * 300).fill(0.25);
    const w = quantizeNf4(data, [300, 64], { doubleQuant: true });
    expect(w.nested!.offset).toBe(0.25);
    expect([...w.nested!.absmax]).toEqual([0, 0]);
    expect(w.nested!.qabsmax.every((q) => q === 127)).toBe(true);
    expect(dequantizeNf4(w).every((v) => v === 0.25)).toBe(true);
  });
});
