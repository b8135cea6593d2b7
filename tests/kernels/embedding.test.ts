import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { exact, expectClose } from '../helpers/tolerance.ts';
import { embeddingForward as embeddingForwardRef } from '../reference/embedding.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { embeddingForward } from '../../src/kernels/embedding.ts';

// Embedding gather on the GPU: bit-exact copies of table rows, from a whole table and from one
// split into row chunks; ids outside [0, V) give zeros; every output element is written.

let rt: Runtime;
let small: Runtime; // binding limit of 20 rows of 96 f32: V = 97 splits into 5 chunks

beforeAll(async () => {
  if (gpuMissing) return;
  rt = await gpuRuntime();
  small = await gpuRuntime({ maxBindingBytes: 20 * 96 * 4 });
});
afterAll(() => {
  rt?.arena.releaseAll();
  small?.arena.releaseAll();
});

async function check(on: Runtime, vocab: number, cols: number, ids: number[], seed: number, chunks?: number): Promise<void> {
  const table = rng(seed).normalArray(vocab * cols);
  const tableT = createTensor(on.arena, 'embed_tokens', 'f32', [vocab, cols], 'base');
  uploadTensor(on.device, tableT, table);
  if (chunks !== undefined) expect(tableT.chunks.length).toBe(chunks);
  const idsT = createTensor(on.arena, 'ids', 'i32', [ids.length], 'scratch');
  uploadTensor(on.device, idsT, Int32Array.from(ids));
  const out: GpuTensor = createTensor(on.arena, 'h', 'f32', [ids.length, cols], 'activations');
  uploadTensor(on.device, out, new Float32Array(ids.length * cols).fill(NaN));
  const dispatches = await on.run('embedding', (rec) => embeddingForward(on, rec, { ids: idsT.buffer, table: tableT, out: out.buffer }, { tokens: ids.length }));
  expect(dispatches).toBe(tableT.chunks.length);
  expectClose(await readF32(on.device, out), embeddingForwardRef(ids, table, vocab, cols), exact, `V=${vocab} C=${cols}`, [ids.length, cols]);
  on.arena.releaseAll();
}

describeGpu('embedding_forward', () => {
  it('gathers rows on odd and round shapes', async () => {
    await check(rt, 97, 96, [5, 0, 96, 5, 42, 1, 17], 1);
    await check(rt, 256, 64, Array.from({ length: 32 }, (_, t) => (t * 37) % 256), 2);
    await check(rt, 97, 13, [3], 3); // one token, odd width
  });

  it('gathers from a table split into row chunks, each dispatch writing its own tokens', async () => {
    await check(small, 97, 96, [0, 19, 20, 39, 40, 96, 95, 60, 61, 5, 80], 4, 5);
  });

  it('writes zeros for ids outside [0, V), chunked or not', async () => {
    const ids = [-1, 3, 97, 2147483647, -2147483648, 96];
    await check(rt, 97, 96, ids, 5);
    await check(small, 97, 96, ids, 6, 5);
  });

  it('refuses a table that is not f32 (V, C)', () => {
    const table = createTensor(rt.arena, 'embed_tokens', 'f32', [97 * 8], 'base');
    const rec = rt.recorder('bad');
    expect(() => embeddingForward(rt, rec, { ids: table.buffer, table, out: table.buffer }, { tokens: 1 })).toThrow(/f32 \(vocab, hidden\)/);
    rec.submit();
    rt.arena.releaseAll();
  });
});
