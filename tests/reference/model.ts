import type { Batch } from '../../src/data/batch.ts';
import type { ModelConfig } from '../../src/formats/hf_config.ts';
import { expectedTensors, LINEAR_MODULES, type LinearModule } from '../../src/formats/tensor_names.ts';
import { isLinearModule, moduleParent, modulePath } from '../../src/model/lora_targets.ts';
import { ropeInvFreq } from '../../src/model/rope_freqs.ts';
import { countTrained, crossEntropyBackward, crossEntropyForward } from './cross_entropy.ts';
import { embeddingForward } from './embedding.ts';
import { matmulBackwardInputRef, matmulForwardRef } from './matmul.ts';
import { layerBackward, layerForward, type LayerAdapters, type LayerCache, type LayerContext, type LayerWeights } from './model_layer.ts';
import { rmsNormBackward, rmsNormForward } from './rms_norm.ts';

// Whole-model float64 reference for Llama / Mistral / Qwen2 / Qwen3 with PEFT LoRA on any subset
// of the seven projections: forward, causal-LM loss (formats.md §5.1–5.2) and the LoRA gradients.
// Plain loops over the per-op references; the backward is checked against central finite
// differences in tests/unit/reference_model.test.ts. The GPU model is tested against this.
//
// API
//   referenceModel(config: ModelConfig, weights: Map<HF tensor name, Float32Array | Float64Array>)
//       → ReferenceModel. Every tensor of expectedTensors(config) must be there with its element
//       count (row-major, PyTorch layout); the arrays are used as given, not copied. Tied models
//       read lm_head from model.embed_tokens.weight (an lm_head.weight entry is then ignored).
//   referenceForwardBackward(model, lora, scaling, batch, options?) → ReferenceResult
//       lora     Map<modulePath(layer, module), { A: Float64Array [r, in], B: Float64Array [out, r] }>;
//                any subset of layers × {q,k,v,o,gate,up,down}_proj, ranks may differ per target.
//                Read afresh on every call (finite differences perturb them in place).
//       scaling  the PEFT scaling (alpha / r, or alpha / √r with rsLoRA), the same for every target
//       batch    a Batch (src/data/batch.ts): labels unshifted, segmentIds 0 = padding
//       options.dropoutMasks  Map<modulePath, Float64Array (B·T·in), token-major like the batch>: 0 or 1/(1−p),
//                multiplied into the input of lora_A only; a target without a mask has no dropout
//       options.gradScale     the gradients are of gradScale · lossSum; default 1 / numTargets
//                (0 when there are none), i.e. of `loss`. Pass 1 / N_window for accumulation.
//       options.wantGrads     default true; false runs the forward only (grads is then empty)
//   ReferenceResult
//       logits     Float64Array (B·T·V); rows of padding tokens hold the model applied to the pad
//                  id with a zero attention output (padding attends to nothing)
//       lossSum    Σ CE over trained targets (logit row t of a row predicts labels[t+1], -100 and
//                  the row's last column ignored)
//       numTargets the number of trained targets; it throws unless this equals batch.numTargets
//       loss       lossSum / numTargets (NaN when there are none, like torch's mean reduction)
//       grads      Map<modulePath, { dA [r, in], dB [out, r] }>: d(gradScale · lossSum)
//                  The base is frozen (biases, norms, embeddings included): no base gradients.
//
// Seeded O(1) weights, LoRA pairs, batches and dropout masks for such tests: model_random.ts.
//
// Attention masking: token i attends j iff j ≤ i and segmentIds[j] == segmentIds[i] != 0.
// Mistral's sliding window is not modelled: a window shorter than an example is refused.

export interface LoraWeights {
  /** [r, in] */
  A: Float64Array;
  /** [out, r] */
  B: Float64Array;
}

export interface ReferenceOptions {
  dropoutMasks?: Map<string, Float64Array>;
  gradScale?: number;
  wantGrads?: boolean;
}

export interface ReferenceResult {
  logits: Float64Array;
  lossSum: number;
  loss: number;
  numTargets: number;
  grads: Map<string, { dA: Float64Array; dB: Float64Array }>;
}

export interface ReferenceModel {
  config: ModelConfig;
  /** [V, C] */
  embed: ArrayLike<number>;
  /** [V, C]; the embedding itself when tied. */
  lmHead: ArrayLike<number>;
  /** [C] */
  finalNorm: ArrayLike<number>;
  layers: LayerWeights[];
  /** (head_dim / 2) float32, as transformers forms it. */
  invFreq: Float32Array;
}

export function referenceModel(config: ModelConfig, weights: Map<string, Float32Array | Float64Array>): ReferenceModel {
  for (const t of expectedTensors(config)) {
    const values = weights.get(t.name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (!values) throw new Error(`reference model: ${t.name} is missing (shape ${JSON.stringify(t.shape)})`);
    if (values.length !== n) throw new Error(`reference model: ${t.name} has ${values.length} values, shape ${JSON.stringify(t.shape)} needs ${n}`);
  }
  const get = (name: string) => weights.get(name)!;
  const bias = (name: string, has: boolean) => (has ? get(name) : null);
  const { hiddenSize: C, intermediateSize: I, numHeads: H, numKvHeads: Hkv, headDim: D } = config;
  const dims: Record<LinearModule, [number, number]> = {
    q_proj: [C, H * D],
    k_proj: [C, Hkv * D],
    v_proj: [C, Hkv * D],
    o_proj: [H * D, C],
    gate_proj: [C, I],
    up_proj: [C, I],
    down_proj: [I, C],
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    const linears = {} as LayerWeights['linears'];
    for (const m of LINEAR_MODULES) {
      const path = modulePath(l, m);
      const hasBias = m === 'o_proj' ? config.oBias : moduleParent(m) === 'self_attn' ? config.qkvBias : config.mlpBias;
      linears[m] = { weight: get(`${path}.weight`), bias: bias(`${path}.bias`, hasBias), inFeatures: dims[m][0], outFeatures: dims[m][1] };
    }
    layers.push({
      inputNorm: get(`${p}.input_layernorm.weight`),
      postNorm: get(`${p}.post_attention_layernorm.weight`),
      qNorm: config.qkNorm ? get(`${p}.self_attn.q_norm.weight`) : null,
      kNorm: config.qkNorm ? get(`${p}.self_attn.k_norm.weight`) : null,
      linears,
    });
  }
  const embed = get('model.embed_tokens.weight');
  return {
    config,
    embed,
    lmHead: config.tieWordEmbeddings ? embed : get('lm_head.weight'),
    finalNorm: get('model.norm.weight'),
    layers,
    invFreq: ropeInvFreq(D, config.rope.theta, config.rope.scaling),
  };
}

export function referenceForwardBackward(
  model: ReferenceModel,
  lora: Map<string, LoraWeights>,
  scaling: number,
  batch: Batch,
  options: ReferenceOptions = {},
): ReferenceResult {
  const { config } = model;
  const { B, T } = batch;
  const M = B * T;
  const { vocabSize: V, hiddenSize: C } = config;
  const wantGrads = options.wantGrads ?? true;
  const numTargets = checkBatch(config, batch);
  const adapters = layerAdapters(model, lora, scaling, options.dropoutMasks ?? new Map(), M);
  const ctx: LayerContext = {
    M,
    hidden: C,
    eps: config.rmsNormEps,
    attention: { batch: B, seqLen: T, nHeads: config.numHeads, nKvHeads: config.numKvHeads, headDim: config.headDim },
    // Batch: 0 = padding; the attention reference: negative = padding.
    segment: batch.segmentIds.map((s) => (s === 0 ? -1 : s)),
    positions: batch.positions,
    invFreq: model.invFreq,
  };

  // Forward. h0 = embed_tokens[ids]                                    (M, C)
  let h = embeddingForward(batch.inputIds, model.embed, V, C);
  const caches: LayerCache[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const { out, cache } = layerForward(ctx, model.layers[l], adapters[l], h);
    caches.push(cache);
    h = out;
  }
  // nf = RMSNorm(h_L; model.norm)                                       (M, C)
  const { y: nf, rstd: rstdF } = rmsNormForward(h, model.finalNorm, { rows: M, cols: C, eps: config.rmsNormEps });
  // logits = nf · lm_headᵀ                                              (M, V)
  const logits = matmulForwardRef(nf, model.lmHead, M, C, V);
  // lossSum = Σ_t CE(logits[t], labels[t+1])
  let lossSum = 0;
  for (const l of crossEntropyForward(logits, batch.labels, M, V, T)) lossSum += l;
  const result: ReferenceResult = { logits, lossSum, loss: lossSum / numTargets, numTargets, grads: new Map() };
  if (!wantGrads) return result;

  // Backward of gradScale · lossSum.
  const gradScale = options.gradScale ?? (numTargets > 0 ? 1 / numTargets : 0);
  // ⟵ lossSum = Σ CE:  dlogits = gradScale · (softmax − onehot) on trained rows
  const dlogits = crossEntropyBackward(logits, batch.labels, M, V, T, gradScale);
  // ⟵ logits = nf · lm_headᵀ:  dnf = dlogits · lm_head (lm_head frozen, tied or not)
  const dnf = matmulBackwardInputRef(dlogits, model.lmHead, M, C, V);
  // ⟵ nf = RMSNorm(h_L)
  let dh = rmsNormBackward(dnf, h, model.finalNorm, rstdF, { rows: M, cols: C });
  for (let l = config.numLayers - 1; l >= 0; l--) {
    const back = layerBackward(ctx, model.layers[l], adapters[l], caches[l], dh, true);
    for (const [m, g] of back.grads) result.grads.set(modulePath(l, m), g);
    dh = back.dh;
  }
  // ⟵ h0 = embed_tokens[ids]: the embedding is frozen, so the gradient stops at dh.
  return result;
}

/** Checks the batch against the config; returns the number of trained (shifted) targets. */
function checkBatch(config: ModelConfig, batch: Batch): number {
  const { B, T } = batch;
  for (const key of ['inputIds', 'labels', 'positions', 'segmentIds'] as const) {
    if (batch[key].length !== B * T) throw new Error(`reference model: batch.${key} has ${batch[key].length} values, B·T = ${B * T}`);
  }
  const n = countTrained(batch.labels, B * T, config.vocabSize, T);
  if (n !== batch.numTargets) {
    throw new Error(
      `reference model: batch.numTargets is ${batch.numTargets} but ${n} labels are trained after the shift ` +
        '(a row whose first label is not -100, or a label outside [0, vocab))',
    );
  }
  let longest = 0;
  for (let i = 0; i < B * T; i++) if (batch.segmentIds[i] !== 0) longest = Math.max(longest, batch.positions[i] + 1);
  if (config.slidingWindow !== null && config.slidingWindow < longest) {
    throw new Error(`reference model: sliding_window ${config.slidingWindow} is shorter than an example (${longest} tokens); sliding-window attention is not modelled`);
  }
  return n;
}

/** The LoRA map, checked, split per layer and module. */
function layerAdapters(model: ReferenceModel, lora: Map<string, LoraWeights>, scaling: number, masks: Map<string, Float64Array>, M: number): LayerAdapters[] {
  const adapters: LayerAdapters[] = model.layers.map(() => ({}));
  for (const path of masks.keys()) if (!lora.has(path)) throw new Error(`reference model: dropout mask for ${path}, which has no LoRA pair`);
  for (const [path, { A, B }] of lora) {
    const match = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)$/.exec(path);
    const layer = match ? Number(match[1]) : -1;
    const module = match?.[2];
    if (!isLinearModule(module) || layer >= model.layers.length || modulePath(layer, module) !== path) {
      throw new Error(`reference model: ${path} is not a projection of this ${model.config.numLayers}-layer model`);
    }
    const { inFeatures, outFeatures } = model.layers[layer].linears[module];
    const r = A.length / inFeatures;
    if (!Number.isInteger(r) || r < 1 || B.length !== outFeatures * r) {
      throw new Error(`reference model: ${path} needs A [r, ${inFeatures}] and B [${outFeatures}, r], got ${A.length} and ${B.length} values`);
    }
    const mask = masks.get(path) ?? null;
    if (mask && mask.length !== M * inFeatures) throw new Error(`reference model: dropout mask for ${path} has ${mask.length} values, B·T·in = ${M * inFeatures}`);
    adapters[layer][module] = { A, B, r, scaling, mask };
  }
  return adapters;
}
