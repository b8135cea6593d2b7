import type { KernelSpec } from '../engine/kernel.ts';
import { withLibs } from '../engine/kernel.ts';
import { grid, type Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { GpuTensor } from '../engine/tensor.ts';
import lib from '../../shaders/lib/nf4.wgsl?raw';
import blocksSource from '../../shaders/nf4_quantize_blocks.wgsl?raw';
import meanSource from '../../shaders/nf4_quantize_mean.wgsl?raw';
import nestedSource from '../../shaders/nf4_quantize_nested.wgsl?raw';
import { createNf4Tensor, rowOverlaps } from './nf4_alloc.ts';
import { NESTED_BLOCK, NF4_BLOCK, nf4RowMultiple, type Nf4Tensor } from './nf4_tensor.ts';

// Quantizing an f32 weight already on the GPU to NF4 (formats.md §1.2–§1.5), codes bit-identical
// to src/formats/nf4.ts. Three passes: blocks (nibbles + absmax, and per-group absmax sums for
// DQ), mean (the DQ offset, one workgroup), nested (8-bit absmax indices + nested_absmax). Nothing
// is read back: loading a model quantizes tensor after tensor without waiting on the host.

const GROUP = NF4_BLOCK * NESTED_BLOCK;

export const NF4_QUANTIZE_BLOCKS: KernelSpec = {
  name: 'nf4_quantize_blocks',
  source: withLibs(blocksSource, lib),
  bindings: [
    { name: 'src', access: 'read' },
    { name: 'packed', access: 'read_write' },
    { name: 'absmax', access: 'read_write' },
    { name: 'partials', access: 'read_write' },
  ],
  uniforms: { src_offset: 'u32', dst_offset: 'u32', count: 'u32', group0: 'u32' },
};

export const NF4_QUANTIZE_MEAN: KernelSpec = {
  name: 'nf4_quantize_mean',
  source: withLibs(meanSource, lib),
  bindings: [
    { name: 'partials', access: 'read' },
    { name: 'stats', access: 'read_write' },
  ],
  uniforms: { groups: 'u32', blocks: 'u32' },
};

export const NF4_QUANTIZE_NESTED: KernelSpec = {
  name: 'nf4_quantize_nested',
  source: withLibs(nestedSource, lib),
  bindings: [
    { name: 'absmax', access: 'read' },
    { name: 'qabsmax', access: 'read_write' },
    { name: 'stats', access: 'read_write' },
  ],
  uniforms: { blocks: 'u32', group0: 'u32' },
};

/** Scratch for double quantization: float32 absmax per chunk and one sum per 256-block group. */
export interface Nf4QuantizeScratch {
  absmax: GPUBuffer[];
  partials: GPUBuffer;
}

export function createNf4QuantizeScratch(rt: Runtime, dst: Nf4Tensor): Nf4QuantizeScratch | null {
  if (!dst.doubleQuant) return null;
  const cols = dst.shape[1];
  const absmax = dst.chunks.map((c, i) => rt.arena.createBuffer(`${dst.label}.absmax_f32[${i}]`, Math.ceil((c.rows * cols) / NF4_BLOCK) * 4, 'scratch'));
  const groups = Math.ceil((dst.shape[0] * cols) / GROUP);
  return { absmax, partials: rt.arena.createBuffer(`${dst.label}.absmax_sums`, groups * 4, 'scratch') };
}

export function releaseNf4QuantizeScratch(rt: Runtime, scratch: Nf4QuantizeScratch | null): void {
  if (!scratch) return;
  for (const b of scratch.absmax) rt.arena.release(b);
  rt.arena.release(scratch.partials);
}

/**
 * Records the quantization of `src` (f32 [rows, cols], chunks starting at multiples of
 * nf4RowMultiple(cols) rows: create it with that `rowMultiple`) into `dst`.
 */
export function recordNf4Quantize(rt: Runtime, rec: Recorder, src: GpuTensor, dst: Nf4Tensor, scratch: Nf4QuantizeScratch | null): void {
  const [rows, cols] = dst.shape;
  if (src.dtype !== 'f32' || src.shape.length !== 2 || src.shape[0] !== rows || src.shape[1] !== cols) {
    throw new Error(`${dst.label}: quantize needs an f32 source of shape [${rows}, ${cols}], got ${src.dtype} ${JSON.stringify(src.shape)}`);
  }
  const multiple = nf4RowMultiple(cols);
  if (src.chunks.some((c) => c.rowStart % multiple !== 0)) {
    throw new Error(`${src.label}: chunks must start at multiples of ${multiple} rows; create it with { rowMultiple: nf4RowMultiple(${cols}) }`);
  }
  if (dst.doubleQuant !== (scratch !== null)) throw new Error(`${dst.label}: double quantization needs scratch, plain NF4 none`);
  const blocks = rt.kernel(NF4_QUANTIZE_BLOCKS);
  const overrides = { DQ: dst.doubleQuant ? 1 : 0 };
  for (const o of rowOverlaps(src.chunks, dst.chunks)) {
    const s = src.chunks[o.a];
    const d = dst.chunks[o.b];
    const count = o.rows * cols;
    rec.dispatch(blocks, {
      bindings: [s.buffer, d.packed, scratch ? scratch.absmax[o.b] : d.absmax, scratch ? scratch.partials : dst.stats],
      uniforms: {
        src_offset: (o.rowStart - s.rowStart) * cols,
        dst_offset: (o.rowStart - d.rowStart) * cols,
        count,
        group0: (o.rowStart * cols) / GROUP,
      },
      workgroups: grid(Math.ceil(count / GROUP)),
      overrides,
    });
  }
  if (!scratch) return;
  const totalBlocks = Math.ceil((rows * cols) / NF4_BLOCK);
  rec.dispatch(rt.kernel(NF4_QUANTIZE_MEAN), {
    bindings: [scratch.partials, dst.stats],
    uniforms: { groups: Math.ceil(totalBlocks / NESTED_BLOCK), blocks: totalBlocks },
    workgroups: [1],
  });
  const nested = rt.kernel(NF4_QUANTIZE_NESTED);
  dst.chunks.forEach((d, i) => {
    const chunkBlocks = Math.ceil((d.rows * cols) / NF4_BLOCK);
    rec.dispatch(nested, {
      bindings: [scratch.absmax[i], d.absmax, dst.stats],
      uniforms: { blocks: chunkBlocks, group0: (d.rowStart * cols) / GROUP },
      workgroups: grid(Math.ceil(chunkBlocks / NESTED_BLOCK)),
    });
  });
}

/**
 * Allocates an NF4 weight, quantizes `src` into it, and waits for the GPU (scratch is released
 * after). With double quantization `nestedCode` is the 256-entry map (formats `dynamicMap()`).
 */
export async function quantizeNf4OnGpu(rt: Runtime, label: string, src: GpuTensor, nestedCode: Float32Array | null): Promise<Nf4Tensor> {
  if (src.shape.length !== 2) throw new Error(`${src.label}: NF4 weights are 2-D, got shape ${JSON.stringify(src.shape)}`);
  const dst = createNf4Tensor(rt, label, [src.shape[0], src.shape[1]], nestedCode);
  const scratch = createNf4QuantizeScratch(rt, dst);
  try {
    await rt.run(`quantize ${label}`, (rec) => recordNf4Quantize(rt, rec, src, dst, scratch));
  } finally {
    releaseNf4QuantizeScratch(rt, scratch);
  }
  return dst;
}
