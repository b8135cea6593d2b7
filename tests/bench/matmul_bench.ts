import type { Recorder } from '../../src/engine/recorder.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { matmulBackwardInput, matmulBackwardWeight, matmulForward } from '../../src/kernels/matmul.ts';
import { pickDenseTiles } from '../../src/kernels/matmul_tiles.ts';
import { uploadNf4 } from '../../src/kernels/nf4_alloc.ts';
import { matmulNf4BackwardInput, matmulNf4Forward } from '../../src/kernels/matmul_nf4.ts';
import { quantizeNf4 } from '../../src/formats/nf4.ts';
import { rng } from '../helpers/rng.ts';
import { benchRuntime, deviceMs, fmt, IDLE_NOTE, idleMs, isSoftware, printTable, timeDispatches } from './bench_gpu.ts';
import { peakProbe } from './peak_probe.ts';

// `npm run bench matmul`: achieved GFLOP/s (2·M·N·K per matmul) of each Linear form at a few
// shapes, beside what the adapter can attain at all (peak_probe.ts). Timed over many dispatches
// in one submit after a warm-up; GPU timestamps when the adapter has them, else wall clock. On a
// software adapter the starred columns rate by cpu time, which a busy machine disturbs far less.

interface Shape {
  name: string;
  /** tokens */
  M: number;
  /** out features (rows of W) */
  N: number;
  /** in features */
  K: number;
}

const SHAPES: Shape[] = [
  { name: 'square', M: 512, N: 512, K: 512 },
  { name: 'LoRA-like (rank 16)', M: 1024, N: 16, K: 1024 },
  { name: 'MLP-like', M: 256, N: 1536, K: 576 },
  { name: 'odd (strided path)', M: 255, N: 513, K: 509 },
];

/** One benchmarked form: allocates its operands for a shape and records one matmul. */
export interface BenchForm {
  name: string;
  prepare(rt: Runtime, s: Shape): { record: (rec: Recorder) => void; path: string };
}

/** Dense f32 inputs the forms share: X (M, K), W (N, K), dY (M, N) and the outputs. */
function operands(rt: Runtime, s: Shape) {
  const r = rng(5);
  const t = (label: string, shape: number[], data: Float32Array): GpuTensor => {
    const tensor = createTensor(rt.arena, `bench.${label}`, 'f32', shape, 'scratch');
    uploadTensor(rt.device, tensor, data);
    return tensor;
  };
  const wHost = r.normalArray(s.N * s.K, 1 / Math.sqrt(s.K));
  return {
    x: t('x', [s.M, s.K], r.normalArray(s.M * s.K)),
    w: t('w', [s.N, s.K], wHost),
    wHost,
    dy: t('dy', [s.M, s.N], r.normalArray(s.M * s.N)),
    out: (label: string, shape: number[]) => createTensor(rt.arena, `bench.${label}`, 'f32', shape, 'scratch'),
  };
}

/** Which dense kernel and tile matmul.ts picks for a rows × cols output. */
const path = (rt: Runtime, rows: number, cols: number, vec4: boolean): string => {
  const t = pickDenseTiles(rows, cols, rt.device.limits.maxComputeWorkgroupStorageSize);
  return `${vec4 ? 'vec4' : 'strided'} ${8 * t.WG_ROWS}×${8 * t.WG_COLS}`;
};

const DENSE_FORMS: BenchForm[] = [
  {
    name: 'forward Y = X·Wᵀ',
    prepare(rt, s) {
      const o = operands(rt, s);
      const y = o.out('y', [s.M, s.N]);
      return {
        record: (rec) => matmulForward(rt, rec, { x: o.x, w: o.w, y }),
        path: path(rt, s.M, s.N, s.K % 4 === 0 && s.N % 4 === 0),
      };
    },
  },
  {
    name: 'backward dX = dY·W',
    prepare(rt, s) {
      const o = operands(rt, s);
      const dx = o.out('dx', [s.M, s.K]);
      return {
        record: (rec) => matmulBackwardInput(rt, rec, { dy: o.dy, w: o.w, dx }),
        path: path(rt, s.M, s.K, s.K % 4 === 0 && s.N % 4 === 0),
      };
    },
  },
  {
    name: 'backward dW = dYᵀ·X (β=1)',
    prepare(rt, s) {
      const o = operands(rt, s);
      const dw = o.out('dw', [s.N, s.K]);
      return {
        record: (rec) => matmulBackwardWeight(rt, rec, { dy: o.dy, x: o.x, dw, beta: 1 }),
        path: path(rt, s.N, s.K, s.K % 4 === 0 && s.N % 4 === 0),
      };
    },
  },
];

// ── NF4 forms ───────────────────────────────────────────────────────────────────────────────
// The fused NF4 matmuls of the frozen base (matmul_nf4.ts: forward Y = X·dequant(W)ᵀ, backward
// dX = dY·dequant(W)) sit in the same table at the same shapes, counted as the same 2·M·N·K. To
// bench another quantized form, add a BenchForm here. W is double-quantized, as QLoRA loads a base.
const quantized = (rt: Runtime, s: Shape, wHost: Float32Array) =>
  uploadNf4(rt, 'bench.w_nf4', quantizeNf4(wHost, [s.N, s.K], { doubleQuant: true }), 'scratch');

const NF4_FORMS: BenchForm[] = [
  {
    name: 'NF4 forward Y = X·deq(W)ᵀ',
    prepare(rt, s) {
      const o = operands(rt, s);
      const w = quantized(rt, s, o.wHost);
      const y = o.out('y', [s.M, s.N]);
      return { record: (rec) => matmulNf4Forward(rt, rec, { x: o.x, w, y }), path: 'fused nf4' };
    },
  },
  {
    name: 'NF4 backward dX = dY·deq(W)',
    prepare(rt, s) {
      const o = operands(rt, s);
      const w = quantized(rt, s, o.wHost);
      const dx = o.out('dx', [s.M, s.K]);
      return { record: (rec) => matmulNf4BackwardInput(rt, rec, { dy: o.dy, w, dx }), path: 'fused nf4' };
    },
  },
];

export async function run(): Promise<void> {
  const rt = await benchRuntime();
  const software = isSoftware(rt);
  console.log('\n== peak probe ==');
  const peak = await peakProbe(rt);

  console.log('\n== dense f32 and NF4 matmul (GFLOP/s = 2·M·N·K / time) ==');
  const rows: (string | number)[][] = [];
  for (const s of SHAPES) {
    // SwiftShader runs the 512³ square at ~0.1 s a dispatch: aim for ~1 s of measured work each.
    for (const form of [...DENSE_FORMS, ...NF4_FORMS]) {
      const { record, path } = form.prepare(rt, s);
      const t = await timeDispatches(rt, `${form.name} ${s.name}`, record, { targetMs: software ? 1000 : 200 });
      const flops = 2 * s.M * s.N * s.K;
      const gflops = flops / deviceMs(t) / 1e6;
      const cells = [form.name, `${s.M}×${s.N}×${s.K} ${s.name}`, path, t.reps, fmt(t.wallMs), fmt(t.gpuMs), fmt(t.cpuMs), fmt(gflops)];
      if (software) {
        // Compare like with like: cpu-time rate against the probe's cpu-time rate.
        const idle = flops / idleMs(t) / 1e6;
        rows.push([...cells, fmt(idle), `${fmt((100 * idle) / peak.idleGflops!)}%`]);
      } else {
        rows.push([...cells, `${fmt((100 * gflops) / peak.gflops)}%`]);
      }
      rt.arena.releaseAll();
    }
  }
  const idleHeader = software ? ['GFLOP/s*', 'of peak*'] : ['of peak'];
  printTable(['form', 'M×N×K', 'path, tile', 'reps', 'wall ms', 'gpu ms', 'cpu ms', 'GFLOP/s', ...idleHeader], rows);
  if (software) console.log(IDLE_NOTE);
}
