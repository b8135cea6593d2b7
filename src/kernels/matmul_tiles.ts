// Tile shapes for the register-tiled matmuls. Every thread owns an 8×8 block of the output (four
// 4×4 register blocks), so a workgroup of WG_COLS × WG_ROWS threads covers (8·WG_ROWS) × (8·WG_COLS)
// outputs and stages TILE_K-deep slices of both operands in workgroup memory:
// 32·TILE_K·(WG_ROWS + WG_COLS) bytes. The values are `override` constants of the shaders, so
// each distinct choice is one pipeline.

import type { Overrides } from '../engine/kernel.ts';

export interface MatmulTiles extends Overrides {
  /** Threads along the output rows (each covers 8 rows). */
  WG_ROWS: number;
  /** Threads along the output columns (each covers 8 columns). */
  WG_COLS: number;
  /** Depth of the staged slices; a multiple of 4 (the vec4 kernels load 4 along the reduction). */
  TILE_K: number;
}

/** Outputs one thread computes along each side. */
export const THREAD_TILE = 8;

/**
 * 64×64 outputs per workgroup of 64 threads. On SwiftShader an 8×8 block a thread runs about 1.7×
 * faster than 4×4 (half the workgroup-memory reads per FMA); 64 threads keep small matrices in
 * many workgroups on a real GPU.
 */
export const DEFAULT_TILES: MatmulTiles = { WG_ROWS: 8, WG_COLS: 8, TILE_K: 16 };

const MAX_THREADS = 256; // the WebGPU default maxComputeInvocationsPerWorkgroup
const MAX_SIDE = 64;

/**
 * Tiles for an output of rows × cols. A thin side (LoRA rank 8–16, one token) gets only as many
 * threads as it needs and the other side takes the rest, so a 1024×16 output does not leave most
 * of each workgroup idle.
 */
export function pickTiles(rows: number, cols: number, base: MatmulTiles = DEFAULT_TILES): MatmulTiles {
  const need = (n: number) => pow2Ceil(Math.max(1, Math.ceil(n / THREAD_TILE)));
  let wgRows = Math.min(base.WG_ROWS, need(rows));
  let wgCols = Math.min(base.WG_COLS, need(cols));
  const threads = base.WG_ROWS * base.WG_COLS;
  if (wgCols < base.WG_COLS) wgRows = Math.min(MAX_SIDE, need(rows), Math.floor(threads / wgCols));
  else if (wgRows < base.WG_ROWS) wgCols = Math.min(MAX_SIDE, need(cols), Math.floor(threads / wgRows));
  if (wgRows * wgCols > MAX_THREADS) throw new Error(`matmul tiles ${wgRows}×${wgCols} exceed ${MAX_THREADS} threads`);
  return { WG_ROWS: wgRows, WG_COLS: wgCols, TILE_K: base.TILE_K };
}

/** Workgroups covering a rows × cols output: [along cols, along rows]. */
export function tileGrid(rows: number, cols: number, tiles: MatmulTiles): [number, number] {
  return [Math.ceil(cols / (THREAD_TILE * tiles.WG_COLS)), Math.ceil(rows / (THREAD_TILE * tiles.WG_ROWS))];
}

function pow2Ceil(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}
