import source from '../../shaders/matmul_strided.wgsl?raw';
import registerTile from '../../shaders/lib/register_tile.wgsl?raw';
import { withLibs, type KernelSpec } from '../engine/kernel.ts';
import type { Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import { denseGrid, type MatmulTiles } from './matmul_tiles.ts';

// The bounds-checked fallback of the Linear matmuls (shaders/matmul_strided.wgsl): any shape, any
// chunk start, scalar loads. matmul.ts routes a dispatch here when the vec4 kernels cannot take it.

export const MATMUL_STRIDED: KernelSpec = {
  name: 'matmul_strided',
  source: withLibs(source, registerTile),
  bindings: [
    { name: 'a', access: 'read' },
    { name: 'b', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'c', access: 'read_write' },
  ],
  uniforms: {
    rows: 'u32',
    cols: 'u32',
    depth: 'u32',
    a_offset: 'u32',
    a_row_stride: 'u32',
    a_depth_stride: 'u32',
    b_offset: 'u32',
    b_depth_stride: 'u32',
    b_col_stride: 'u32',
    c_offset: 'u32',
    c_row_stride: 'u32',
    bias_col: 'u32',
    has_bias: 'u32',
    alpha: 'f32',
    beta: 'f32',
  },
};

/** An operand in element units: A[r, d] = buffer[offset + r·rowStride + d·depthStride] (B: d, c). */
export interface StridedOperand {
  buffer: GPUBuffer;
  offset: number;
  outerStride: number;
  innerStride: number;
}

export interface StridedMatmul {
  rows: number;
  cols: number;
  depth: number;
  /** strides: outer = per row r, inner = per depth d */
  a: StridedOperand;
  /** strides: outer = per depth d, inner = per column c */
  b: StridedOperand;
  /** C[r, c] = buffer[offset + r·outerStride + c] (innerStride must be 1) */
  c: StridedOperand;
  bias?: { buffer: GPUBuffer; col: number };
  alpha: number;
  beta: number;
  tiles: MatmulTiles;
}

/** Records C = α·A·B + bias + β·C with the strided kernel. */
export function dispatchStrided(rt: Runtime, rec: Recorder, p: StridedMatmul): void {
  if (p.c.innerStride !== 1) throw new Error('matmul_strided: C must have unit column stride');
  rec.dispatch(rt.kernel(MATMUL_STRIDED), {
    // Without a bias, A's buffer fills the slot: it is never read (has_bias = 0).
    bindings: [p.a.buffer, p.b.buffer, p.bias?.buffer ?? p.a.buffer, p.c.buffer],
    uniforms: {
      rows: p.rows,
      cols: p.cols,
      depth: p.depth,
      a_offset: p.a.offset,
      a_row_stride: p.a.outerStride,
      a_depth_stride: p.a.innerStride,
      b_offset: p.b.offset,
      b_depth_stride: p.b.outerStride,
      b_col_stride: p.b.innerStride,
      c_offset: p.c.offset,
      c_row_stride: p.c.outerStride,
      bias_col: p.bias?.col ?? 0,
      has_bias: p.bias ? 1 : 0,
      alpha: p.alpha,
      beta: p.beta,
    },
    workgroups: denseGrid(p.rows, p.cols, p.tiles),
    overrides: p.tiles,
  });
}
