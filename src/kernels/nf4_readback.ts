import { readBuffer } from '../engine/readback.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { HostNf4Weight } from './nf4_alloc.ts';
import { NESTED_BLOCK, NF4_BLOCK, STATS_NESTED_OFFSET, type Nf4Tensor } from './nf4_tensor.ts';

// Reading an NF4 weight back to the host in bitsandbytes form (formats.md §1.8 fields): for
// writing a checkpoint quantized on the GPU, and for tests. Never in the training loop.

export async function readNf4(rt: Runtime, t: Nf4Tensor): Promise<HostNf4Weight> {
  const [rows, cols] = t.shape;
  const n = rows * cols;
  const blocks = Math.ceil(n / NF4_BLOCK);
  const packed = new Uint8Array(Math.ceil(n / 2));
  const absmaxBytes = new Uint8Array(t.doubleQuant ? blocks : blocks * 4);
  for (const c of t.chunks) {
    const e0 = c.rowStart * cols;
    const e1 = e0 + c.rows * cols;
    packed.set(new Uint8Array(await readBuffer(rt.device, c.packed, 0, Math.ceil(e1 / 2) - e0 / 2)), e0 / 2);
    const b0 = e0 / NF4_BLOCK;
    const bytes = (Math.ceil(e1 / NF4_BLOCK) - b0) * (t.doubleQuant ? 1 : 4);
    absmaxBytes.set(new Uint8Array(await readBuffer(rt.device, c.absmax, 0, bytes)), b0 * (t.doubleQuant ? 1 : 4));
  }
  const shape = [rows, cols];
  if (!t.doubleQuant) return { shape, packed, absmax: new Float32Array(absmaxBytes.buffer), nested: null };
  const groups = Math.ceil(blocks / NESTED_BLOCK);
  const stats = new Float32Array(await readBuffer(rt.device, t.stats, 0, (STATS_NESTED_OFFSET + groups) * 4));
  return {
    shape,
    packed,
    absmax: null,
    nested: { qabsmax: absmaxBytes, absmax: stats.slice(STATS_NESTED_OFFSET), offset: stats[256], code: stats.slice(0, 256) },
  };
}
