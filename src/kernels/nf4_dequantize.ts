import type { KernelSpec } from '../engine/kernel.ts';
import { withLibs } from '../engine/kernel.ts';
import { grid, type Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { GpuTensor } from '../engine/tensor.ts';
import lib from '../../shaders/lib/nf4.wgsl?raw';
import source from '../../shaders/nf4_dequantize.wgsl?raw';
import { rowOverlaps } from './nf4_alloc.ts';
import { NESTED_BLOCK, NF4_BLOCK, type Nf4Tensor } from './nf4_tensor.ts';

// NF4 → f32 (formats.md §1.4): for checks, exports and merging; the matmuls dequantize on the fly
// and never need this. The output may be split by rows differently from the NF4 chunks.

export const NF4_DEQUANTIZE: KernelSpec = {
  name: 'nf4_dequantize',
  source: withLibs(source, lib),
  bindings: [
    { name: 'packed', access: 'read' },
    { name: 'absmax', access: 'read' },
    { name: 'stats', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  uniforms: { src_offset: 'u32', dst_offset: 'u32', count: 'u32', group0: 'u32' },
};

/** Records out (f32 [rows, cols]) = dequant(w). */
export function recordNf4Dequantize(rt: Runtime, rec: Recorder, w: Nf4Tensor, out: GpuTensor): void {
  const [rows, cols] = w.shape;
  if (out.dtype !== 'f32' || out.shape.length !== 2 || out.shape[0] !== rows || out.shape[1] !== cols) {
    throw new Error(`${w.label}: dequantize needs an f32 output of shape [${rows}, ${cols}], got ${out.dtype} ${JSON.stringify(out.shape)}`);
  }
  const kernel = rt.kernel(NF4_DEQUANTIZE);
  for (const o of rowOverlaps(w.chunks, out.chunks)) {
    const c = w.chunks[o.a];
    const d = out.chunks[o.b];
    const srcOffset = (o.rowStart - c.rowStart) * cols;
    const count = o.rows * cols;
    const words = Math.ceil((srcOffset + count) / 8) - Math.floor(srcOffset / 8);
    rec.dispatch(kernel, {
      bindings: [c.packed, c.absmax, w.stats, d.buffer],
      uniforms: { src_offset: srcOffset, dst_offset: (o.rowStart - d.rowStart) * cols, count, group0: (c.rowStart * cols) / (NF4_BLOCK * NESTED_BLOCK) },
      workgroups: grid(Math.ceil(words / 64)),
      overrides: { DQ: w.doubleQuant ? 1 : 0 },
    });
  }
}
