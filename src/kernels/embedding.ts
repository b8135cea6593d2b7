import source from '../../shaders/embedding_forward.wgsl?raw';
import type { KernelSpec } from '../engine/kernel.ts';
import type { BindingResource, Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { GpuTensor } from '../engine/tensor.ts';
import { requireCounts, requireElements, threadGrid } from './launch_checks.ts';

// Token embedding gather (shaders/embedding_forward.wgsl). The table E (V, C) is f32 and may be
// split by rows into several buffers (a 128k-vocab table exceeds one binding on many adapters):
// one dispatch per chunk, each writing the tokens whose id lies in its rows. Ids outside [0, V)
// give zero rows; the data layer is what rejects them.

const WG = 256;

export const EMBEDDING_FORWARD: KernelSpec = {
  name: 'embedding_forward',
  source,
  bindings: [
    { name: 'ids', access: 'read' },
    { name: 'table', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  uniforms: { tokens: 'u32', cols: 'u32', vocab: 'u32', row_start: 'u32', chunk_rows: 'u32' },
};

/** out (tokens, C) = E[ids]; ids: i32 (tokens); E: f32 tensor (V, C), possibly chunked. */
export function embeddingForward(rt: Runtime, rec: Recorder, io: { ids: BindingResource; table: GpuTensor; out: BindingResource }, shape: { tokens: number }): void {
  const { table } = io;
  if (table.dtype !== 'f32' || table.shape.length !== 2) {
    throw new Error(`embedding_forward: ${table.label} must be an f32 (vocab, hidden) tensor, got ${table.dtype} [${table.shape.join(', ')}]`);
  }
  const [vocab, cols] = table.shape;
  const { tokens } = shape;
  const n = requireCounts('embedding_forward', { tokens, cols });
  requireElements('embedding_forward', 'ids', io.ids, tokens);
  requireElements('embedding_forward', 'out', io.out, n);
  const kernel = rt.kernel(EMBEDDING_FORWARD);
  for (const chunk of table.chunks) {
    rec.dispatch(kernel, {
      bindings: [io.ids, chunk.buffer, io.out],
      uniforms: { tokens, cols, vocab, row_start: chunk.rowStart, chunk_rows: chunk.rows },
      workgroups: threadGrid(n, WG),
      overrides: { WG },
    });
  }
}
