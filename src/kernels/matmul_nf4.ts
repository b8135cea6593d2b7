import forwardSource from '../../shaders/matmul_nf4_forward.wgsl?raw';
import dxSource from '../../shaders/matmul_nf4_dx.wgsl?raw';
import lib from '../../shaders/lib/nf4.wgsl?raw';
import nf4Matmul from '../../shaders/lib/nf4_matmul.wgsl?raw';
import registerTile from '../../shaders/lib/register_tile.wgsl?raw';
import { withLibs, type KernelSpec } from '../engine/kernel.ts';
import type { Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { GpuTensor } from '../engine/tensor.ts';
import { pickTiles, type MatmulTiles } from './matmul_tiles.ts';
import { NESTED_BLOCK, NF4_BLOCK, type Nf4Tensor } from './nf4_tensor.ts';

// The two matmuls of a frozen NF4 Linear layer (formats.md §1.10; W is [N, K] in the layout of
// nf4_tensor.ts), dequantizing W tile by tile inside the kernels:
//   forward          Y[M, N] = α·X[M, K]·dequant(W)ᵀ + β·Y
//   backward_input  dX[M, K] = α·dY[M, N]·dequant(W) + β·dX
// There is no weight gradient: the base is frozen. A W split in row chunks takes one dispatch per
// chunk: forward chunks write their own columns of Y; backward chunks are slices of the reduction,
// the first applying β and the rest accumulating. Same α/β and tile conventions as matmul.ts.
// Every launcher returns the number of dispatches it recorded.

const read = 'read' as const;
/** Outputs a thread computes along each side (the shaders' four 4×4 register blocks). */
const THREAD_TILE = 8;
const GROUP = NF4_BLOCK * NESTED_BLOCK;

export const MATMUL_NF4_FORWARD: KernelSpec = {
  name: 'matmul_nf4_forward',
  source: withLibs(forwardSource, lib, nf4Matmul, registerTile),
  bindings: [
    { name: 'x', access: read },
    { name: 'packed', access: read },
    { name: 'absmax', access: read },
    { name: 'stats', access: read },
    { name: 'y', access: 'read_write' },
  ],
  uniforms: { m: 'u32', n: 'u32', k: 'u32', y_col: 'u32', rows: 'u32', group0: 'u32', alpha: 'f32', beta: 'f32' },
};

export const MATMUL_NF4_DX: KernelSpec = {
  name: 'matmul_nf4_dx',
  source: withLibs(dxSource, lib, nf4Matmul, registerTile),
  bindings: [
    { name: 'dy', access: read },
    { name: 'packed', access: read },
    { name: 'absmax', access: read },
    { name: 'stats', access: read },
    { name: 'dx', access: 'read_write' },
  ],
  uniforms: { m: 'u32', n: 'u32', k: 'u32', n_start: 'u32', rows: 'u32', group0: 'u32', alpha: 'f32', beta: 'f32' },
};

interface Scale {
  /** Multiplies the product; default 1. */
  alpha?: number;
  /** Multiplies the old output; default 0 (the output is not read). */
  beta?: number;
  /** Threads per workgroup and staging depth; default matmul.ts's pickTiles() of the output. */
  tiles?: MatmulTiles;
}

export interface MatmulNf4ForwardArgs extends Scale {
  x: GpuTensor; // (..., K)
  w: Nf4Tensor; // (N, K), possibly in row chunks
  y: GpuTensor; // (..., N)
}

export interface MatmulNf4BackwardInputArgs extends Scale {
  dy: GpuTensor; // (..., N)
  w: Nf4Tensor; // (N, K), possibly in row chunks
  dx: GpuTensor; // (..., K)
}

/** Y = α·X·dequant(W)ᵀ + β·Y, one dispatch per row chunk of W. */
export function matmulNf4Forward(rt: Runtime, rec: Recorder, args: MatmulNf4ForwardArgs): number {
  const [N, K] = args.w.shape;
  const M = rowsOf(args.x, K, 'x');
  expectRows(args.y, N, M, 'y');
  const { alpha = 1, beta = 0 } = args;
  // One tile shape (one pipeline) for every chunk, picked for the whole output.
  const tiles = checkTiles(rt, args.tiles ?? pickTiles(M, N), M, N, true);
  let dispatches = 0;
  for (const chunk of args.w.chunks) {
    if (M === 0) break;
    rec.dispatch(rt.kernel(MATMUL_NF4_FORWARD), {
      bindings: [args.x.buffer, chunk.packed, chunk.absmax, args.w.stats, args.y.buffer],
      uniforms: { m: M, n: N, k: K, y_col: chunk.rowStart, rows: chunk.rows, group0: (chunk.rowStart * K) / GROUP, alpha, beta },
      workgroups: tileGrid(M, chunk.rows, tiles),
      overrides: { ...tiles, DQ: args.w.doubleQuant ? 1 : 0, K_ALIGNED: K % 8 === 0 ? 1 : 0 },
    });
    dispatches++;
  }
  return dispatches;
}

/** dX = α·dY·dequant(W) + β·dX; with W in chunks, the first applies β and the others accumulate. */
export function matmulNf4BackwardInput(rt: Runtime, rec: Recorder, args: MatmulNf4BackwardInputArgs): number {
  const [N, K] = args.w.shape;
  const M = rowsOf(args.dy, N, 'dy');
  expectRows(args.dx, K, M, 'dx');
  const { alpha = 1 } = args;
  const tiles = checkTiles(rt, args.tiles ?? pickTiles(M, K), M, K, false);
  let beta = args.beta ?? 0;
  let dispatches = 0;
  for (const chunk of args.w.chunks) {
    if (M === 0) break;
    rec.dispatch(rt.kernel(MATMUL_NF4_DX), {
      bindings: [args.dy.buffer, chunk.packed, chunk.absmax, args.w.stats, args.dx.buffer],
      uniforms: { m: M, n: N, k: K, n_start: chunk.rowStart, rows: chunk.rows, group0: (chunk.rowStart * K) / GROUP, alpha, beta },
      workgroups: tileGrid(M, K, tiles),
      overrides: { ...tiles, DQ: args.w.doubleQuant ? 1 : 0, K_ALIGNED: K % 8 === 0 ? 1 : 0 },
    });
    beta = 1;
    dispatches++;
  }
  return dispatches;
}

/** Workgroups covering a rows × cols output: [along cols, along rows]. */
function tileGrid(rows: number, cols: number, tiles: MatmulTiles): [number, number] {
  return [Math.ceil(cols / (THREAD_TILE * tiles.WG_COLS)), Math.ceil(rows / (THREAD_TILE * tiles.WG_ROWS))];
}

/**
 * Checks the tiles and shrinks them to the adapter's workgroup memory (pickTiles can give a thin
 * output a 64-thread side whose 16-deep tiles need 33 KiB, over the usual 32 KiB): TILE_K first,
 * down to 8, then the longer side. The forward stages W in packed words of 8 values along k, so
 * its TILE_K must be a multiple of 8.
 */
function checkTiles(rt: Runtime, tiles: MatmulTiles, rows: number, cols: number, forward: boolean): MatmulTiles {
  if (tiles.TILE_K < 1 || (forward && tiles.TILE_K % 8 !== 0)) {
    throw new Error(`matmul_nf4: TILE_K = ${tiles.TILE_K} must be a positive multiple of 8`);
  }
  const t = { ...tiles };
  const bytes = () => 16 * t.TILE_K * 2 * (t.WG_ROWS + t.WG_COLS) + 64; // two vec4 tiles + the code
  while (bytes() > rt.device.limits.maxComputeWorkgroupStorageSize) {
    if (t.TILE_K > 8) t.TILE_K /= 2;
    else if (t.WG_COLS >= t.WG_ROWS && t.WG_COLS > 1) t.WG_COLS /= 2;
    else if (t.WG_ROWS > 1) t.WG_ROWS /= 2;
    else throw new Error(`matmul_nf4: no tile fits ${rt.device.limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`);
  }
  const limit = rt.device.limits.maxComputeWorkgroupsPerDimension;
  const [x, y] = tileGrid(rows, cols, t);
  if (x > limit || y > limit) throw new Error(`matmul_nf4: ${rows}×${cols} output needs ${x}×${y} workgroups, over the limit ${limit}`);
  return t;
}

/** Rows of an activation whose last dimension must be `cols` (every leading dim is a row). */
function rowsOf(t: GpuTensor, cols: number, what: string): number {
  if (t.dtype !== 'f32' || t.shape.length === 0 || t.shape[t.shape.length - 1] !== cols) {
    throw new Error(`matmul_nf4: ${what} (${t.label}) must be f32 [..., ${cols}], got ${t.dtype} [${t.shape}]`);
  }
  return t.numel / cols;
}

function expectRows(t: GpuTensor, cols: number, rows: number, what: string): void {
  const got = rowsOf(t, cols, what);
  if (got !== rows) throw new Error(`matmul_nf4: ${what} (${t.label}) has ${got} rows of ${cols}, expected ${rows}`);
}
