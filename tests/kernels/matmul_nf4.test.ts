import { afterAll, beforeAll, expect, it } from 'vitest';
import { readF32 } from '../../src/engine/readback.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { quantizeNf4 } from '../../src/formats/nf4.ts';
import { matmulNf4BackwardInput, matmulNf4Forward } from '../../src/kernels/matmul_nf4.ts';
import type { MatmulTiles } from '../../src/kernels/matmul_tiles.ts';
import { uploadNf4 } from '../../src/kernels/nf4_alloc.ts';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { balanced, expectClose } from '../helpers/tolerance.ts';
import { matmulNf4BackwardInputRef, matmulNf4ForwardRef } from '../reference/matmul_nf4.ts';

type Form = 'forward' | 'backward_input';
const FORMS: Form[] = ['forward', 'backward_input'];

interface Case {
  M: number;
  K: number;
  N: number;
  doubleQuant?: boolean;
  alpha?: number;
  beta?: number;
  tiles?: MatmulTiles;
  /** The old output is NaN (with β = 0 the kernels must not read it). */
  nanOutput?: boolean;
  /** Leading dimensions of X / dY, flattening to M. */
  lead?: number[];
  /** Expected row chunks of W. */
  chunks?: number[];
}

const up = (rt: Runtime, label: string, shape: number[], data: Float32Array): GpuTensor => {
  const t = createTensor(rt.arena, label, 'f32', shape, 'scratch');
  uploadTensor(rt.device, t, data);
  return t;
};

/** Runs one form on the GPU against the reference on the dequantized weight; returns the dispatch count. */
async function check(rt: Runtime, form: Form, c: Case, seed = 1): Promise<number> {
  const { M, K, N, alpha = 1, beta = 0, doubleQuant = false } = c;
  const r = rng(seed);
  const lead = c.lead ?? [M];
  const w = quantizeNf4(r.normalArray(N * K, 1 / Math.sqrt(K)), [N, K], { doubleQuant });
  const wt = uploadNf4(rt, 'w', w, 'scratch');
  if (c.chunks) expect(wt.chunks.map((ch) => ch.rows)).toEqual(c.chunks);
  const input = r.normalArray(M * (form === 'forward' ? K : N));
  const outShape = [...lead, form === 'forward' ? N : K];
  const outLen = M * outShape[outShape.length - 1];
  const old = c.nanOutput ? new Float32Array(outLen).fill(NaN) : r.normalArray(outLen);
  const opts = { alpha, beta, c: old, tiles: c.tiles };
  const out = up(rt, `${form}.out`, outShape, old);
  let expected: Float64Array;
  const dispatches = await rt.run(form, (rec) => {
    if (form === 'forward') {
      matmulNf4Forward(rt, rec, { x: up(rt, 'x', [...lead, K], input), w: wt, y: out, ...opts });
      expected = matmulNf4ForwardRef(input, w, M, opts);
    } else {
      matmulNf4BackwardInput(rt, rec, { dy: up(rt, 'dy', [...lead, N], input), w: wt, dx: out, ...opts });
      expected = matmulNf4BackwardInputRef(input, w, M, opts);
    }
  });
  const what = `${form} M=${M} K=${K} N=${N} DQ=${doubleQuant}`;
  expectClose(await readF32(rt.device, out), expected!, balanced, what, outShape);
  rt.arena.releaseAll();
  return dispatches;
}

describeGpu('matmul_nf4 (fused dequantization, forward and input gradient)', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterAll(() => rt.arena.releaseAll());

  // Each distinct tile shape / DQ / K_ALIGNED is a pipeline, and SwiftShader takes seconds to build
  // one: every shape runs without DQ, the ones marked dq also with it.
  const shapes: [string, Case, boolean][] = [
    ['odd N, K not a multiple of 64', { M: 7, K: 96, N: 97 }, true],
    ['round', { M: 64, K: 128, N: 96 }, true],
    ['round, ragged tiles', { M: 130, K: 256, N: 72 }, false],
    ['K % 8 ≠ 0 (per-element path)', { M: 9, K: 100, N: 40 }, true],
    ['odd K', { M: 5, K: 37, N: 13 }, false],
    ['M = 1 (one token)', { M: 1, K: 64, N: 48 }, false],
    ['K = 4 (narrow dX)', { M: 6, K: 4, N: 33 }, true],
    ['batch × tokens leading dims', { M: 6, K: 32, N: 20, lead: [2, 3] }, false],
  ];
  for (const [name, c, dq] of shapes) {
    for (const doubleQuant of dq ? [false, true] : [false]) {
      for (const form of FORMS) {
        it(`${form}: ${name} (DQ=${doubleQuant})`, async () => {
          expect(await check(rt, form, { ...c, doubleQuant })).toBe(1);
        });
      }
    }
  }

  for (const form of FORMS) {
    it(`${form}: α and β (accumulate, scale, never read the output when β = 0)`, async () => {
      await check(rt, form, { M: 20, K: 64, N: 36, alpha: 0.25, beta: 1, doubleQuant: true });
      await check(rt, form, { M: 11, K: 30, N: 13, alpha: -2, beta: -0.5 });
      await check(rt, form, { M: 20, K: 64, N: 36, nanOutput: true });
      await check(rt, form, { M: 11, K: 30, N: 13, nanOutput: true, doubleQuant: true });
    });
  }

  it('any tile shape the overrides allow gives the same result', async () => {
    const tiles = { WG_ROWS: 8, WG_COLS: 4, TILE_K: 8 };
    for (const form of FORMS) {
      await check(rt, form, { M: 45, K: 88, N: 60, tiles, doubleQuant: true });
      await check(rt, form, { M: 45, K: 87, N: 61, tiles });
    }
  });

  it('refuses tiles whose depth splits a packed word', async () => {
    await expect(check(rt, 'forward', { M: 4, K: 64, N: 8, tiles: { WG_ROWS: 4, WG_COLS: 4, TILE_K: 4 } })).rejects.toThrow(/multiple of 8/);
    rt.arena.releaseAll();
  });
});

describeGpu('matmul_nf4 with W split in row chunks', () => {
  // Packed W of 128 B (K = 256) or 48 B (K = 96) a row, 64 KiB a binding, whole 256-block groups.
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime({ maxBindingBytes: 65536 });
  });
  afterAll(() => rt.arena.releaseAll());

  for (const doubleQuant of [false, true]) {
    it(`dispatches once per chunk, forward columns and backward partial sums (DQ=${doubleQuant})`, async () => {
      for (const form of FORMS) {
        const base = { doubleQuant, chunks: [512, 512, 76] };
        expect(await check(rt, form, { M: 5, K: 256, N: 1100, alpha: 0.5, beta: 1, ...base })).toBe(3);
        expect(await check(rt, form, { M: 5, K: 256, N: 1100, ...base }, 2)).toBe(3);
        expect(await check(rt, form, { M: 5, K: 96, N: 1100, doubleQuant, chunks: [1024, 76] })).toBe(2);
      }
    });
  }
});
