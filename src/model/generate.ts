import type { Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { embeddingForward } from '../kernels/embedding.ts';
import { matmulForward } from '../kernels/matmul.ts';
import { rmsNormForward } from '../kernels/rms_norm.ts';
import { ActivationPlan } from './activations.ts';
import type { BaseWeights } from './base_weights.ts';
import { generateTokens, type GenerateOptions, type GenerateResult } from './generate_loop.ts';
import { KvCache } from './kv_cache.ts';
import { layerForward, type ModelPass } from './layer_forward.ts';
import type { LoadedBase } from './load_base.ts';
import type { LoraParams } from './lora_params.ts';
import { ropeInvFreq } from './rope_freqs.ts';

// Generation on the GPU with a KV cache (issue #6). The model's own layer code records every
// pass (layer_forward.ts with ModelPass.cache): M new tokens at positions start … start + M − 1,
// their K, V appended to the cache, attention over the cache. Then, for the LAST row only:
//   xnF = RMSNorm_f(h_L[M − 1])  (1, C);  logits = xnF·lm_headᵀ  (1, V), read back for sampling.
// The prompt is prefilled in chunks of at most `prefillChunk` tokens (the activation plan's
// rows), then each sampled token is one M = 1 pass. LoRA stays unmerged beside the frozen base;
// `adapter: false` skips every pair, which IS the base model from the same loaded weights.
// The activation plan is the training one with checkpointing (one shared layer set).

export interface GeneratorOptions {
  /** LoRA pairs applied unmerged: a Model's `lora` (shared, not copied), or null for the base alone. */
  lora: LoraParams | null;
  /** Positions the KV cache holds: prompt + new tokens − 1 must fit. */
  maxSeq: number;
  /** Prompt tokens per prefill pass (rows of the activation plan); default min(maxSeq, 128). */
  prefillChunk?: number;
}

export class Generator {
  readonly config: ModelConfig;
  readonly cache: KvCache;
  readonly prefillChunk: number;
  private readonly weights: BaseWeights;
  private readonly plan: ActivationPlan;
  private readonly invFreq: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly idsHost: Int32Array;
  private readonly positionsHost: Int32Array;
  /** An append is in flight / a generate() is running: a second caller would corrupt the cache. */
  private busy = false;
  private running = false;

  constructor(
    readonly rt: Runtime,
    base: LoadedBase,
    readonly options: GeneratorOptions,
  ) {
    this.config = base.config;
    this.weights = base.weights;
    const { maxSeq } = options;
    this.prefillChunk = options.prefillChunk ?? Math.min(maxSeq, 128);
    if (!Number.isInteger(this.prefillChunk) || this.prefillChunk < 1) throw new RangeError(`prefillChunk must be a positive integer, got ${this.prefillChunk}`);
    const window = this.config.slidingWindow;
    if (window !== null && maxSeq > window) throw new RangeError(`this model uses sliding-window attention over ${window} tokens, which webtune does not implement; generate at most ${window} positions`);
    const lora = options.lora;
    this.cache = new KvCache(rt, this.config, maxSeq);
    try {
      this.plan = new ActivationPlan(rt, this.config, {
        maxTokens: this.prefillChunk,
        lora: lora && { r: lora.options.r, modules: lora.options.modules, dropout: 0 },
        checkpointing: true,
        lossChunkRows: 1,
      });
    } catch (e) {
      this.cache.release();
      throw e;
    }
    const inv = ropeInvFreq(this.config.headDim, this.config.rope.theta, this.config.rope.scaling);
    this.invFreq = rt.arena.createBuffer('rope_inv_freq (generate)', inv.byteLength, 'base');
    rt.device.queue.writeBuffer(this.invFreq, 0, inv.buffer, inv.byteOffset, inv.byteLength);
    const V = this.config.vocabSize;
    this.staging = rt.device.createBuffer({ label: 'next-token logits (readback)', size: V * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.idsHost = new Int32Array(this.prefillChunk);
    this.positionsHost = new Int32Array(this.prefillChunk);
  }

  get hasAdapter(): boolean {
    return this.options.lora !== null;
  }

  /** Empties the cache: the next append starts a new sequence at position 0. */
  reset(): void {
    if (this.busy || this.running) throw new Error('this generator is already running: generate one sequence at a time');
    this.cache.length = 0;
  }

  /**
   * Runs `ids` at the next positions (in prefill chunks), appending to the cache; returns the
   * logits (V) that follow the last of them. `adapter` (default: on when there is one) applies
   * the LoRA pairs.
   */
  async append(ids: readonly number[], adapter = this.hasAdapter): Promise<Float32Array> {
    if (ids.length === 0) throw new RangeError('append needs at least one token');
    // One sequence, one readback buffer: a second caller would overwrite the first's cache.
    if (this.busy) throw new Error('this generator is already running: generate one sequence at a time');
    if (adapter && !this.hasAdapter) throw new Error('this generator has no LoRA adapter to apply');
    if (this.cache.length + ids.length > this.cache.capacity) {
      throw new RangeError(`${this.cache.length + ids.length} positions do not fit the KV cache of ${this.cache.capacity}`);
    }
    const V = this.config.vocabSize;
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token ${id} is outside the vocabulary 0..${V - 1}`);
    this.busy = true;
    try {
      for (let i = 0; i < ids.length; i += this.prefillChunk) {
        const chunk = ids.slice(i, i + this.prefillChunk);
        const last = i + this.prefillChunk >= ids.length;
        const rec = this.rt.recorder('generate');
        this.record(rec, chunk, this.cache.length, adapter, last);
        rec.submit();
        this.cache.length += chunk.length;
      }
      await this.staging.mapAsync(GPUMapMode.READ);
      const logits = new Float32Array(this.staging.getMappedRange().slice(0));
      this.staging.unmap();
      return logits;
    } finally {
      this.busy = false;
    }
  }

  /** Prefill + sampled decoding from a fresh cache, one sequence at a time; see generate_loop.ts. */
  async generate(prompt: readonly number[], options: GenerateOptions): Promise<GenerateResult> {
    this.reset();
    this.running = true;
    try {
      return await generateTokens(this, prompt, options);
    } finally {
      this.running = false;
    }
  }

  /** Gives back every buffer this generator allocated (the base and the LoRA pairs stay). */
  release(): void {
    this.cache.release();
    this.plan.release();
    this.rt.arena.release(this.invFreq);
    this.staging.destroy();
  }

  private record(rec: Recorder, ids: readonly number[], start: number, adapter: boolean, withHead: boolean): void {
    const M = ids.length;
    const { rt, plan, weights, config } = this;
    const { hiddenSize: C, numHeads, numKvHeads, headDim } = config;
    for (let i = 0; i < M; i++) {
      this.idsHost[i] = ids[i];
      this.positionsHost[i] = start + i;
    }
    rt.device.queue.writeBuffer(plan.ids.buffer, 0, this.idsHost.buffer, 0, M * 4);
    rt.device.queue.writeBuffer(plan.positions.buffer, 0, this.positionsHost.buffer, 0, M * 4);
    const pass: ModelPass = {
      rt,
      rec,
      config,
      tokens: M,
      lora: adapter ? this.options.lora : null,
      train: null,
      grad: plan.grad,
      attention: { batch: 1, seqLen: M, nHeads: numHeads, nKvHeads: numKvHeads, headDim },
      invFreq: this.invFreq,
      positions: plan.positions.buffer,
      segments: plan.segments.buffer,
      cache: { kv: this.cache, start },
    };
    embeddingForward(rt, rec, { ids: plan.ids.buffer, table: weights.embed, out: plan.h[0].buffer }, { tokens: M });
    const L = config.numLayers;
    for (let l = 0; l < L; l++) layerForward(pass, l, weights.layers[l], plan.layer(l), plan.h[l], plan.h[l + 1]);
    if (!withHead) return;
    // Only the last row's logits are needed. Its h_L row goes to row 0 of h[0] (free once layer 0
    // has run; a buffer cannot be copied onto itself), so the norm and lm_head run on one row.
    rec.copy(plan.h[L].buffer, (M - 1) * C * 4, plan.h[0].buffer, 0, C * 4);
    rmsNormForward(rt, rec, { x: plan.h[0].buffer, weight: weights.norm.buffer, y: plan.xnF.buffer, rstd: plan.rstdF.buffer }, { rows: 1, cols: C, eps: config.rmsNormEps });
    matmulForward(rt, rec, { x: plan.xnF.rows(1), w: weights.lmHead, y: plan.logits.rows(1) });
    rec.copy(plan.logits.buffer, 0, this.staging, 0, config.vocabSize * 4);
  }
}
