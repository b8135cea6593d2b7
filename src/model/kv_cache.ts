import { BufferTooLargeError } from '../engine/errors.ts';
import type { Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { attentionDecode } from '../kernels/attention_decode.ts';

// The KV cache of one generated sequence: per layer, K (after RoPE) and V of every position so
// far, (capacity, Hkv·D) f32 each, in 'activations'. A pass over M new tokens at positions
// start … start + M − 1 copies their K and V rows in at `start` and then attends over the cache
// (attention_decode), so prefill and each decode step are the same recorded layer code
// (layer_forward.ts, with ModelPass.cache set). Batch 1: one sequence at a time.

/** What a cached pass adds to ModelPass: the cache, and the position of the pass's first token. */
export interface CachedPass {
  kv: KvCache;
  start: number;
}

export class KvCache {
  readonly k: GPUBuffer[];
  readonly v: GPUBuffer[];
  /** Positions written so far (kept by the caller: the GPU is never asked). */
  length = 0;
  private readonly rowBytes: number;

  constructor(
    private readonly rt: Runtime,
    readonly config: ModelConfig,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`KV cache capacity must be a positive integer, got ${capacity}`);
    this.rowBytes = config.numKvHeads * config.headDim * 4;
    const bytes = capacity * this.rowBytes;
    if (bytes > rt.arena.maxBindingBytes) throw new BufferTooLargeError(`KV cache of ${capacity} positions (one layer's K)`, bytes, rt.arena.maxBindingBytes);
    this.k = [];
    this.v = [];
    try {
      for (let l = 0; l < config.numLayers; l++) {
        this.k.push(rt.arena.createBuffer(`kv_cache.k[${l}]`, bytes, 'activations'));
        this.v.push(rt.arena.createBuffer(`kv_cache.v[${l}]`, bytes, 'activations'));
      }
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** Bytes the cache holds on the GPU: 2 · layers · capacity · Hkv · D · 4. */
  get bytes(): number {
    return 2 * this.config.numLayers * this.capacity * this.rowBytes;
  }

  /**
   * For layer `layer`: K, V rows of the M new tokens (k, v: (M, Hkv·D)) into the cache at `start`,
   * then att (M, H·D) = attention of q (M, H·D) over cached positions 0 … start + i per row.
   */
  attend(rec: Recorder, layer: number, io: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; att: GPUBuffer }, rows: number, start: number): void {
    if (start + rows > this.capacity) throw new RangeError(`KV cache: positions up to ${start + rows} do not fit its ${this.capacity}`);
    const bytes = rows * this.rowBytes;
    rec.copy(io.k, 0, this.k[layer], start * this.rowBytes, bytes);
    rec.copy(io.v, 0, this.v[layer], start * this.rowBytes, bytes);
    const { numHeads, numKvHeads, headDim } = this.config;
    attentionDecode(this.rt, rec, { q: io.q, kCache: this.k[layer], vCache: this.v[layer], o: io.att }, { rows, start, capacity: this.capacity, nHeads: numHeads, nKvHeads: numKvHeads, headDim });
  }

  release(): void {
    for (const b of [...this.k.splice(0), ...this.v.splice(0)]) this.rt.arena.release(b);
  }
}
