import { afterEach, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { exact, expectClose, type Tolerance } from '../helpers/tolerance.ts';
import { TINY_PRESETS, type TinyModelOptions } from '../fixtures/tiny_model.ts';
import { referenceForwardBackward } from '../reference/model.ts';
import { randomBatch, randomLora } from '../reference/model_random.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { LINEAR_MODULES } from '../../src/formats/tensor_names.ts';
import { Model } from '../../src/model/model.ts';
import { loadTiny, loraOptions, toF32 } from './model_setup.ts';

// The whole model on the GPU against the float64 reference (tests/reference/model.ts): logits,
// loss sum and every LoRA gradient, on seeded O(1) weights with random nonzero A and B, packed
// rows (two examples in one row) and padding, each architecture's peculiarity, f32 and NF4 bases
// (the reference then runs on the dequantized NF4 weights the GPU holds). And with PEFT's B = 0,
// the logits are the base model's, bit for bit.

// f32 through two layers, attention and a softmax over the vocabulary, against float64: the
// error of a value grows with the magnitude of the terms summed into it, so it is bounded
// relative to the largest value of the tensor (an O(1) logit, a gradient's largest entry).
const chained: Tolerance = { name: 'chained', atol: 0, rtol: 0, reason: 'relative to the tensor max' };
const RELATIVE = 2e-4;

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  let max = 0;
  for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(expected[i]));
  expectClose(actual, expected, { ...chained, atol: RELATIVE * max, rtol: RELATIVE }, what);
}

interface Case {
  name: string;
  model: TinyModelOptions;
  quant: 'nf4' | 'none';
  /** Example lengths packed into each row. */
  rows: number[][];
  r: number;
  lossChunkRows?: number;
  /** Pretend one binding holds this many bytes, so embed / lm_head are split in row chunks. */
  maxBindingBytes?: number;
}

const CASES: Case[] = [
  {
    name: 'Llama GQA 4:2, untied, attention and MLP biases, f32 base, loss in 5 chunks',
    model: { architecture: 'llama', vocabSize: 61, hiddenSize: 32, intermediateSize: 40, numHeads: 4, numKvHeads: 2, attentionBias: true, mlpBias: true },
    quant: 'none',
    rows: [[5, 6], [9]],
    r: 4,
    lossChunkRows: 7,
  },
  {
    name: 'Llama untied with embed and lm_head split over bindings, loss in 2 chunks',
    model: { architecture: 'llama', vocabSize: 61, hiddenSize: 32, intermediateSize: 40, numHeads: 4, numKvHeads: 2 },
    quant: 'none',
    rows: [[9], [3, 4]],
    r: 2,
    maxBindingBytes: 6144,
  },
  { name: 'Qwen2 q/k/v biases, NF4 base', model: TINY_PRESETS.qwen2, quant: 'nf4', rows: [[7], [4, 3]], r: 3 },
  { name: 'Qwen3 q/k norm, head_dim 12 ≠ hidden/heads, tied, f32 base', model: TINY_PRESETS.qwen3, quant: 'none', rows: [[3, 5], [6]], r: 4 },
  { name: 'Llama odd sizes, MQA 3:1, tied, NF4 base', model: TINY_PRESETS.llamaOddTied, quant: 'nf4', rows: [[6], [2, 4]], r: 5 },
];

let shared: Runtime;
let rt: Runtime;
beforeAll(async () => {
  if (!gpuMissing) shared = await gpuRuntime();
});
afterEach(() => rt?.arena.releaseAll());

describeGpu('whole model against the float64 reference', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      rt = c.maxBindingBytes ? await gpuRuntime({ maxBindingBytes: c.maxBindingBytes }) : shared;
      const { base, reference } = await loadTiny(rt, c.model, c.quant);
      if (c.maxBindingBytes) expect(base.weights.lmHead.chunks.length).toBeGreaterThan(1);
      const config = base.config;
      const batch = randomBatch(config, c.rows, 5);
      expect(batch.segmentIds).toContain(2); // packed
      expect(batch.segmentIds).toContain(0); // padded
      const model = new Model(rt, base, loraOptions(LINEAR_MODULES, { r: c.r, alpha: 2 * c.r + 1, lossChunkRows: c.lossChunkRows }));
      const plain = new Model(rt, base, { lora: null, maxBatch: 2, maxSeq: 16, gradCheckpointing: false });

      // PEFT init (B = 0): the adapter is an exact no-op.
      expectClose(await model.logits(batch), await plain.logits(batch), exact, 'logits with B = 0 vs the base model');

      const lora = toF32(randomLora(config, LINEAR_MODULES.flatMap((module) => [0, 1].map((layer) => ({ layer, module, r: c.r }))), 7));
      model.importLora(lora.gpu);
      const scaling = model.lora!.scaling;
      const ref = referenceForwardBackward(reference, lora.ref, scaling, batch, { gradScale: 1 / batch.numTargets });
      expectNear(await model.logits(batch), ref.logits, 'logits');

      model.uploadBatch(batch);
      await rt.run('train step', (rec) => model.recordTrainStep(rec, { gradScale: 1 / batch.numTargets, dropoutSeed: 0, zeroGrads: true }));
      expect(await model.readLossSum()).toBeCloseTo(ref.lossSum, 3);
      const grads = await model.lora!.exportGradients();
      expect([...grads.keys()].sort()).toEqual([...ref.grads.keys()].sort());
      for (const [path, g] of grads) {
        expectNear(g.dA, ref.grads.get(path)!.dA, `${path} dA`);
        expectNear(g.dB, ref.grads.get(path)!.dB, `${path} dB`);
      }
    });
  }
});
