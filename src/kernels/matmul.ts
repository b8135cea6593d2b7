import forwardSource from '../../shaders/matmul_forward.wgsl?raw';
import backwardInputSource from '../../shaders/matmul_backward_input.wgsl?raw';
import backwardWeightSource from '../../shaders/matmul_backward_weight.wgsl?raw';
import registerTile from '../../shaders/lib/register_tile.wgsl?raw';
import { withLibs, type KernelSpec } from '../engine/kernel.ts';
import type { Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { GpuTensor, TensorChunk } from '../engine/tensor.ts';
import { dispatchStrided } from './matmul_strided.ts';
import { denseGrid, pickDenseTiles, tileBytes, type MatmulTiles } from './matmul_tiles.ts';

// The three dense f32 matmuls of a Linear layer in PyTorch layout (W is [out N, in K]):
//   forward          Y[M, N] = α·X[M, K]·Wᵀ + bias + β·Y
//   backward_input  dX[M, K] = α·dY[M, N]·W     + β·dX
//   backward_weight dW[N, K] = α·dY[M, N]ᵀ·X    + β·dW   (β = 1 accumulates, α carries a LoRA scale)
// M is every leading dimension of X / dY flattened (batch × tokens). A W (or dW) split in row
// chunks is handled with one dispatch per chunk: the chunk's rows are columns y_col.. of Y / dY.
// Each dispatch takes the vec4 kernel when K, N and the chunk bounds are multiples of 4, else the
// bounds-checked strided kernel. Every launcher returns the number of dispatches it recorded.

const read = 'read' as const;
const readWrite = 'read_write' as const;

export const MATMUL_FORWARD: KernelSpec = {
  name: 'matmul_forward',
  source: withLibs(forwardSource, registerTile),
  bindings: [
    { name: 'x', access: read },
    { name: 'w', access: read },
    { name: 'bias', access: read },
    { name: 'y', access: readWrite },
  ],
  uniforms: { m: 'u32', n: 'u32', k: 'u32', ldy: 'u32', y_col: 'u32', has_bias: 'u32', alpha: 'f32', beta: 'f32' },
};

const CHUNKED_UNIFORMS = { m: 'u32', n: 'u32', k: 'u32', ldy: 'u32', y_col: 'u32', alpha: 'f32', beta: 'f32' } as const;

export const MATMUL_BACKWARD_INPUT: KernelSpec = {
  name: 'matmul_backward_input',
  source: withLibs(backwardInputSource, registerTile),
  bindings: [
    { name: 'dy', access: read },
    { name: 'w', access: read },
    { name: 'dx', access: readWrite },
  ],
  uniforms: CHUNKED_UNIFORMS,
};

export const MATMUL_BACKWARD_WEIGHT: KernelSpec = {
  name: 'matmul_backward_weight',
  source: withLibs(backwardWeightSource, registerTile),
  bindings: [
    { name: 'dy', access: read },
    { name: 'x', access: read },
    { name: 'dw', access: readWrite },
  ],
  uniforms: CHUNKED_UNIFORMS,
};

interface Scale {
  /** Multiplies the product; default 1. */
  alpha?: number;
  /** Multiplies the old output; default 0 (the output is not read). */
  beta?: number;
  /** Tile shape; default pickDenseTiles() of the output (benchmarks compare others). */
  tiles?: MatmulTiles;
}

export interface MatmulForwardArgs extends Scale {
  x: GpuTensor; // (..., K)
  w: GpuTensor; // (N, K), possibly in row chunks
  y: GpuTensor; // (..., N)
  bias?: GpuTensor; // (N), added once (not scaled by α)
}

export interface MatmulBackwardInputArgs extends Scale {
  dy: GpuTensor; // (..., N)
  w: GpuTensor; // (N, K), possibly in row chunks
  dx: GpuTensor; // (..., K)
}

export interface MatmulBackwardWeightArgs extends Scale {
  dy: GpuTensor; // (..., N)
  x: GpuTensor; // (..., K)
  dw: GpuTensor; // (N, K), possibly in row chunks
}

/** Y = α·X·Wᵀ + bias + β·Y, one dispatch per row chunk of W. */
export function matmulForward(rt: Runtime, rec: Recorder, args: MatmulForwardArgs): number {
  const [N, K] = weightShape(args.w);
  const M = rowsOf(args.x, K, 'x');
  expectRows(args.y, N, M, 'y');
  if (args.bias && (args.bias.numel !== N || args.bias.dtype !== 'f32')) {
    throw new Error(`matmul forward: bias ${args.bias.label} must be f32 [${N}], got ${args.bias.dtype} [${args.bias.shape}]`);
  }
  const { alpha = 1, beta = 0 } = args;
  const bias = args.bias?.buffer;
  let dispatches = 0;
  for (const chunk of args.w.chunks) {
    if (M === 0 || chunk.rows === 0) continue;
    const tiles = args.tiles ?? pickDenseTiles(M, chunk.rows, storage(rt));
    checkGrid(rt, M, chunk.rows, tiles);
    if (vec4Ready(N, K, chunk)) {
      rec.dispatch(rt.kernel(MATMUL_FORWARD), {
        bindings: [args.x.buffer, chunk.buffer, bias ?? args.x.buffer, args.y.buffer],
        uniforms: { m: M, n: chunk.rows, k: K, ldy: N, y_col: chunk.rowStart, has_bias: bias ? 1 : 0, alpha, beta },
        workgroups: denseGrid(M, chunk.rows, tiles),
        overrides: tiles,
      });
    } else {
      dispatchStrided(rt, rec, {
        rows: M,
        cols: chunk.rows,
        depth: K,
        a: { buffer: args.x.buffer, offset: 0, outerStride: K, innerStride: 1 },
        b: { buffer: chunk.buffer, offset: 0, outerStride: 1, innerStride: K },
        c: { buffer: args.y.buffer, offset: chunk.rowStart, outerStride: N, innerStride: 1 },
        bias: bias && { buffer: bias, col: chunk.rowStart },
        alpha,
        beta,
        tiles,
      });
    }
    dispatches++;
  }
  return dispatches;
}

/** dX = α·dY·W + β·dX; with W in chunks, the first applies β and the others accumulate. */
export function matmulBackwardInput(rt: Runtime, rec: Recorder, args: MatmulBackwardInputArgs): number {
  const [N, K] = weightShape(args.w);
  const M = rowsOf(args.dy, N, 'dy');
  expectRows(args.dx, K, M, 'dx');
  const { alpha = 1 } = args;
  const tiles = args.tiles ?? pickDenseTiles(M, K, storage(rt));
  checkGrid(rt, M, K, tiles);
  let beta = args.beta ?? 0;
  let dispatches = 0;
  for (const chunk of args.w.chunks) {
    if (M === 0 || chunk.rows === 0) continue;
    if (vec4Ready(N, K, chunk)) {
      rec.dispatch(rt.kernel(MATMUL_BACKWARD_INPUT), {
        bindings: [args.dy.buffer, chunk.buffer, args.dx.buffer],
        uniforms: { m: M, n: chunk.rows, k: K, ldy: N, y_col: chunk.rowStart, alpha, beta },
        workgroups: denseGrid(M, K, tiles),
        overrides: tiles,
      });
    } else {
      dispatchStrided(rt, rec, {
        rows: M,
        cols: K,
        depth: chunk.rows,
        a: { buffer: args.dy.buffer, offset: chunk.rowStart, outerStride: N, innerStride: 1 },
        b: { buffer: chunk.buffer, offset: 0, outerStride: K, innerStride: 1 },
        c: { buffer: args.dx.buffer, offset: 0, outerStride: K, innerStride: 1 },
        alpha,
        beta,
        tiles,
      });
    }
    beta = 1;
    dispatches++;
  }
  return dispatches;
}

/** dW = α·dYᵀ·X + β·dW, one dispatch per row chunk of dW. */
export function matmulBackwardWeight(rt: Runtime, rec: Recorder, args: MatmulBackwardWeightArgs): number {
  const [N, K] = weightShape(args.dw);
  const M = rowsOf(args.dy, N, 'dy');
  expectRows(args.x, K, M, 'x');
  const { alpha = 1, beta = 0 } = args;
  let dispatches = 0;
  for (const chunk of args.dw.chunks) {
    if (chunk.rows === 0) continue;
    // M = 0 tokens still scales the old gradient by β (the reduction is empty).
    const tiles = args.tiles ?? pickDenseTiles(chunk.rows, K, storage(rt));
    checkGrid(rt, chunk.rows, K, tiles);
    if (vec4Ready(N, K, chunk)) {
      rec.dispatch(rt.kernel(MATMUL_BACKWARD_WEIGHT), {
        bindings: [args.dy.buffer, args.x.buffer, chunk.buffer],
        uniforms: { m: M, n: chunk.rows, k: K, ldy: N, y_col: chunk.rowStart, alpha, beta },
        workgroups: denseGrid(chunk.rows, K, tiles),
        overrides: tiles,
      });
    } else {
      dispatchStrided(rt, rec, {
        rows: chunk.rows,
        cols: K,
        depth: M,
        a: { buffer: args.dy.buffer, offset: chunk.rowStart, outerStride: 1, innerStride: N },
        b: { buffer: args.x.buffer, offset: 0, outerStride: K, innerStride: 1 },
        c: { buffer: chunk.buffer, offset: 0, outerStride: K, innerStride: 1 },
        alpha,
        beta,
        tiles,
      });
    }
    dispatches++;
  }
  return dispatches;
}

/** vec4 loads and stores need K, N and the chunk's bounds (columns of Y / dY) on multiples of 4. */
function vec4Ready(N: number, K: number, chunk: TensorChunk): boolean {
  return K % 4 === 0 && N % 4 === 0 && chunk.rowStart % 4 === 0 && chunk.rows % 4 === 0;
}

function weightShape(w: GpuTensor): [number, number] {
  if (w.shape.length !== 2 || w.dtype !== 'f32') {
    throw new Error(`matmul: ${w.label} must be an f32 matrix [N, K], got ${w.dtype} [${w.shape}]`);
  }
  const [N, K] = w.shape;
  if (N === 0 || K === 0) throw new Error(`matmul: ${w.label} has an empty dimension [${w.shape}]`);
  return [N, K];
}

/** Rows of an activation whose last dimension must be `cols` (every leading dim is a row). */
function rowsOf(t: GpuTensor, cols: number, what: string): number {
  if (t.dtype !== 'f32' || t.shape.length === 0 || t.shape[t.shape.length - 1] !== cols) {
    throw new Error(`matmul: ${what} (${t.label}) must be f32 [..., ${cols}], got ${t.dtype} [${t.shape}]`);
  }
  return t.numel / cols;
}

function expectRows(t: GpuTensor, cols: number, rows: number, what: string): void {
  const got = rowsOf(t, cols, what);
  if (got !== rows) throw new Error(`matmul: ${what} (${t.label}) has ${got} rows of ${cols}, expected ${rows}`);
}

/** Workgroup memory the adapter grants (the runtime requests the adapter's maximum). */
function storage(rt: Runtime): number {
  return rt.device.limits.maxComputeWorkgroupStorageSize;
}

/** Tiles (picked or given) must fit the adapter; the grid must fit maxComputeWorkgroupsPerDimension. */
function checkGrid(rt: Runtime, rows: number, cols: number, tiles: MatmulTiles): void {
  const { maxComputeWorkgroupStorageSize: bytes, maxComputeInvocationsPerWorkgroup: threads } = rt.device.limits;
  if (tileBytes(tiles, 8) > bytes || tiles.WG_ROWS * tiles.WG_COLS > threads || tiles.TILE_K % 4 !== 0) {
    throw new Error(`matmul: tiles ${JSON.stringify(tiles)} need TILE_K % 4 = 0, ≤ ${threads} threads and ≤ ${bytes} B of workgroup memory`);
  }
  const limit = rt.device.limits.maxComputeWorkgroupsPerDimension;
  const [x, y] = denseGrid(rows, cols, tiles);
  if (x > limit || y > limit) throw new Error(`matmul: ${rows}×${cols} output needs ${x}×${y} workgroups, over the limit ${limit}`);
}
