import { InputError } from '../errors.ts';
import type { MemoryReport } from '../engine/arena.ts';
import { readBuffer } from '../engine/readback.ts';
import type { Recorder } from '../engine/recorder.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { embeddingForward } from '../kernels/embedding.ts';
import { rmsNormBackward, rmsNormForward } from '../kernels/rms_norm.ts';
import { ActivationPlan, defaultLossChunkRows } from './activations.ts';
import type { BaseWeights } from './base_weights.ts';
import { layerBackward } from './layer_backward.ts';
import { layerForward, type ModelPass } from './layer_forward.ts';
import type { LoadedBase } from './load_base.ts';
import { LoraParams, releaseLora, type FlatTensor, type LoraArrays, type LoraOptions } from './lora_params.ts';
import { uploadBatchInputs, type ModelBatch, type BatchShape } from './model_batch.ts';
import { recordHeadAndLoss } from './model_loss.ts';
import { ropeInvFreq } from './rope_freqs.ts';

// The whole causal LM on the GPU, forward and backward, written like llm.c (DESIGN §2):
//   h0 = embed[ids]; h_{l+1} = layer_l(h_l) (layer_forward.ts); xnF = RMSNorm_f(h_L);
//   per chunk of rows: logits = xnF·lm_headᵀ → CE + dlogits → dxnF (model_loss.ts);
//   dh = RMSNorm_f'(dxnF); for l = L−1 … 0: [recompute layer l]; dh = layer_l'(dh)
// with the frozen base (NF4 or dense) and a LoRA pair beside each targeted projection. Every
// buffer is allocated in the constructor (LoRA in 'lora', the plan in 'activations' and
// 'scratch'); recording a step allocates nothing on the GPU and reads nothing back.

export interface ModelOptions {
  /** LoRA settings, or null for the base model alone (eval, logits). */
  lora: LoraOptions | null;
  maxBatch: number;
  maxSeq: number;
  /** Keep only each layer's input; recompute the layer's forward in the backward. */
  gradCheckpointing: boolean;
  /** Logit rows per loss chunk; default: what fits LOGITS_CHUNK_BYTES and one binding. */
  lossChunkRows?: number;
}

export interface TrainStepOptions {
  /** dlogits scale: 1 / trained targets of the whole optimizer step (formats.md §5.2). */
  gradScale: number;
  /** A u32, new for every micro-batch: the LoRA dropout masks' seed. */
  dropoutSeed: number;
  /** First micro-batch of an optimizer step: overwrite dA, dB instead of accumulating. */
  zeroGrads: boolean;
  /** Clear the loss sum first; default zeroGrads (a new optimizer step). */
  zeroLoss?: boolean;
}

export interface ModelMemory extends MemoryReport {
  /** Bytes one layer's saved activations take. */
  layerActivationBytes: number;
  /** Activation bytes gradient checkpointing saves: (layers − 1) sets; 0 when it is off. */
  checkpointingSavedBytes: number;
}

export class Model {
  readonly config: ModelConfig;
  readonly lora: LoraParams | null;
  readonly plan: ActivationPlan;
  private readonly weights: BaseWeights;
  private readonly invFreq: GPUBuffer;
  private readonly segmentHost: Int32Array;
  private shape: BatchShape | null = null;

  constructor(
    readonly rt: Runtime,
    base: LoadedBase,
    readonly options: ModelOptions,
  ) {
    const { maxBatch, maxSeq } = options;
    if (![maxBatch, maxSeq].every((n) => Number.isInteger(n) && n > 0)) throw new RangeError(`maxBatch and maxSeq must be positive integers, got ${maxBatch}, ${maxSeq}`);
    this.config = base.config;
    this.weights = base.weights;
    // Sliding-window attention (Mistral v0.1) equals full causal attention while rows are no
    // longer than the window; beyond it we would compute something else, so refuse.
    const window = this.config.slidingWindow;
    if (window !== null && maxSeq > window) {
      throw new InputError('sliding_window', `this model uses sliding-window attention over ${window} tokens, which webtune does not implement; use a max length of at most ${window}`);
    }
    const maxTokens = maxBatch * maxSeq;
    this.lora = options.lora ? new LoraParams(rt, this.config, options.lora) : null;
    try {
      this.plan = new ActivationPlan(rt, this.config, {
        maxTokens,
        lora: options.lora && { r: options.lora.r, modules: options.lora.modules, dropout: options.lora.dropout },
        checkpointing: options.gradCheckpointing,
        lossChunkRows: options.lossChunkRows ?? defaultLossChunkRows(this.config.vocabSize, rt.arena.maxBindingBytes),
      });
    } catch (e) {
      if (this.lora) releaseLora(rt, this.lora);
      throw e;
    }
    const inv = ropeInvFreq(this.config.headDim, this.config.rope.theta, this.config.rope.scaling);
    this.invFreq = rt.arena.createBuffer('rope_inv_freq', inv.byteLength, 'base');
    rt.device.queue.writeBuffer(this.invFreq, 0, inv.buffer, inv.byteOffset, inv.byteLength);
    this.segmentHost = new Int32Array(maxTokens);
  }

  /**
   * Writes a batch's ids, labels, positions and segments (padding → −1 for attention) into the
   * plan's inputs with queue.writeBuffer: it lands before the NEXT submit, so submit the step
   * recorded for one batch before uploading the next.
   */
  uploadBatch(batch: ModelBatch): void {
    this.shape = uploadBatchInputs(this.rt.device, this.plan, batch, this.options, this.segmentHost);
  }

  /** Forward, loss (into lossSum) and backward of the uploaded micro-batch; returns the dispatches recorded. */
  recordTrainStep(rec: Recorder, options: TrainStepOptions): number {
    if (!Number.isFinite(options.gradScale)) throw new RangeError(`gradScale must be finite, got ${options.gradScale}`);
    if (options.dropoutSeed !== options.dropoutSeed >>> 0) throw new RangeError(`dropoutSeed must be a u32, got ${options.dropoutSeed}`);
    const start = rec.dispatchCount;
    const pass = this.pass(rec, { dropoutSeed: options.dropoutSeed, gradBeta: options.zeroGrads ? 0 : 1 });
    if (options.zeroLoss ?? options.zeroGrads) rec.clear(this.plan.lossSum);
    this.forward(pass);
    const { plan } = this;
    const L = this.config.numLayers;
    recordHeadAndLoss({ ...this.head(pass), gradScale: options.gradScale, dxn: plan.grad.dxn, lossSum: plan.lossSum });
    // ⟵ xnF = RMSNorm_f(h_L)
    const C = this.config.hiddenSize;
    rmsNormBackward(this.rt, rec, { dy: plan.grad.dxn.buffer, x: plan.h[L].buffer, weight: this.weights.norm.buffer, rstd: plan.rstdF.buffer, dx: plan.grad.dh.buffer }, { rows: pass.tokens, cols: C });
    for (let l = L - 1; l >= 0; l--) {
      const acts = plan.layer(l);
      // The shared set still holds the last layer's forward; every other layer is recomputed.
      if (this.options.gradCheckpointing && l < L - 1) layerForward(pass, l, this.weights.layers[l], acts, plan.h[l], plan.h[l + 1], true);
      layerBackward(pass, l, this.weights.layers[l], acts, plan.h[l]);
    }
    return rec.dispatchCount - start;
  }

  /** Forward and loss (into evalLossSum, no dropout, no gradients) of the uploaded batch. */
  recordEvalLoss(rec: Recorder, options: { zeroLoss?: boolean } = {}): number {
    const start = rec.dispatchCount;
    const pass = this.pass(rec, null);
    if (options.zeroLoss) rec.clear(this.plan.evalLossSum);
    this.forward(pass);
    recordHeadAndLoss({ ...this.head(pass), lossSum: this.plan.evalLossSum });
    return rec.dispatchCount - start;
  }

  /** The (B·T, V) logits of a batch, read back (tests and generation on small models). */
  async logits(batch: ModelBatch): Promise<Float32Array> {
    this.uploadBatch(batch);
    const { tokens } = this.shape!;
    const V = this.config.vocabSize;
    const all = this.rt.arena.createBuffer('logits (readback)', tokens * V * 4, 'scratch');
    try {
      await this.rt.run('logits', (rec) => {
        const pass = this.pass(rec, null);
        this.forward(pass);
        recordHeadAndLoss({ ...this.head(pass), onLogits: (chunk, r0) => rec.copy(chunk.buffer, 0, all, r0 * V * 4, chunk.numel * 4) });
      });
      return new Float32Array(await readBuffer(this.rt.device, all, 0, tokens * V * 4));
    } finally {
      this.rt.arena.release(all);
    }
  }

  /** Σ token losses recorded by training steps since the last clear (one 4-byte readback). */
  async readLossSum(): Promise<number> {
    return new Float32Array(await readBuffer(this.rt.device, this.plan.lossSum, 0, 4))[0];
  }

  async readEvalLossSum(): Promise<number> {
    return new Float32Array(await readBuffer(this.rt.device, this.plan.evalLossSum, 0, 4))[0];
  }

  /** LoRA A, B keyed by PEFT module path. */
  async exportLora(): Promise<Map<string, LoraArrays>> {
    return this.requireLora().export();
  }

  importLora(weights: ReadonlyMap<string, LoraArrays>): void {
    this.requireLora().import(weights);
  }

  /** dA then dB per target (state-dict order), for grad-norm and AdamW. */
  loraGradients(): FlatTensor[] {
    return this.lora?.gradients() ?? [];
  }

  /** A then B per target, in the order of loraGradients(). */
  loraParameters(): FlatTensor[] {
    return this.lora?.parameters() ?? [];
  }

  get memory(): ModelMemory {
    const layerActivationBytes = this.plan.layerSetBytes;
    const saved = this.options.gradCheckpointing ? (this.config.numLayers - 1) * layerActivationBytes : 0;
    return { ...this.rt.arena.report(), layerActivationBytes, checkpointingSavedBytes: saved };
  }

  /** Gives every buffer this model allocated back to the arena (the base stays loaded). */
  release(): void {
    this.plan.release();
    if (this.lora) releaseLora(this.rt, this.lora);
    this.rt.arena.release(this.invFreq);
  }

  private requireLora(): LoraParams {
    if (!this.lora) throw new Error('this model has no LoRA adapter');
    return this.lora;
  }

  private pass(rec: Recorder, train: ModelPass['train']): ModelPass {
    if (!this.shape) throw new Error('no batch uploaded: call uploadBatch first');
    const { B, T, tokens } = this.shape;
    const { config, plan } = this;
    return {
      rt: this.rt,
      rec,
      config,
      tokens,
      lora: this.lora,
      train,
      grad: plan.grad,
      attention: { batch: B, seqLen: T, nHeads: config.numHeads, nKvHeads: config.numKvHeads, headDim: config.headDim },
      invFreq: this.invFreq,
      positions: plan.positions.buffer,
      segments: plan.segments.buffer,
    };
  }

  private head(pass: ModelPass) {
    return { rt: this.rt, rec: pass.rec, plan: this.plan, lmHead: this.weights.lmHead, tokens: pass.tokens, seqLen: pass.attention.seqLen };
  }

  private forward(pass: ModelPass): void {
    const { rt, rec, tokens: M } = pass;
    const { plan, weights, config } = this;
    embeddingForward(rt, rec, { ids: plan.ids.buffer, table: weights.embed, out: plan.h[0].buffer }, { tokens: M });
    for (let l = 0; l < config.numLayers; l++) layerForward(pass, l, weights.layers[l], plan.layer(l), plan.h[l], plan.h[l + 1]);
    rmsNormForward(rt, rec, { x: plan.h[config.numLayers].buffer, weight: weights.norm.buffer, y: plan.xnF.buffer, rstd: plan.rstdF.buffer }, { rows: M, cols: config.hiddenSize, eps: config.rmsNormEps });
  }
}
