import type { KernelSpec } from '../../src/engine/kernel.ts';
import { grid } from '../../src/engine/recorder.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { deviceMs, fmt, IDLE_NOTE, idleMs, isSoftware, printTable, timeDispatches } from './bench_gpu.ts';

// What this adapter can attain at all, as the yardstick for the kernels: the f32 FMA rate of a
// kernel that does nothing but independent FMAs in registers, and the bandwidth of a plain copy.
// These two kernels exist only for the benchmark, so they live here rather than in shaders/.

// Each thread runs CHAINS independent vec4 FMA chains for `iterations` steps:
// 8·CHAINS·iterations FLOPs a thread (an FMA is 2). Dispatch: grid(workgroups) of WG threads.
// The sums are written out (once, to one slot per thread) so the compiler cannot drop the work.
const FMA_PEAK: KernelSpec = {
  name: 'bench_fma_peak',
  source: /* wgsl */ `
struct Params { iterations: u32, seed: f32 }
override WG: u32 = 256;
@group(0) @binding(0) var<storage, read_write> sink: array<vec4f>; // (threads)
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn bench_fma_peak(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let id = g.x + g.y * n.x * WG;
  let b = vec4f(0.999, 0.998, 0.997, 0.996);
  let c = vec4f(params.seed);
  var a0 = vec4f(f32(id) * 1e-7);
  var a1 = a0 + 0.1; var a2 = a0 + 0.2; var a3 = a0 + 0.3;
  var a4 = a0 + 0.4; var a5 = a0 + 0.5; var a6 = a0 + 0.6; var a7 = a0 + 0.7;
  for (var i = 0u; i < params.iterations; i++) {
    a0 = fma(a0, b, c); a1 = fma(a1, b, c); a2 = fma(a2, b, c); a3 = fma(a3, b, c);
    a4 = fma(a4, b, c); a5 = fma(a5, b, c); a6 = fma(a6, b, c); a7 = fma(a7, b, c);
  }
  sink[id] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}`,
  bindings: [{ name: 'sink', access: 'read_write' }],
  uniforms: { iterations: 'u32', seed: 'f32' },
};
const CHAINS = 8;

// dst[i] = src[i] over vec4s, one per thread; 2 × bytes cross the memory bus a dispatch.
const COPY: KernelSpec = {
  name: 'bench_copy',
  source: /* wgsl */ `
struct Params { count: u32 }
override WG: u32 = 256;
@group(0) @binding(0) var<storage, read> src: array<vec4f>; // (count)
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>; // (count)
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn bench_copy(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let i = g.x + g.y * n.x * WG;
  if (i < params.count) { dst[i] = src[i]; }
}`,
  bindings: [
    { name: 'src', access: 'read' },
    { name: 'dst', access: 'read_write' },
  ],
  uniforms: { count: 'u32' },
};

export interface Peak {
  gflops: number;
  gbps: number;
  /** On a software adapter, the same from cpu time (see idleMs). */
  idleGflops?: number;
  idleGbps?: number;
}

/** Runs both probes, prints them, and returns the attained GFLOP/s and GB/s. */
export async function peakProbe(rt: Runtime): Promise<Peak> {
  const software = isSoftware(rt);
  const WG = 256;
  // Enough threads to fill a large GPU (and more than SwiftShader's cores need).
  const workgroups = software ? 64 : 4096;
  const iterations = software ? 256 : 4096;
  const threads = workgroups * WG;
  const sink = rt.arena.createBuffer('bench.fma_sink', threads * 16, 'scratch');
  const fma = rt.kernel(FMA_PEAK);
  const flops = 8 * CHAINS * iterations * threads;
  const fmaTime = await timeDispatches(rt, 'fma peak', (rec) =>
    rec.dispatch(fma, { bindings: [sink], uniforms: { iterations, seed: 1e-3 }, workgroups: grid(workgroups), overrides: { WG } }),
  );

  const bytes = Math.floor(Math.min((software ? 16 : 256) * 2 ** 20, rt.arena.maxBindingBytes) / 16) * 16;
  const count = bytes / 16;
  const src = rt.arena.createBuffer('bench.copy_src', bytes, 'scratch');
  const dst = rt.arena.createBuffer('bench.copy_dst', bytes, 'scratch');
  const copy = rt.kernel(COPY);
  const copyTime = await timeDispatches(rt, 'copy', (rec) =>
    rec.dispatch(copy, { bindings: [src, dst], uniforms: { count }, workgroups: grid(Math.ceil(count / WG)), overrides: { WG } }),
  );
  for (const b of [sink, src, dst]) rt.arena.release(b);

  const peak: Peak = { gflops: flops / deviceMs(fmaTime) / 1e6, gbps: (2 * bytes) / deviceMs(copyTime) / 1e6 };
  if (software) {
    peak.idleGflops = flops / idleMs(fmaTime) / 1e6;
    peak.idleGbps = (2 * bytes) / idleMs(copyTime) / 1e6;
  }
  const rate = (v: number | undefined, unit: string) => (v === undefined ? [] : [`${fmt(v)} ${unit}`]);
  printTable(
    ['probe', 'work per dispatch', 'reps', 'wall ms', 'gpu ms', 'cpu ms', 'rate', ...(software ? ['rate*'] : [])],
    [
      [
        'f32 FMA peak',
        `${fmt(flops / 1e9)} GFLOP`,
        fmaTime.reps,
        fmt(fmaTime.wallMs),
        fmt(fmaTime.gpuMs),
        fmt(fmaTime.cpuMs),
        `${fmt(peak.gflops)} GFLOP/s`,
        ...rate(peak.idleGflops, 'GFLOP/s'),
      ],
      [
        'copy bandwidth',
        `${fmt((2 * bytes) / 2 ** 20)} MiB moved`,
        copyTime.reps,
        fmt(copyTime.wallMs),
        fmt(copyTime.gpuMs),
        fmt(copyTime.cpuMs),
        `${fmt(peak.gbps)} GB/s`,
        ...rate(peak.idleGbps, 'GB/s'),
      ],
    ],
  );
  if (software) console.log(IDLE_NOTE);
  return peak;
}
