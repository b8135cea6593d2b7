import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { balanced, expectClose } from '../helpers/tolerance.ts';
import { numericGradient, maxRelativeError } from '../helpers/finite_diff.ts';
import { matmulBackwardInputRef, matmulBackwardWeightRef, matmulForwardRef } from '../reference/matmul.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { matmulBackwardInput, matmulBackwardWeight, matmulForward } from '../../src/kernels/matmul.ts';
import { pickDenseTiles, pickTiles, type MatmulTiles } from '../../src/kernels/matmul_tiles.ts';

type Form = 'forward' | 'backward_input' | 'backward_weight';
const FORMS: Form[] = ['forward', 'backward_input', 'backward_weight'];

interface Case {
  M: number;
  K: number;
  N: number;
  alpha?: number;
  beta?: number;
  bias?: boolean;
  tiles?: MatmulTiles;
  /** The old output is NaN (with β = 0 the kernels must not read it). */
  nanOutput?: boolean;
  /** Leading dimensions of X / dY, flattening to M. */
  lead?: number[];
}

const up = (rt: Runtime, label: string, shape: number[], data: Float32Array): GpuTensor => {
  const t = createTensor(rt.arena, label, 'f32', shape, 'scratch');
  uploadTensor(rt.device, t, data);
  return t;
};

/** Runs one form on the GPU and checks it against the reference; returns the dispatch count. */
async function check(rt: Runtime, form: Form, c: Case, seed = 1): Promise<number> {
  const { M, K, N, alpha = 1, beta = 0 } = c;
  const r = rng(seed);
  const lead = c.lead ?? [M];
  const x = r.normalArray(M * K);
  const w = r.normalArray(N * K, 1 / Math.sqrt(K));
  const dy = r.normalArray(M * N);
  const bias = c.bias ? r.normalArray(N) : undefined;
  const outShape = form === 'forward' ? [...lead, N] : form === 'backward_input' ? [...lead, K] : [N, K];
  const outLen = outShape.reduce((a, b) => a * b, 1);
  const old = c.nanOutput ? new Float32Array(outLen).fill(NaN) : r.normalArray(outLen);
  const opts = { alpha, beta, c: old, tiles: c.tiles };

  const out = up(rt, `${form}.out`, outShape, old);
  let expected: Float64Array;
  const dispatches = await rt.run(form, (rec) => {
    if (form === 'forward') {
      const biasT = bias && up(rt, 'bias', [N], bias);
      matmulForward(rt, rec, { x: up(rt, 'x', [...lead, K], x), w: up(rt, 'w', [N, K], w), y: out, bias: biasT, ...opts });
      expected = matmulForwardRef(x, w, M, K, N, { ...opts, bias });
    } else if (form === 'backward_input') {
      matmulBackwardInput(rt, rec, { dy: up(rt, 'dy', [...lead, N], dy), w: up(rt, 'w', [N, K], w), dx: out, ...opts });
      expected = matmulBackwardInputRef(dy, w, M, K, N, opts);
    } else {
      matmulBackwardWeight(rt, rec, { dy: up(rt, 'dy', [...lead, N], dy), x: up(rt, 'x', [...lead, K], x), dw: out, ...opts });
      expected = matmulBackwardWeightRef(dy, x, M, K, N, opts);
    }
  });
  expectClose(await readF32(rt.device, out), expected!, balanced, `${form} M=${M} K=${K} N=${N}`, outShape);
  rt.arena.releaseAll();
  return dispatches;
}

describe('matmul references', () => {
  it('backward references are the gradients of the forward (float64 finite differences)', () => {
    const [M, K, N] = [3, 5, 4];
    const r = rng(7);
    const x = Float64Array.from(r.normalArray(M * K));
    const w = Float64Array.from(r.normalArray(N * K));
    const g = r.normalArray(M * N); // d loss / dY for loss = Σ g ⊙ Y
    const loss = () => matmulForwardRef(x, w, M, K, N).reduce((s, y, i) => s + g[i] * y, 0);
    expect(maxRelativeError(matmulBackwardInputRef(g, w, M, K, N), numericGradient(loss, x)).error).toBeLessThan(1e-7);
    expect(maxRelativeError(matmulBackwardWeightRef(g, x, M, K, N), numericGradient(loss, w)).error).toBeLessThan(1e-7);
  });

  it('gives thin outputs their threads elsewhere', () => {
    expect(pickDenseTiles(1024, 1024)).toEqual({ WG_ROWS: 8, WG_COLS: 8, TILE_K: 16 });
    expect(pickDenseTiles(1024, 16, 32768)).toEqual({ WG_ROWS: 32, WG_COLS: 2, TILE_K: 16 });
    expect(pickDenseTiles(1, 576, 65536)).toEqual({ WG_ROWS: 1, WG_COLS: 64, TILE_K: 16 });
    expect(pickDenseTiles(7, 97)).toEqual({ WG_ROWS: 1, WG_COLS: 16, TILE_K: 16 });
    // The staged tiles must fit the workgroup memory (16 KiB unless told more): the long side halves.
    expect(pickDenseTiles(1024, 16)).toEqual({ WG_ROWS: 16, WG_COLS: 2, TILE_K: 16 });
    expect(pickDenseTiles(1024, 8, 32768)).toEqual({ WG_ROWS: 32, WG_COLS: 1, TILE_K: 16 });
    expect(pickDenseTiles(1024, 8)).toEqual({ WG_ROWS: 16, WG_COLS: 1, TILE_K: 16 });
    expect(pickDenseTiles(1, 576, 32768)).toEqual({ WG_ROWS: 1, WG_COLS: 32, TILE_K: 16 });
    // 4×4 outputs a thread (the NF4 kernels): the same rule over 16×16 threads.
    expect(pickTiles(1024, 1024)).toEqual({ WG_ROWS: 16, WG_COLS: 16, TILE_K: 16 });
    expect(pickTiles(1024, 16, undefined, 4, 32768)).toEqual({ WG_ROWS: 64, WG_COLS: 4, TILE_K: 16 });
    expect(pickTiles(1024, 16)).toEqual({ WG_ROWS: 32, WG_COLS: 4, TILE_K: 16 });
  });
});

describeGpu('matmul (dense f32, three Linear forms)', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterAll(() => rt.arena.releaseAll());

  const shapes: [string, Case][] = [
    ['round (vec4 path)', { M: 64, K: 128, N: 96 }],
    ['round, ragged tiles (vec4 path)', { M: 130, K: 256, N: 72 }],
    ['odd N (strided path)', { M: 7, K: 96, N: 97 }],
    ['odd K (strided path)', { M: 9, K: 97, N: 40 }],
    ['K = 1', { M: 5, K: 1, N: 12 }],
    ['M = 1 (one token)', { M: 1, K: 64, N: 48 }],
    ['LoRA-like thin side', { M: 100, K: 64, N: 16 }],
    ['LoRA rank 8', { M: 300, K: 40, N: 8 }],
    ['batch × tokens leading dims', { M: 6, K: 32, N: 20, lead: [2, 3] }],
  ];
  for (const [name, c] of shapes) {
    for (const form of FORMS) {
      it(`${form}: ${name}`, async () => {
        expect(await check(rt, form, c)).toBe(1);
      });
    }
  }

  it('forward adds the bias once, unscaled by α, on both paths', async () => {
    await check(rt, 'forward', { M: 33, K: 64, N: 40, bias: true, alpha: 0.5 });
    await check(rt, 'forward', { M: 7, K: 96, N: 97, bias: true, alpha: 2, beta: 1 });
  });

  for (const form of FORMS) {
    it(`${form}: α and β (accumulate, scale, never read the output when β = 0)`, async () => {
      await check(rt, form, { M: 20, K: 48, N: 36, alpha: 0.25, beta: 1 });
      await check(rt, form, { M: 11, K: 30, N: 13, alpha: -2, beta: -0.5 });
      await check(rt, form, { M: 20, K: 48, N: 36, nanOutput: true });
      await check(rt, form, { M: 11, K: 30, N: 13, nanOutput: true });
    });
  }

  it('rejects mismatched shapes and tiles the adapter cannot run, saying why', () => {
    const t = (label: string, shape: number[]) => createTensor(rt.arena, label, 'f32', shape, 'scratch');
    const [x, w, y] = [t('x', [4, 8]), t('w', [12, 8]), t('y', [4, 12])];
    const rec = rt.recorder('errors');
    try {
      expect(() => matmulForward(rt, rec, { x, w, y: t('y_bad', [4, 11]) })).toThrow(/y \(y_bad\) must be f32 \[\.\.\., 12\]/);
      expect(() => matmulBackwardInput(rt, rec, { dy: y, w, dx: t('dx_bad', [5, 8]) })).toThrow(/has 5 rows of 8, expected 4/);
      expect(() => matmulForward(rt, rec, { x, w, y, tiles: { WG_ROWS: 32, WG_COLS: 32, TILE_K: 16 } })).toThrow(/threads/);
      expect(rec.dispatchCount).toBe(0);
    } finally {
      rec.submit();
      rt.arena.releaseAll();
    }
  });

  it('any tile shape the overrides allow gives the same result', async () => {
    const tiles = { WG_ROWS: 4, WG_COLS: 2, TILE_K: 8 };
    for (const form of FORMS) {
      await check(rt, form, { M: 45, K: 88, N: 60, tiles });
      await check(rt, form, { M: 45, K: 87, N: 61, tiles });
    }
  });
});

describeGpu('matmul with W split in row chunks', () => {
  it('dispatches once per chunk on the vec4 path (chunks of 16 rows)', async () => {
    // W and dW [44, 32] f32 = 128 B a row, 2 KiB a binding: chunks of 16, 16, 12 rows.
    const rt = await gpuRuntime({ maxBindingBytes: 2048 });
    expect(createTensor(rt.arena, 'probe', 'f32', [44, 32], 'scratch').chunks.map((c) => c.rows)).toEqual([16, 16, 12]);
    rt.arena.releaseAll();
    for (const form of FORMS) {
      expect(await check(rt, form, { M: 5, K: 32, N: 44, bias: form === 'forward', alpha: 0.5, beta: 1 })).toBe(3);
      expect(await check(rt, form, { M: 5, K: 32, N: 44 })).toBe(3);
    }
  });

  it('dispatches once per chunk on the strided path (chunks of 7 rows)', async () => {
    // W and dW [30, 20] f32 = 80 B a row, 600 B a binding: chunks of 7, 7, 7, 7, 2 rows.
    const rt = await gpuRuntime({ maxBindingBytes: 600 });
    expect(createTensor(rt.arena, 'probe', 'f32', [30, 20], 'scratch').chunks.map((c) => c.rows)).toEqual([7, 7, 7, 7, 2]);
    rt.arena.releaseAll();
    for (const form of FORMS) {
      expect(await check(rt, form, { M: 4, K: 20, N: 30, bias: form === 'forward', alpha: 1.5, beta: -1 })).toBe(5);
      expect(await check(rt, form, { M: 4, K: 20, N: 30 })).toBe(5);
    }
  });
});
