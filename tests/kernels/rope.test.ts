import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { rng } from '../helpers/rng.ts';
import { balanced, expectClose } from '../helpers/tolerance.ts';
import { ropeBackward as ropeBackwardRef, ropeForward as ropeForwardRef, type RopeShape } from '../reference/rope.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { ropeBackward, ropeForward } from '../../src/kernels/rope.ts';
import { ropeInvFreq } from '../../src/model/rope_freqs.ts';
import { withLibs } from '../../src/engine/kernel.ts';
import sinCos from '../../shaders/lib/sin_cos.wgsl?raw';

// RoPE forward and backward on the GPU against the float64 reference: q-like and k-like head
// counts, head_dim 8 / 16 / 64, positions restarting per packed example, one token, and positions
// up to 3·10⁵; plus lib/sin_cos.wgsl alone against Math.sin / Math.cos.

const LLAMA3 = { type: 'llama3' as const, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

let rt: Runtime;

const up = (label: string, data: Float32Array | Int32Array, shape = [data.length]): GpuTensor => {
  const t = createTensor(rt.arena, label, data instanceof Int32Array ? 'i32' : 'f32', shape, 'scratch');
  uploadTensor(rt.device, t, data);
  return t;
};

/** Max |gpu − reference| of the forward and the backward, after checking both within `balanced`. */
async function check(s: RopeShape, positions: number[], invFreq: Float32Array, seed: number): Promise<number> {
  const r = rng(seed);
  const n = s.rows * s.heads * s.headDim;
  const x = r.normalArray(n);
  const dy = r.normalArray(n);
  const xT = up('q', x, [s.rows, s.heads * s.headDim]);
  const dyT = up('dq', dy, [s.rows, s.heads * s.headDim]);
  const posT = up('positions', Int32Array.from(positions));
  const invT = up('inv_freq', invFreq);
  await rt.run('rope', (rec) => {
    ropeForward(rt, rec, { x: xT.buffer, positions: posT.buffer, invFreq: invT.buffer }, s);
    ropeBackward(rt, rec, { grad: dyT.buffer, positions: posT.buffer, invFreq: invT.buffer }, s);
  });
  const what = `rows=${s.rows} heads=${s.heads} D=${s.headDim}`;
  const y = await readF32(rt.device, xT);
  const dx = await readF32(rt.device, dyT);
  const yRef = ropeForwardRef(x, positions, invFreq, s);
  const dxRef = ropeBackwardRef(dy, positions, invFreq, s);
  expectClose(y, yRef, balanced, `forward ${what}`, [s.rows, s.heads, s.headDim]);
  expectClose(dx, dxRef, balanced, `backward ${what}`, [s.rows, s.heads, s.headDim]);
  rt.arena.releaseAll();
  let worst = 0;
  y.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - yRef[i]))));
  dx.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - dxRef[i]))));
  return worst;
}

beforeAll(async () => {
  if (!gpuMissing) rt = await gpuRuntime();
});
afterAll(() => rt?.arena.releaseAll());

describeGpu('rope kernels', () => {
  it('match the reference on q-like and k-like tensors with packed positions', async () => {
    const packed = [0, 1, 2, 3, 0, 1, 2]; // two examples in one row of T = 7
    await check({ rows: 7, heads: 3, headDim: 16 }, packed, ropeInvFreq(16, 10000), 1);
    await check({ rows: 7, heads: 1, headDim: 16 }, packed, ropeInvFreq(16, 10000), 2);
    await check({ rows: 7, heads: 2, headDim: 8 }, packed, ropeInvFreq(8, 1e6), 3);
    const round = Array.from({ length: 16 }, (_, t) => t % 8);
    await check({ rows: 16, heads: 4, headDim: 64 }, round, ropeInvFreq(64, 500000, LLAMA3), 4);
  });

  it('handle one token and position 0 (the identity)', async () => {
    await check({ rows: 1, heads: 2, headDim: 16 }, [5], ropeInvFreq(16, 10000), 5);
    const r = rng(6);
    const x = r.normalArray(3 * 16);
    const xT = up('q', x);
    const posT = up('positions', new Int32Array(3));
    const invT = up('inv_freq', ropeInvFreq(16, 10000));
    await rt.run('identity', (rec) => ropeForward(rt, rec, { x: xT.buffer, positions: posT.buffer, invFreq: invT.buffer }, { rows: 3, heads: 1, headDim: 16 }));
    expect(await readF32(rt.device, xT)).toEqual(x);
    rt.arena.releaseAll();
  });

  it('stay accurate at large positions (angles reduced before cos/sin)', async () => {
    // inv_freq[0] = 1, so θ = position rad: up to 3·10⁵ rad, 5·10⁴ turns.
    const positions = [0, 1, 4095, 8191, 65535, 131071, 100003, 300007];
    const worst = await check({ rows: 8, heads: 2, headDim: 16 }, positions, ropeInvFreq(16, 500000, LLAMA3), 7);
    // The reduced angle is good to ~1e-7 rad and the polynomials to ~1 ulp; the built-in sin/cos
    // (2^-11 by the spec, as coarse on SwiftShader) would fail this.
    expect(worst).toBeLessThan(1e-6);
  });

  it('refuses an odd head_dim and a short inv_freq', () => {
    const q = up('q', new Float32Array(7 * 16));
    const pos = up('positions', new Int32Array(7));
    const inv = up('inv_freq', new Float32Array(4));
    const rec = rt.recorder('bad');
    expect(() => ropeForward(rt, rec, { x: q.buffer, positions: pos.buffer, invFreq: inv.buffer }, { rows: 7, heads: 1, headDim: 15 })).toThrow(/even/);
    expect(() => ropeForward(rt, rec, { x: q.buffer, positions: pos.buffer, invFreq: inv.buffer }, { rows: 7, heads: 1, headDim: 16 })).toThrow(/inv_freq holds 16 bytes, needs 32/);
    rec.submit();
    rt.arena.releaseAll();
  });
});

describeGpu('sin_cos (shaders/lib/sin_cos.wgsl)', () => {
  it('is accurate to ~1e-7 over the whole reduced range', async () => {
    const probe = withLibs(
      /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> theta: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<vec2f>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(64)
fn sin_cos_probe(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < params.n) { out[g.x] = sin_cos(theta[g.x]); }
}`,
      sinCos,
    );
    const kernel = rt.kernel({ name: 'sin_cos_probe', source: probe, bindings: [{ name: 'theta', access: 'read' }, { name: 'out', access: 'read_write' }], uniforms: { n: 'u32' } });
    const r = rng(8);
    // Quadrant edges, small angles, and uniform draws up to 2e5 rad.
    const special = [0, 1e-30, -1e-7, Math.PI / 4, Math.PI / 2, Math.PI, 1.5 * Math.PI, 2 * Math.PI, 100 * Math.PI, 131071, 200000];
    const theta = Float32Array.from([...special, ...r.uniformArray(4000, -10, 10), ...r.uniformArray(4000, 0, 2e5)]);
    const n = theta.length;
    const thetaT = up('theta', theta);
    const outT = up('out', new Float32Array(2 * n));
    await rt.run('sin_cos', (rec) => rec.dispatch(kernel, { bindings: [thetaT.buffer, outT.buffer], uniforms: { n }, workgroups: [Math.ceil(n / 64)] }));
    const out = await readF32(rt.device, outT);
    let worst = 0;
    theta.forEach((t, i) => {
      worst = Math.max(worst, Math.abs(out[2 * i] - Math.sin(t)), Math.abs(out[2 * i + 1] - Math.cos(t)));
    });
    expect(worst).toBeLessThan(2e-7); // measured 7e-8 on SwiftShader, whose own sin/cos err by 5e-4
    rt.arena.releaseAll();
  });
});
