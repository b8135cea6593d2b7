import { describe, expect, it } from 'vitest';
import { dropoutMask, dropoutThreshold, loraInitStream, Prng, streamKey, u32At } from '../../../src/train/rng.ts';
import { Rng } from '../../helpers/rng.ts';

describe('Prng', () => {
  it('is mulberry32: stream key k gives the same numbers as mulberry32 seeded with k', () => {
    const ref = new Rng(12345);
    const p = new Prng({ key: 12345, counter: 0 });
    const got = Array.from({ length: 1000 }, () => p.u32());
    expect(got).toEqual(Array.from({ length: 1000 }, () => ref.uint32()));
  });

  it('is counter-based: the i-th number is u32At(key, i), reachable without the ones before', () => {
    const p = Prng.stream(7, 'x');
    const first = Array.from({ length: 50 }, () => p.u32());
    expect(first[37]).toBe(u32At(streamKey(7, 'x'), 37));
    expect(new Prng({ key: streamKey(7, 'x'), counter: 37 }).u32()).toBe(first[37]);
  });

  it('saves and restores its state as a plain record', () => {
    const p = Prng.stream(42, 'shuffle', 3);
    p.permutation(17);
    p.float();
    const saved = JSON.parse(JSON.stringify(p.state));
    expect(Object.keys(saved).sort()).toEqual(['counter', 'key']);
    const a = Array.from({ length: 20 }, () => p.u32());
    const q = new Prng(saved);
    expect(Array.from({ length: 20 }, () => q.u32())).toEqual(a);
  });

  it('pins its stream keys, since checkpoints and reproducible runs depend on them', () => {
    expect(streamKey(42)).toBe(20452976);
    expect(streamKey(42, 'lora_init', 0, 0)).toBe(3109083923);
    expect(streamKey(0, 'shuffle', 1)).toBe(276426992);
    expect(u32At(streamKey(42, 'lora_init', 0, 0), 0)).toBe(3039895573);
  });

  it('gives unrelated keys for different seeds, purposes, indices and orders', () => {
    const keys = [streamKey(1), streamKey(2), streamKey(1, 'a'), streamKey(1, 'b'), streamKey(1, 'a', 0), streamKey(1, 'a', 1), streamKey(1, 0, 'a'), streamKey(1, 1, 0), streamKey(1, 0, 1)];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('draws floats in [0, 1) and float32 values that are exact in float32', () => {
    const p = Prng.stream(3);
    let bad = 0;
    for (let i = 0; i < 10_000; i++) {
      const f = p.float32();
      if (!(f >= 0 && f < 1) || Math.fround(f) !== f) bad++;
    }
    expect(bad).toBe(0);
  });

  it('draws unbiased integers and shuffles into permutations', () => {
    const p = Prng.stream(5);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[p.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    const perm = p.permutation(100);
    expect([...perm].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(perm).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(p.int(1)).toBe(0);
    expect(() => p.int(0)).toThrow(RangeError);
  });

  it('fills uniform float32 arrays inside [lo, hi]', () => {
    const out = Prng.stream(9).fillUniform(new Float32Array(20_000), -0.25, 0.25);
    let sum = 0;
    let max = 0;
    for (const v of out) {
      max = Math.max(max, Math.abs(v));
      sum += v;
    }
    expect(max).toBeLessThanOrEqual(0.25);
    expect(Math.abs(sum / out.length)).toBeLessThan(0.005);
  });

  it('refuses states it cannot continue', () => {
    expect(() => new Prng({ key: -1, counter: 0 })).toThrow(RangeError);
    expect(() => new Prng({ key: 1, counter: 1.5 })).toThrow(RangeError);
    expect(() => new Prng({ key: 1, counter: 2 ** 32 }).u32()).toThrow(/exhausted/);
    expect(() => streamKey(2 ** 32)).toThrow(RangeError);
  });
});

describe('dropout masks', () => {
  it('keep element i iff u32At(key, start + i) ≥ floor(p·2^32)', () => {
    const key = streamKey(42, 'dropout', 3);
    const mask = dropoutMask(key, 0.25, 1000, 500);
    const threshold = dropoutThreshold(0.25);
    expect(threshold).toBe(2 ** 30);
    const want = Uint8Array.from({ length: 1000 }, (_, i) => (u32At(key, 500 + i) >= threshold ? 1 : 0));
    expect(mask).toEqual(want);
  });

  it('keeps about 1 − p, everything at p = 0', () => {
    const mask = dropoutMask(streamKey(1, 'dropout'), 0.1, 100_000);
    const kept = mask.reduce((n, m) => n + m, 0);
    expect(Math.abs(kept / 100_000 - 0.9)).toBeLessThan(0.005);
    expect(dropoutMask(7, 0, 1000).every((m) => m === 1)).toBe(true);
    expect(() => dropoutThreshold(1)).toThrow(RangeError);
  });
});

describe('loraInitStream', () => {
  it('is one stream per (layer, module), independent of the other targets', () => {
    const a = loraInitStream(42, { layer: 2, module: 'v_proj' }).u32();
    expect(a).toBe(u32At(streamKey(42, 'lora_init', 2, 2), 0));
    expect(loraInitStream(42, { layer: 2, module: 'k_proj' }).u32()).not.toBe(a);
    expect(loraInitStream(43, { layer: 2, module: 'v_proj' }).u32()).not.toBe(a);
  });
});
