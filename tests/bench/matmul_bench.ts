import { availableParallelism } from 'node:os';
import type { Recorder } from '../../src/engine/recorder.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../../src/engine/tensor.ts';
import { matmulBackwardInput, matmulBackwardWeight, matmulForward } from '../../src/kernels/matmul.ts';
import { pickDenseTiles } from '../../src/kernels/matmul_tiles.ts';
import { rng } from '../helpers/rng.ts';
import { benchRuntime, fmt, printTable, timeDispatches } from './bench_gpu.ts';
import { peakProbe } from './peak_probe.ts';

// `npm run bench matmul`: achieved GFLOP/s (2·M·N·K per matmul) of each Linear form at a few
// shapes, beside what the adapter can attain at all (peak_probe.ts). Timed over many dispatches
// in one submit after a warm-up; GPU timestamps when the adapter has them, else wall clock.

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
  const t = (label: string, shape: number[], std: number): GpuTensor => {
    const tensor = createTensor(rt.arena, `bench.${label}`, 'f32', shape, 'scratch');
    uploadTensor(rt.device, tensor, r.normalArray(shape[0] * shape[1], std));
    return tensor;
  };
  return {
    x: t('x', [s.M, s.K], 1),
    w: t('w', [s.N, s.K], 1 / Math.sqrt(s.K)),
    dy: t('dy', [s.M, s.N], 1),
    out: (label: string, shape: number[]) => createTensor(rt.arena, `bench.${label}`, 'f32', shape, 'scratch'),
  };
}

const path = (rows: number, cols: number, vec4: boolean): string => {
  const t = pickDenseTiles(rows, cols);
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
        path: path(s.M, s.N, s.K % 4 === 0 && s.N % 4 === 0),
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
        path: path(s.M, s.K, s.K % 4 === 0 && s.N % 4 === 0),
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
        path: path(s.N, s.K, s.K % 4 === 0 && s.N % 4 === 0),
      };
    },
  },
];

// ── NF4 hook ────────────────────────────────────────────────────────────────────────────────
// The fused NF4 matmuls (src/kernels/matmul_nf4*.ts: forward Y = X·dequant(W)ᵀ and backward
// dX = dY·dequant(W), W frozen) belong in this table beside the dense forms, at the same shapes
// and with the same 2·M·N·K count. Add them to this list as BenchForm entries: `prepare` quantizes
// o.w into an Nf4Tensor once and `record` calls the NF4 launcher.
const NF4_FORMS: BenchForm[] = [];

export async function run(): Promise<void> {
  const rt = await benchRuntime();
  const software = /swiftshader/i.test(JSON.stringify(rt.gpu.adapter)) || rt.gpu.adapter.isFallbackAdapter;
  const cores = availableParallelism();
  console.log('\n== peak probe ==');
  const peak = await peakProbe(rt, software);

  console.log('\n== dense f32 matmul (GFLOP/s = 2·M·N·K / time) ==');
  const rows: (string | number)[][] = [];
  for (const s of SHAPES) {
    // SwiftShader runs the 512³ square at ~0.1 s a dispatch: aim for ~1 s of measured work each.
    for (const form of [...DENSE_FORMS, ...NF4_FORMS]) {
      const { record, path } = form.prepare(rt, s);
      const t = await timeDispatches(rt, `${form.name} ${s.name}`, record, { targetMs: software ? 1000 : 200 });
      const ms = t.gpuMs ?? t.wallMs;
      const gflops = (2 * s.M * s.N * s.K) / ms / 1e6;
      const cells = [form.name, `${s.M}×${s.N}×${s.K} ${s.name}`, path, t.reps, fmt(t.wallMs), fmt(t.gpuMs), fmt(t.cpuMs)];
      const idle = software ? [fmt((2 * s.M * s.N * s.K) / (t.cpuMs / cores) / 1e6)] : [];
      rows.push([...cells, fmt(gflops), ...idle, `${fmt((100 * gflops) / peak.gflops)}%`]);
      rt.arena.releaseAll();
    }
  }
  const idleHeader = software ? ['GFLOP/s*'] : [];
  printTable(['form', 'M×N×K', 'path, tile', 'reps', 'wall ms', 'gpu ms', 'cpu ms', 'GFLOP/s', ...idleHeader, 'of peak'], rows);
  if (software) {
    console.log(`* from cpu ms ÷ ${cores} cores: what an idle machine would give (SwiftShader is this process's threads)`);
  }
}
