import { afterAll, beforeAll, expect, it } from 'vitest';
import { readF32 } from '../../src/engine/readback.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor } from '../../src/engine/tensor.ts';
import { blockAbsmax, dequantizeNf4, quantizeNf4 } from '../../src/formats/nf4.ts';
import { dynamicMap } from '../../src/formats/nf4_dynamic_map.ts';
import { uploadNf4 } from '../../src/kernels/nf4_alloc.ts';
import { recordNf4Dequantize } from '../../src/kernels/nf4_dequantize.ts';
import { quantizeNf4OnGpu } from '../../src/kernels/nf4_quantize.ts';
import { nf4RowMultiple, type Nf4Tensor } from '../../src/kernels/nf4_tensor.ts';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';

// Without DQ a weight is one float32 product, code · absmax: exact. With DQ the rebuilt absmax
// map[q] · nested + offset may be fused into one fma by the GPU compiler, so it may differ from
// the CPU's two roundings by an ulp of absmax: the tolerance is 2^-22 of the block's absmax.

describeGpu('nf4_dequantize', () => {
  let rt: Runtime;
  let split: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
    split = await gpuRuntime({ maxBindingBytes: 65536 });
  });
  afterAll(() => {
    rt.arena.releaseAll();
    split.arena.releaseAll();
  });

  async function dequant(runtime: Runtime, w: Nf4Tensor): Promise<Float32Array> {
    const out = createTensor(runtime.arena, 'out', 'f32', w.shape, 'scratch');
    await runtime.run('dequantize', (rec) => recordNf4Dequantize(runtime, rec, w, out));
    return readF32(runtime.device, out);
  }

  function expectClose(got: Float32Array, data: Float32Array, shape: [number, number], doubleQuant: boolean) {
    const cpu = quantizeNf4(data, shape, { doubleQuant });
    const want = dequantizeNf4(cpu);
    const absmax = blockAbsmax(cpu);
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      const err = Math.abs(got[i] - want[i]) / (Math.abs(absmax[Math.floor(i / 64)]) || 1);
      if (!(err <= worst)) worst = err;
    }
    expect(worst).toBeLessThanOrEqual(doubleQuant ? 2 ** -22 : 0);
  }

  for (const doubleQuant of [false, true]) {
    const code = doubleQuant ? dynamicMap() : null;

    it(`dequantizes what the GPU quantized (DQ=${doubleQuant})`, async () => {
      const r = rng(doubleQuant ? 21 : 22);
      for (const shape of [[97, 96], [7, 37], [64, 128], [3, 1]] as [number, number][]) {
        const data = r.normalArray(shape[0] * shape[1], 0.05);
        const src = createTensor(rt.arena, 'w', 'f32', shape, 'scratch', { rowMultiple: nf4RowMultiple(shape[1]) });
        uploadTensor(rt.device, src, data);
        expectClose(await dequant(rt, await quantizeNf4OnGpu(rt, 'w.nf4', src, code)), data, shape, doubleQuant);
      }
    });

    it(`dequantizes an uploaded CPU-quantized weight, split over chunks (DQ=${doubleQuant})`, async () => {
      const r = rng(23);
      const shape: [number, number] = [1100, 256];
      const data = r.normalArray(shape[0] * shape[1], 0.02);
      data.fill(0, 300 * 256, 301 * 256); // an all-zero row: four zero blocks
      const w = uploadNf4(split, 'up', quantizeNf4(data, shape, { doubleQuant }));
      expect(w.chunks.length).toBe(3);
      // The f32 output (1 KiB rows, 64 per chunk) splits differently from the NF4 chunks.
      expectClose(await dequant(split, w), data, shape, doubleQuant);
    });
  }

  it('writes an output whose chunks start off an 8-element word', async () => {
    const r = rng(24);
    const shape: [number, number] = [301, 13];
    const data = r.normalArray(shape[0] * shape[1]);
    const w = uploadNf4(rt, 'odd', quantizeNf4(data, shape, { doubleQuant: true }));
    const tiny = await gpuRuntime({ maxBindingBytes: 4096 });
    // 4 KiB bindings hold 78 rows of 13 f32: chunks start at elements 1014, 2028, … (not multiples of 8).
    const out = createTensor(tiny.arena, 'out', 'f32', shape, 'scratch');
    expect(out.chunks.length).toBeGreaterThan(1);
    await rt.run('dequantize', (rec) => recordNf4Dequantize(rt, rec, w, out));
    expectClose(await readF32(rt.device, out), data, shape, true);
    tiny.arena.releaseAll();
  });
});
