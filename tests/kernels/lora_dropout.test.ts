import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { exact, expectClose } from '../helpers/tolerance.ts';
import { loraDropoutMaskRef } from '../reference/lora_dropout.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { loraDropout, loraDropoutKey, loraDropoutThreshold } from '../../src/kernels/lora_dropout.ts';
import { dropoutThreshold } from '../../src/train/rng.ts';

// LoRA dropout on the GPU against the CPU keep rule of train/rng.ts: the same elements are kept,
// and each kept value is one f32 product x·scale, so forward and accumulate are bit-exact.

let rt: Runtime;

beforeAll(async () => {
  if (!gpuMissing) rt = await gpuRuntime();
});
afterAll(() => rt?.arena.releaseAll());

const up = (label: string, data: Float32Array): GpuTensor => {
  const t = createTensor(rt.arena, label, 'f32', [data.length], 'scratch');
  uploadTensor(rt.device, t, data);
  return t;
};

it('keys: threshold rule as train/rng, distinct keys per seed and slot', () => {
  for (const p of [0, 0.05, 0.5, 0.999]) expect(loraDropoutThreshold(p)).toBe(dropoutThreshold(p));
  const keys = new Set<number>();
  for (let seed = 0; seed < 16; seed++) for (let slot = 0; slot < 16; slot++) keys.add(loraDropoutKey(seed, slot));
  expect(keys.size).toBe(256);
  expect(() => loraDropoutKey(-1, 0)).toThrow(RangeError);
});

describeGpu('lora_dropout kernel', () => {
  it('drops the elements the CPU rule drops and scales the rest, forward and accumulate, odd sizes', async () => {
    for (const [n, p, seed] of [[7 * 37, 0.05, 1], [4096, 0.5, 2], [1, 0.3, 3], [97, 0.9, 4]] as const) {
      const r = rng(seed);
      const x = r.normalArray(n);
      const base = r.normalArray(n);
      const key = loraDropoutKey(seed * 1000, seed);
      const [xs, out, acc] = [up('x', x), up('out', new Float32Array(n).fill(NaN)), up('acc', base)];
      await rt.run('dropout', (rec) => {
        loraDropout(rt, rec, { x: xs.buffer, out: out.buffer }, { n, key, p });
        loraDropout(rt, rec, { x: xs.buffer, out: acc.buffer }, { n, key, p, accumulate: true });
      });
      const mask = loraDropoutMaskRef(key, p, n);
      const scale = Math.fround(1 / (1 - p));
      const want = x.map((v, i) => (mask[i] === 0 ? 0 : Math.fround(v * scale)));
      expectClose(await readF32(rt.device, out), want, exact, `xd n=${n} p=${p}`);
      expectClose(await readF32(rt.device, acc), base.map((b, i) => Math.fround(b + want[i])), exact, `dx n=${n} p=${p}`);
      const kept = mask.reduce((k, m) => k + (m > 0 ? 1 : 0), 0);
      if (n >= 4096) expect(Math.abs(kept / n - (1 - p))).toBeLessThan(0.03);
      rt.arena.releaseAll();
    }
  });
});
