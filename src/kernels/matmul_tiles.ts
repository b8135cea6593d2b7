// Tile shapes for the register-tiled matmuls. Every thread owns a threadTile × threadTile block of
// the output, so a workgroup of WG_COLS × WG_ROWS threads covers (threadTile·WG_ROWS) ×
// (threadTile·WG_COLS) outputs and stages TILE_K-deep slices of both operands in workgroup memory.
// The values are `override` constants of the shaders, so each distinct choice is one pipeline.
//
// Two kernel families use these helpers: the dense f32 matmuls (matmul.ts) own 8×8 outputs a
// thread; the fused NF4 matmuls (matmul_nf4.ts) own 4×4, which is what the defaults describe.

import type { Overrides } from '../engine/kernel.ts';

export interface MatmulTiles extends Overrides {
  /** Threads along the output rows (each covers threadTile rows). */
  WG_ROWS: number;
  /** Threads along the output columns (each covers threadTile columns). */
  WG_COLS: number;
  /** Depth of the staged slices; a multiple of 4 (the vec4 kernels load 4 along the reduction). */
  TILE_K: number;
}

/** Outputs a thread owns along each side: 4 (one vec4 × vec4 register block) or 8 (four of them). */
export type ThreadTile = 4 | 8;

/** For 4×4 blocks a thread: 64×64 outputs per workgroup of 256 threads. */
export const DEFAULT_TILES: MatmulTiles = { WG_ROWS: 16, WG_COLS: 16, TILE_K: 16 };

/**
 * For the dense kernels' 8×8 blocks a thread: 64×64 outputs per workgroup of 64 threads. On
 * SwiftShader 8×8 a thread runs about 1.7× faster than 4×4 (half the workgroup-memory reads per
 * FMA); 64 threads keep small matrices spread over many workgroups on a real GPU.
 */
export const DENSE_TILES: MatmulTiles = { WG_ROWS: 8, WG_COLS: 8, TILE_K: 16 };

const MAX_THREADS = 256; // the WebGPU default maxComputeInvocationsPerWorkgroup
const MAX_SIDE = 64;
/** The WebGPU default maxComputeWorkgroupStorageSize: a budget every adapter grants. */
export const DEFAULT_STORAGE_BYTES = 16384;

/** Workgroup memory the two staged f32 tiles take: TILE_K × (threadTile·WG) floats a side. */
export function tileBytes(tiles: MatmulTiles, threadTile: ThreadTile = 4): number {
  return 4 * threadTile * tiles.TILE_K * (tiles.WG_ROWS + tiles.WG_COLS);
}

/**
 * Tiles for an output of rows × cols. A thin side (LoRA rank 8–16, one token) gets only as many
 * threads as it needs and the other side takes the rest of base's thread count, so a 1024×16
 * output does not leave most of each workgroup idle; the longer side is then halved until the
 * staged tiles fit `maxStorageBytes` of workgroup memory.
 */
export function pickTiles(
  rows: number,
  cols: number,
  base: MatmulTiles = DEFAULT_TILES,
  threadTile: ThreadTile = 4,
  maxStorageBytes = DEFAULT_STORAGE_BYTES,
): MatmulTiles {
  const need = (n: number) => pow2Ceil(Math.max(1, Math.ceil(n / threadTile)));
  let wgRows = Math.min(base.WG_ROWS, need(rows));
  let wgCols = Math.min(base.WG_COLS, need(cols));
  const threads = base.WG_ROWS * base.WG_COLS;
  if (wgCols < base.WG_COLS) wgRows = Math.min(MAX_SIDE, need(rows), Math.floor(threads / wgCols));
  else if (wgRows < base.WG_ROWS) wgCols = Math.min(MAX_SIDE, need(cols), Math.floor(threads / wgRows));
  if (wgRows * wgCols > MAX_THREADS) throw new Error(`matmul tiles ${wgRows}×${wgCols} exceed ${MAX_THREADS} threads`);
  const tiles = { WG_ROWS: wgRows, WG_COLS: wgCols, TILE_K: base.TILE_K };
  while (tileBytes(tiles, threadTile) > maxStorageBytes) {
    if (tiles.WG_ROWS === 1 && tiles.WG_COLS === 1) {
      throw new Error(`matmul: TILE_K = ${tiles.TILE_K} does not fit ${maxStorageBytes} bytes of workgroup memory`);
    }
    if (tiles.WG_ROWS >= tiles.WG_COLS) tiles.WG_ROWS /= 2;
    else tiles.WG_COLS /= 2;
  }
  return tiles;
}

/** Workgroups covering a rows × cols output: [along cols, along rows]. */
export function tileGrid(rows: number, cols: number, tiles: MatmulTiles, threadTile: ThreadTile = 4): [number, number] {
  return [Math.ceil(cols / (threadTile * tiles.WG_COLS)), Math.ceil(rows / (threadTile * tiles.WG_ROWS))];
}

/** The dense kernels' tiles (8×8 outputs a thread) for a rows × cols output. */
export function pickDenseTiles(rows: number, cols: number, maxStorageBytes = DEFAULT_STORAGE_BYTES): MatmulTiles {
  return pickTiles(rows, cols, DENSE_TILES, 8, maxStorageBytes);
}

/** Workgroups for the dense kernels (8×8 outputs a thread). */
export function denseGrid(rows: number, cols: number, tiles: MatmulTiles): [number, number] {
  return tileGrid(rows, cols, tiles, 8);
}

function pow2Ceil(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}
