import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { BufferTooLargeError, ShaderError } from '../../src/engine/errors.ts';
import type { KernelSpec } from '../../src/engine/kernel.ts';

// y[i] = x[i]·a + b, over a 2-D grid so counts above 65535 workgroups also work.
const AXPB: KernelSpec = {
  name: 'axpb',
  source: /* wgsl */ `
struct Params { n: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64)
fn axpb(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let i = g.x + g.y * n.x * 64u;
  if (i < params.n) { y[i] = x[i] * params.a + params.b; }
}`,
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  uniforms: { n: 'u32', a: 'f32', b: 'f32' },
};

describeGpu('engine core', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime({ maxBindingBytes: 1024 });
  });
  afterAll(() => rt.arena.releaseAll());

  it('counts live and peak bytes by category', () => {
    const before = rt.arena.report();
    const a = rt.arena.createBuffer('a', 1000, 'activations');
    const b = rt.arena.createBuffer('b', 30, 'lora');
    const mid = rt.arena.report();
    expect(mid.live.activations - before.live.activations).toBe(1000);
    expect(mid.live.lora - before.live.lora).toBe(32);
    rt.arena.release(a);
    rt.arena.release(b);
    const after = rt.arena.report();
    expect(after.liveTotal).toBe(before.liveTotal);
    expect(after.peakTotal).toBeGreaterThanOrEqual(before.liveTotal + 1032);
  });

  it('splits a tensor over several buffers when one binding cannot hold it', async () => {
    // 37 rows of 10 f32 = 1480 bytes > 1024: two chunks of at most 25 rows.
    const t = createTensor(rt.arena, 'split', 'f32', [37, 10], 'scratch');
    expect(t.chunks.map((c) => c.rows)).toEqual([25, 12]);
    const data = Float32Array.from({ length: 370 }, (_, i) => i * 0.5);
    uploadTensor(rt.device, t, data);
    expect(await readF32(rt.device, t)).toEqual(data);
    expect(() => createTensor(rt.arena, 'wide', 'f32', [2, 300], 'scratch')).toThrow(BufferTooLargeError);
  });

  it('packs uniforms per dispatch within one submit', async () => {
    const n = 200;
    const x = createTensor(rt.arena, 'x', 'f32', [n], 'scratch');
    const y1 = createTensor(rt.arena, 'y1', 'f32', [n], 'scratch');
    const y2 = createTensor(rt.arena, 'y2', 'f32', [n], 'scratch');
    uploadTensor(rt.device, x, Float32Array.from({ length: n }, (_, i) => i));
    const kernel = rt.kernel(AXPB);
    await kernel.compile();
    const dispatches = await rt.run('two', (rec) => {
      rec.dispatch(kernel, { bindings: [x.buffer, y1.buffer], uniforms: { n, a: 2, b: 1 }, workgroups: [4] });
      rec.dispatch(kernel, { bindings: [x.buffer, y2.buffer], uniforms: { n, a: -1, b: 0.5 }, workgroups: [4] });
    });
    expect(dispatches).toBe(2);
    const r1 = await readF32(rt.device, y1);
    const r2 = await readF32(rt.device, y2);
    expect(r1[7]).toBe(15);
    expect(r2[7]).toBe(-6.5);
    expect(r1[199]).toBe(399);
  });

  it('rejects a launcher whose uniforms differ from the shader, and reports WGSL errors', async () => {
    expect(() => rt.kernel({ ...AXPB, name: 'axpb_bad', uniforms: { n: 'u32', a: 'f32' } })).toThrow(ShaderError);
    const broken = rt.kernel({ name: 'broken', source: '@compute @workgroup_size(1) fn broken() { let x: u32 = 1.5; }', bindings: [] });
    await expect(broken.compile()).rejects.toThrow(ShaderError);
  });
});
