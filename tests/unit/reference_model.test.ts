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

// The whole-model reference (tests/reference/model.ts): every LoRA gradient against central
// finite differences of the loss in float64, and the forward against known answers and
// equivalences that do not share its code path (merged weights, unpacked rows, folded biases).

type Target = { layer: number; module: LinearModule; r: number };

const SCALING = loraScaling(16, 8, false); // 2

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
  const small: TinyModelOptions = { architecture: 'llama', vocabSize: 53, hiddenSize: 32, intermediateSize: 40 };
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
