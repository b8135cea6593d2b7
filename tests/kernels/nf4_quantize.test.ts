import { afterAll, beforeAll, expect, it } from 'vitest';
import { withLibs, type KernelSpec } from '../../src/engine/kernel.ts';
import { readBuffer } from '../../src/engine/readback.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor } from '../../src/engine/tensor.ts';
import { NF4_MIDPOINTS, quantizeNf4 } from '../../src/formats/nf4.ts';
import { dynamicMap } from '../../src/formats/nf4_dynamic_map.ts';
import lib from '../../shaders/lib/nf4.wgsl?raw';
import { quantizeNf4OnGpu } from '../../src/kernels/nf4_quantize.ts';
import { nf4RowMultiple } from '../../src/kernels/nf4_tensor.ts';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { readNf4 } from '../../src/kernels/nf4_readback.ts';

const f = Math.fround;

/** Bitwise equality of two typed arrays, reported at the first difference (toEqual is slow on millions). */
function expectSameBits(got: Uint8Array | Float32Array, want: Uint8Array | Float32Array, what: string) {
  const a = new Uint8Array(got.buffer, got.byteOffset, got.byteLength);
  const b = new Uint8Array(want.buffer, want.byteOffset, want.byteLength);
  expect(a.length, `${what}: length`).toBe(b.length);
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  expect(i === a.length ? 'same' : `${what} differs at byte ${i}: ${got[Math.floor(i / got.BYTES_PER_ELEMENT)]} vs ${want[Math.floor(i / want.BYTES_PER_ELEMENT)]}`).toBe('same');
}

function uploadF32(rt: Runtime, label: string, data: Float32Array, shape: number[], rowMultiple: number) {
  const t = createTensor(rt.arena, label, 'f32', shape, 'scratch', { rowMultiple });
  uploadTensor(rt.device, t, data);
  return t;
}

// x / y through nf4_div_exact, one pair per thread.
const DIV: KernelSpec = {
  name: 'div_exact_probe',
  source: withLibs(
    /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@compute @workgroup_size(64)
fn div_exact_probe(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&q)) { q[g.x] = nf4_div_exact(a[g.x], b[g.x]); }
}`,
    lib,
  ),
  bindings: [
    { name: 'a', access: 'read' },
    { name: 'b', access: 'read' },
    { name: 'q', access: 'read_write' },
  ],
};

/** Blocks whose elements, scaled by float32 1/absmax, land exactly on NF4 midpoints. */
function tieBlocks(count: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(count * 64);
  for (let b = 0; b < count; b++) {
    const absmax = b === 0 ? 1 : f(r.uniform(0.001, 3));
    const inv = f(1 / absmax);
    out[b * 64] = r.uniform() < 0.5 ? absmax : -absmax;
    let i = 1;
    for (let k = 0; k < 15 * 3 && i < 64; k++) {
      const mid = NF4_MIDPOINTS[k % 15];
      const guess = f(mid / inv);
      for (const delta of [0, 1, -1, 2, -2]) {
        const bits = new Uint32Array(new Float32Array([guess]).buffer)[0] + delta;
        const a = new Float32Array(new Uint32Array([bits]).buffer)[0];
        if (f(a * inv) === mid && Math.abs(a) <= absmax) {
          out[b * 64 + i++] = a;
          break;
        }
      }
    }
  }
  return out;
}

describeGpu('nf4_quantize', () => {
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

  async function check(runtime: Runtime, data: Float32Array, shape: [number, number], doubleQuant: boolean, srcRuntime = runtime) {
    const src = uploadF32(srcRuntime, 'w', data, shape, nf4RowMultiple(shape[1]));
    const t = await quantizeNf4OnGpu(runtime, 'w.nf4', src, doubleQuant ? dynamicMap() : null);
    const gpu = await readNf4(runtime, t);
    const cpu = quantizeNf4(data, shape, { doubleQuant });
    expectSameBits(gpu.packed, cpu.packed, 'packed');
    if (doubleQuant) {
      expect(gpu.nested!.offset).toBe(cpu.nested!.offset);
      expectSameBits(gpu.nested!.absmax, cpu.nested!.absmax, 'nested_absmax');
      expectSameBits(gpu.nested!.qabsmax, cpu.nested!.qabsmax, 'qabsmax');
    } else {
      expectSameBits(gpu.absmax!, cpu.absmax!, 'absmax');
    }
    return t;
  }

  it('divides exactly (round to nearest even) where WGSL division may not', async () => {
    const r = rng(7);
    const n = 4096;
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = i % 4 === 0 ? 1 : f(r.uniform(1, 2) * 2 ** r.int(-60, 60));
      b[i] = f(r.uniform(1, 2) * 2 ** r.int(-60, 60));
    }
    a[1] = f(3e-39); // subnormal numerator
    b[2] = 7; // 1/7 needs rounding up, a classic
    const ta = uploadF32(rt, 'a', a, [n], 1);
    const tb = uploadF32(rt, 'b', b, [n], 1);
    const q = rt.arena.createBuffer('q', n * 4, 'scratch');
    const kernel = rt.kernel(DIV);
    await kernel.compile();
    await rt.run('div', (rec) => rec.dispatch(kernel, { bindings: [ta.buffer, tb.buffer, q], workgroups: [n / 64] }));
    const got = new Float32Array(await readBuffer(rt.device, q));
    for (let i = 0; i < n; i++) expect(got[i]).toBe(f(a[i] / b[i]));
  });

  for (const doubleQuant of [false, true]) {
    it(`matches the CPU codes bit for bit on odd and round shapes (DQ=${doubleQuant})`, async () => {
      const r = rng(doubleQuant ? 11 : 12);
      await check(rt, r.normalArray(97 * 96, 0.02), [97, 96], doubleQuant);
      await check(rt, r.normalArray(7 * 37, 1), [7, 37], doubleQuant); // odd count, blocks across rows
      await check(rt, r.normalArray(33 * 100, 0.5), [33, 100], doubleQuant);
      await check(rt, r.normalArray(64 * 512), [64, 512], doubleQuant);
      await check(rt, Float32Array.of(0.5), [1, 1], doubleQuant);
    });

    it(`sends exact midpoint ties to the lower code and zero blocks to code 7 (DQ=${doubleQuant})`, async () => {
      const ties = tieBlocks(40, 5);
      const data = new Float32Array(ties.length + 3 * 64 + 30);
      data.set(ties);
      data.set(ties.subarray(0, 64), ties.length + 128); // zero block, tie block, zero tail of 30
      await check(rt, data, [data.length / 2, 2], doubleQuant);
      await check(rt, new Float32Array(5 * 200), [5, 200], doubleQuant); // everything zero
    });

    it(`handles weights split over several chunks (DQ=${doubleQuant})`, async () => {
      const r = rng(13);
      const t = await check(split, r.normalArray(1100 * 256, 0.02), [1100, 256], doubleQuant);
      expect(t.chunks.map((c) => c.rows)).toEqual([512, 512, 76]);
      // cols = 96: a chunk must hold 512 rows; the source lives in an unsplit arena.
      const t2 = await check(split, r.normalArray(1100 * 96, 0.02), [1100, 96], doubleQuant, rt);
      expect(t2.chunks.map((c) => c.rows)).toEqual([1024, 76]);
    });
  }

  it('reduces more than 256 groups for the DQ mean (the strided lane sums)', async () => {
    const r = rng(14);
    await check(rt, r.normalArray(4200 * 1024, 0.02), [4200, 1024], true);
  });

  it('refuses a source whose chunks would split a 256-block group', async () => {
    const src = createTensor(split.arena, 'bad', 'f32', [1100, 96], 'scratch');
    await expect(quantizeNf4OnGpu(split, 'bad.nf4', src, null)).rejects.toThrow(/rowMultiple/);
  });
});
