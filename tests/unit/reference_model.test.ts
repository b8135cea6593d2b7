import { describe, expect, it } from 'vitest';
import type { Batch } from '../../src/data/batch.ts';
import { parseHfConfig, type ModelConfig } from '../../src/formats/hf_config.ts';
import { LINEAR_MODULES, type LinearModule } from '../../src/formats/tensor_names.ts';
import { loraScaling, modulePath } from '../../src/model/lora_targets.ts';
import { tinyModel, TINY_PRESETS, type TinyModelOptions } from '../fixtures/tiny_model.ts';
import { numericGradient } from '../helpers/finite_diff.ts';
import { rng } from '../helpers/rng.ts';
import { referenceForwardBackward, referenceModel, type LoraWeights, type ReferenceModel, type ReferenceOptions } from '../reference/model.ts';
import { dropoutMask, randomBatch, randomLora, randomWeights } from '../reference/model_random.ts';

// The whole-model reference (tests/reference/model.ts): every LoRA gradient (sampled dA and dB of
// every target, all seven projection types) against central finite differences of the loss in
// float64, on Llama / Mistral / Qwen2 / Qwen3 shapes with packed rows, padding and dropout; and
// the forward against known answers (ln V, a residual-only model) and equivalences that do not
// share its code path (merged weights, unpacked rows, folded biases, norm invariance).
// Weights are the O(1) draws of model_random.ts, so every nonlinearity matters to the check.

type Target = { layer: number; module: LinearModule; r: number };

const SCALING = loraScaling(16, 8, false); // 2

/** Llama, untied, GQA 4:2, head_dim 8, 2 layers. */
const small: TinyModelOptions = { architecture: 'llama', vocabSize: 53, hiddenSize: 32, intermediateSize: 40 };

/** LoRA on the given modules of every layer. */
function targets(layers: number, r = 3, modules: readonly LinearModule[] = LINEAR_MODULES): Target[] {
  return Array.from({ length: layers }, (_, layer) => modules.map((module) => ({ layer, module, r }))).flat();
}

function setup(options: TinyModelOptions, seed = 1) {
  const t = tinyModel(options);
  const config = parseHfConfig(t.config);
  const weights = randomWeights(t.tensors, seed);
  return { config, tensors: t.tensors, weights, model: referenceModel(config, weights) };
}

function run(model: ReferenceModel, lora: Map<string, LoraWeights>, batch: Batch, options: ReferenceOptions = {}) {
  return referenceForwardBackward(model, lora, SCALING, batch, options);
}

/**
 * For each target, the largest-magnitude entry of dA and of dB plus `samples` random ones, against
 * central differences of gradScale · lossSum. Errors are relative to that gradient's largest
 * entry, so small entries are held to the same absolute standard as large ones.
 */
function expectFiniteDifferences(model: ReferenceModel, lora: Map<string, LoraWeights>, batch: Batch, options: ReferenceOptions = {}, samples = 3) {
  const { grads } = run(model, lora, batch, options);
  expect([...grads.keys()].sort()).toEqual([...lora.keys()].sort());
  const gradScale = options.gradScale ?? 1 / batch.numTargets;
  const objective = () => gradScale * run(model, lora, batch, { ...options, wantGrads: false }).lossSum;
  const r = rng(9);
  for (const [path, pair] of lora) {
    const g = grads.get(path)!;
    for (const [name, x, analytic] of [['dA', pair.A, g.dA], ['dB', pair.B, g.dB]] as const) {
      let peak = 0;
      let at = 0;
      analytic.forEach((v, i) => {
        if (Math.abs(v) > peak) [peak, at] = [Math.abs(v), i];
      });
      expect(peak, `${path} ${name} vanishes`).toBeGreaterThan(1e-5);
      const indices = [at, ...Array.from({ length: samples }, () => r.int(0, x.length))];
      const numeric = numericGradient(objective, x, indices);
      const worst = Math.max(...indices.map((i) => Math.abs(numeric[i] - analytic[i]))) / peak;
      expect(worst, `${path} ${name}`).toBeLessThan(1e-6);
    }
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('reference model: LoRA gradients against finite differences', () => {
  const cases: { name: string; options: TinyModelOptions; targets: Target[]; rows: number[][] }[] = [
    { name: 'Llama, untied, GQA 4:2, all seven projections of both layers, packed row + padding', options: small, targets: targets(2), rows: [[5, 4], [6]] },
    {
      name: 'Llama with attention_bias and mlp_bias',
      options: { ...small, attentionBias: true, mlpBias: true },
      targets: [...targets(1, 2, ['q_proj', 'v_proj']), ...targets(2, 2, ['o_proj', 'gate_proj', 'down_proj']).filter((t) => t.layer === 1)],
      rows: [[7], [3, 5]],
    },
    { name: 'Qwen2: q/k/v biases', options: TINY_PRESETS.qwen2, targets: targets(2, 2), rows: [[4, 6], [9]] },
    { name: 'Qwen3: q/k norm, head_dim 12 ≠ hidden/heads, tied', options: TINY_PRESETS.qwen3, targets: targets(2, 2), rows: [[6, 5], [8]] },
    {
      name: 'Mistral: GQA 8:2, head_dim 4, 3 layers, ranks differing per target',
      options: TINY_PRESETS.mistral,
      targets: [
        { layer: 0, module: 'k_proj', r: 1 },
        { layer: 1, module: 'q_proj', r: 4 },
        { layer: 1, module: 'up_proj', r: 2 },
        { layer: 2, module: 'o_proj', r: 3 },
        { layer: 2, module: 'v_proj', r: 2 },
      ],
      rows: [[5, 1, 4]],
    },
    { name: 'Llama, tied, MQA 3:1, head_dim 16', options: TINY_PRESETS.llamaOddTied, targets: targets(2, 2, ['q_proj', 'k_proj', 'o_proj', 'up_proj']), rows: [[9], [2, 3]] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { config, model } = setup(c.options);
      expectFiniteDifferences(model, randomLora(config, c.targets, 2), randomBatch(config, c.rows, 3, 2));
    });
  }

  it('with dropout masks on the inputs of lora_A', () => {
    const { config, model } = setup(small);
    const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
    const lora = randomLora(config, targets(2), 2);
    const inOf = (path: string) => (path.endsWith('o_proj') ? config.numHeads * config.headDim : path.endsWith('down_proj') ? config.intermediateSize : config.hiddenSize);
    const dropoutMasks = new Map([...lora.keys()].map((path, i) => [path, dropoutMask(batch.B * batch.T, inOf(path), 0.3, 100 + i)]));
    expectFiniteDifferences(model, lora, batch, { dropoutMasks });
  });

  it('the gradients are of gradScale · lossSum', () => {
    const { config, model } = setup(TINY_PRESETS.qwen3);
    const batch = randomBatch(config, [[6, 5], [8]], 3, 2);
    const lora = randomLora(config, targets(2, 2, ['v_proj', 'gate_proj']), 2);
    const mean = run(model, lora, batch);
    const scaled = run(model, lora, batch, { gradScale: 0.25 });
    for (const [path, g] of mean.grads) {
      const k = 0.25 * batch.numTargets;
      expect(maxAbsDiff(scaled.grads.get(path)!.dA, g.dA.map((v) => v * k))).toBeLessThan(1e-14);
      expect(maxAbsDiff(scaled.grads.get(path)!.dB, g.dB.map((v) => v * k))).toBeLessThan(1e-14);
    }
    const forwardOnly = run(model, lora, batch, { wantGrads: false });
    expect(forwardOnly.grads.size).toBe(0);
    expect(forwardOnly.logits).toEqual(mean.logits);
  });
});

describe('reference model: forward', () => {
  const forward = (model: ReferenceModel, lora: Map<string, LoraWeights>, batch: Batch, options: ReferenceOptions = {}) => run(model, lora, batch, { ...options, wantGrads: false });

  it('a zero-weight model predicts uniformly: loss = ln V', () => {
    for (const preset of [TINY_PRESETS.llamaOddTied, TINY_PRESETS.qwen2, TINY_PRESETS.qwen3]) {
      const t = tinyModel(preset);
      const config = parseHfConfig(t.config);
      const model = referenceModel(config, new Map([...t.tensors].map(([name, x]) => [name, new Float32Array(x.values.length)])));
      const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
      const res = run(model, randomLora(config, targets(config.numLayers, 2), 2), batch);
      expect(res.logits.every((z) => z === 0)).toBe(true);
      expect(res.numTargets).toBe(batch.numTargets);
      expect(res.loss).toBeCloseTo(Math.log(config.vocabSize), 14);
      expect(res.lossSum).toBeCloseTo(batch.numTargets * Math.log(config.vocabSize), 12);
    }
  });

  it('with every projection zero the residual is the embedding: logits = lm_head · RMSNorm(embed[id]), loss by hand with the shift', () => {
    const { config, weights } = setup(small);
    for (const [name, w] of weights) if (name.endsWith('_proj.weight')) w.fill(0);
    const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
    const res = forward(referenceModel(config, weights), new Map(), batch);
    const { hiddenSize: C, vocabSize: V } = config;
    const embed = weights.get('model.embed_tokens.weight')!;
    const head = weights.get('lm_head.weight')!;
    const norm = weights.get('model.norm.weight')!;
    let lossSum = 0;
    let n = 0;
    for (let m = 0; m < batch.B * batch.T; m++) {
      const e = embed.subarray(batch.inputIds[m] * C, (batch.inputIds[m] + 1) * C);
      const rms = Math.sqrt(e.reduce((s, v) => s + v * v, 0) / C + config.rmsNormEps);
      const z = Array.from({ length: V }, (_, v) => e.reduce((s, ec, c) => s + head[v * C + c] * norm[c] * (ec / rms), 0));
      expect(maxAbsDiff(res.logits.subarray(m * V, (m + 1) * V), z)).toBeLessThan(1e-12);
      // Position t predicts labels[t + 1] of the same row; the row's last column predicts nothing.
      const y = (m + 1) % batch.T === 0 ? -100 : batch.labels[m + 1];
      if (y === -100) continue;
      lossSum += Math.log(z.reduce((s, v) => s + Math.exp(v), 0)) - z[y];
      n++;
    }
    expect(res.numTargets).toBe(n);
    expect(res.lossSum).toBeCloseTo(lossSum, 11);
    expect(res.loss).toBeCloseTo(lossSum / n, 12);
  });

  it('with B = 0 the logits are exactly the base model’s and only dB is nonzero (fixture weights as stored)', () => {
    for (const preset of [TINY_PRESETS.llamaOddTied, TINY_PRESETS.qwen2, TINY_PRESETS.qwen3, TINY_PRESETS.mistral]) {
      const t = tinyModel(preset);
      const config = parseHfConfig(t.config);
      const model = referenceModel(config, new Map([...t.tensors].map(([name, x]) => [name, x.values])));
      const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
      const withLora = run(model, randomLora(config, targets(config.numLayers, 2), 2, 0), batch);
      expect(withLora.logits).toEqual(forward(model, new Map(), batch).logits);
      for (const [path, g] of withLora.grads) {
        expect(g.dA.every((v) => v === 0), path).toBe(true);
        expect(g.dB.some((v) => v !== 0), path).toBe(true);
      }
    }
  });

  it('LoRA equals the merged weight W + s·B·A (Qwen2, biased q/k/v)', () => {
    const { config, tensors, weights, model } = setup(TINY_PRESETS.qwen2);
    const lora = randomLora(config, targets(2, 3), 2);
    const merged = new Map(weights);
    for (const [path, { A, B }] of lora) {
      const [out, inF] = tensors.get(`${path}.weight`)!.shape;
      const r = A.length / inF;
      const W = Float64Array.from(weights.get(`${path}.weight`)!);
      for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) for (let k = 0; k < r; k++) W[o * inF + i] += SCALING * B[o * r + k] * A[k * inF + i];
      merged.set(`${path}.weight`, W);
    }
    const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
    expect(maxAbsDiff(forward(model, lora, batch).logits, forward(referenceModel(config, merged), new Map(), batch).logits)).toBeLessThan(1e-12);
  });

  it('a packed row gives each example the logits and gradients it has alone, and padding changes nothing', () => {
    const { config, model } = setup(TINY_PRESETS.qwen3);
    const lora = randomLora(config, targets(2, 2), 2);
    // The same three examples (drawn in the same order): packed 5+4 | 6 at T = 16, one per row
    // at T = 8, and one per row padded to T = 16.
    const packed = randomBatch(config, [[5, 4], [6]], 3, 2);
    const alone = randomBatch(config, [[5], [4], [6]], 3, 2);
    const padded = randomBatch(config, [[5], [4], [6]], 3, 2, 16);
    const at = { packed: [[0, 0], [0, 5], [1, 0]], alone: [[0, 0], [1, 0], [2, 0]] };
    const V = config.vocabSize;
    const rp = run(model, lora, packed);
    const ra = run(model, lora, alone);
    const rd = run(model, lora, padded);
    [5, 4, 6].forEach((n, e) => {
      const slice = (x: { logits: Float64Array }, b: Batch, [row, col]: number[]) => x.logits.subarray((row * b.T + col) * V, (row * b.T + col + n) * V);
      expect(packed.inputIds.subarray(at.packed[e][0] * 16 + at.packed[e][1], at.packed[e][0] * 16 + at.packed[e][1] + n)).toEqual(alone.inputIds.subarray(e * 8, e * 8 + n));
      expect(maxAbsDiff(slice(rp, packed, at.packed[e]), slice(ra, alone, at.alone[e]))).toBeLessThan(1e-12);
      expect(maxAbsDiff(slice(rd, padded, at.alone[e]), slice(ra, alone, at.alone[e]))).toBeLessThan(1e-12);
    });
    for (const other of [rp, rd]) {
      expect(other.numTargets).toBe(ra.numTargets);
      expect(other.lossSum).toBeCloseTo(ra.lossSum, 12);
      for (const [path, g] of ra.grads) {
        expect(maxAbsDiff(other.grads.get(path)!.dA, g.dA), path).toBeLessThan(1e-12);
        expect(maxAbsDiff(other.grads.get(path)!.dB, g.dB), path).toBeLessThan(1e-12);
      }
    }
  });

  it('padding attends to nothing: its logits are those of the same model with o_proj zero', () => {
    const { config, weights, model } = setup(TINY_PRESETS.mistral);
    const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
    const lora = randomLora(config, targets(3, 2, ['q_proj', 'v_proj', 'up_proj']), 2);
    const noAttention = new Map(weights);
    for (let l = 0; l < config.numLayers; l++) noAttention.set(`model.layers.${l}.self_attn.o_proj.weight`, new Float64Array(config.hiddenSize * config.numHeads * config.headDim));
    const a = forward(model, lora, batch).logits;
    const b = forward(referenceModel(config, noAttention), lora, batch).logits;
    const V = config.vocabSize;
    let pads = 0;
    for (let m = 0; m < batch.B * batch.T; m++) {
      if (batch.segmentIds[m] !== 0) continue;
      pads++;
      expect(a.subarray(m * V, (m + 1) * V)).toEqual(b.subarray(m * V, (m + 1) * V));
    }
    expect(pads).toBeGreaterThan(10);
  });

  it('an all-ones dropout mask is no dropout; an all-zero mask removes that target', () => {
    const { config, model } = setup(small);
    const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
    const M = batch.B * batch.T;
    const lora = randomLora(config, targets(2, 2), 2);
    const q = modulePath(1, 'q_proj');
    const down = modulePath(0, 'down_proj');
    const plain = run(model, lora, batch);
    const ones = run(model, lora, batch, { dropoutMasks: new Map([[q, new Float64Array(M * config.hiddenSize).fill(1)]]) });
    expect(ones.logits).toEqual(plain.logits);
    expect(ones.grads.get(q)).toEqual(plain.grads.get(q));
    const zero = run(model, lora, batch, { dropoutMasks: new Map([[down, new Float64Array(M * config.intermediateSize)]]) });
    const without = new Map(lora);
    without.delete(down);
    expect(zero.logits).toEqual(forward(model, without, batch).logits);
    expect(zero.grads.get(down)!.dA.every((v) => v === 0) && zero.grads.get(down)!.dB.every((v) => v === 0)).toBe(true);
  });

  it('tied embeddings read lm_head from embed_tokens (and ignore a stray lm_head.weight)', () => {
    const { config, weights, model } = setup(TINY_PRESETS.qwen3);
    expect(config.tieWordEmbeddings).toBe(true);
    const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
    const lora = randomLora(config, targets(2, 2, ['q_proj', 'down_proj']), 2);
    const tied = run(model, lora, batch);
    const copy = new Map(weights).set('lm_head.weight', Float64Array.from(weights.get('model.embed_tokens.weight')!));
    const untied = run(referenceModel({ ...config, tieWordEmbeddings: false }, copy), lora, batch);
    expect(untied.logits).toEqual(tied.logits);
    expect(untied.grads).toEqual(tied.grads);
    const stray = new Map(weights).set('lm_head.weight', new Float64Array(config.vocabSize * config.hiddenSize).fill(7));
    expect(forward(referenceModel(config, stray), lora, batch).logits).toEqual(tied.logits);
  });

  it('Qwen2: the v bias leaves attention unchanged (softmax rows sum to 1), so it folds into an o_proj bias', () => {
    const { config, weights, model } = setup(TINY_PRESETS.qwen2);
    const { numHeads: H, numKvHeads: Hkv, headDim: D, hiddenSize: C, vocabSize: V } = config;
    const folded = new Map(weights);
    for (let l = 0; l < config.numLayers; l++) {
      const p = `model.layers.${l}.self_attn`;
      const bv = weights.get(`${p}.v_proj.bias`)!;
      const wo = weights.get(`${p}.o_proj.weight`)!;
      const bo = new Float64Array(C);
      for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) bo[c] += wo[c * H * D + h * D + d] * bv[Math.floor(h / (H / Hkv)) * D + d];
      folded.set(`${p}.v_proj.bias`, new Float64Array(Hkv * D)).set(`${p}.o_proj.bias`, bo);
    }
    // No LoRA on o_proj: its A would see the attention output without the bias.
    const lora = randomLora(config, targets(2, 2, ['q_proj', 'k_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj']), 2);
    const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
    const a = run(model, lora, batch);
    const b = run(referenceModel({ ...config, oBias: true }, folded), lora, batch);
    // Padding attends to nothing, so it gets the o bias but no v bias: compare real tokens only.
    for (let m = 0; m < batch.B * batch.T; m++) {
      if (batch.segmentIds[m] !== 0) expect(maxAbsDiff(a.logits.subarray(m * V, (m + 1) * V), b.logits.subarray(m * V, (m + 1) * V))).toBeLessThan(1e-12);
    }
    expect(b.lossSum).toBeCloseTo(a.lossSum, 12);
    for (const [path, g] of a.grads) expect(maxAbsDiff(b.grads.get(path)!.dA, g.dA), path).toBeLessThan(1e-12);
  });

  it('Qwen3: q_norm / k_norm normalize each head over head_dim, so scaling one head’s q or k rows changes nothing', () => {
    const { config, weights } = setup(TINY_PRESETS.qwen3);
    const exact = { ...config, rmsNormEps: 0 }; // eps would make the invariance approximate
    const { headDim: D, hiddenSize: C } = config;
    const scaled = new Map(weights);
    for (let l = 0; l < config.numLayers; l++) {
      const p = `model.layers.${l}.self_attn`;
      // q head 1 (rows D … 2D−1) × 3, kv head 0 (rows 0 … D−1) × 0.5
      scaled.set(`${p}.q_proj.weight`, weights.get(`${p}.q_proj.weight`)!.map((w, i) => (i >= D * C && i < 2 * D * C ? 3 * w : w)));
      scaled.set(`${p}.k_proj.weight`, weights.get(`${p}.k_proj.weight`)!.map((w, i) => (i < D * C ? 0.5 * w : w)));
    }
    const lora = randomLora(config, targets(2, 2, ['v_proj', 'o_proj', 'gate_proj']), 2);
    const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
    const logits = (cfg: ModelConfig, w: Map<string, Float64Array>) => forward(referenceModel(cfg, w), lora, batch).logits;
    expect(maxAbsDiff(logits(exact, scaled), logits(exact, weights))).toBeLessThan(1e-12);
    // Without the norms (a Llama view of the same weights) the same scaling does matter.
    const llama: ModelConfig = { ...exact, architecture: 'llama', qkNorm: false };
    expect(maxAbsDiff(logits(llama, scaled), logits(llama, weights))).toBeGreaterThan(1e-3);
  });

  it('a batch with no trained target: lossSum 0, loss NaN (torch’s mean), zero gradients', () => {
    const { config, model } = setup(small);
    const batch = randomBatch(config, [[3, 1], [2]], 3, 3); // every label is a prompt label
    expect(batch.numTargets).toBe(0);
    const res = run(model, randomLora(config, targets(2, 2, ['k_proj', 'up_proj']), 2), batch);
    expect(res.lossSum).toBe(0);
    expect(res.loss).toBeNaN();
    for (const g of res.grads.values()) expect(g.dA.every((v) => v === 0) && g.dB.every((v) => v === 0)).toBe(true);
  });

  it('refuses weights, adapters, masks and batches that do not fit', () => {
    const { config, weights, model } = setup(small);
    const batch = randomBatch(config, [[5, 4], [6]], 3, 2);
    const M = batch.B * batch.T;
    const [[qPath, pair]] = randomLora(config, [{ layer: 0, module: 'q_proj', r: 2 }], 2);
    const missing = new Map(weights);
    missing.delete('model.layers.1.mlp.up_proj.weight');
    expect(() => referenceModel(config, missing)).toThrow(/up_proj\.weight is missing/);
    expect(() => referenceModel(config, new Map(weights).set('model.norm.weight', new Float64Array(3)))).toThrow(/model\.norm\.weight has 3 values/);
    expect(() => run(model, new Map([['model.layers.2.self_attn.q_proj', pair]]), batch)).toThrow(/not a projection/);
    expect(() => run(model, new Map([['model.layers.0.mlp.q_proj', pair]]), batch)).toThrow(/not a projection/);
    expect(() => run(model, new Map([[modulePath(0, 'o_proj'), { A: pair.A, B: pair.B.subarray(1) }]]), batch)).toThrow(/needs A/);
    const lora = new Map([[qPath, pair]]);
    expect(() => run(model, lora, batch, { dropoutMasks: new Map([[modulePath(0, 'v_proj'), new Float64Array(M * 32)]]) })).toThrow(/no LoRA pair/);
    expect(() => run(model, lora, batch, { dropoutMasks: new Map([[qPath, new Float64Array(M)]]) })).toThrow(/dropout mask/);
    expect(() => run(model, lora, { ...batch, numTargets: batch.numTargets + 1 })).toThrow(/numTargets/);
    const firstTrained = { ...batch, labels: batch.labels.map((y, i) => (i === 0 ? 1 : y)), numTargets: batch.numTargets + 1 };
    expect(() => run(model, lora, firstTrained)).toThrow(/numTargets/);
    expect(() => run(referenceModel({ ...config, slidingWindow: 4 }, weights), lora, batch)).toThrow(/sliding_window/);
    expect(run(referenceModel({ ...config, slidingWindow: 6 }, weights), lora, batch).loss).toBe(run(model, lora, batch).loss);
  });
});
