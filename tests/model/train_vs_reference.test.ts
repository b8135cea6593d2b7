import { afterEach, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { TINY_PRESETS } from '../fixtures/tiny_model.ts';
import { loadTiny, loraOptions } from './model_setup.ts';
import { referenceForwardBackward, type LoraWeights } from '../reference/model.ts';
import { adamwStep as referenceAdamw, type AdamwState } from '../reference/adamw.ts';
import { gradNorm as referenceGradNorm } from '../reference/grad_norm.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { collate, type TokenRow } from '../../src/data/batch.ts';
import { Batcher } from '../../src/data/sampler.ts';
import { Model } from '../../src/model/model.ts';
import { loraScaling } from '../../src/model/lora_targets.ts';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../../src/train/config.ts';
import { lrForUpdate } from '../../src/train/schedule.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { rng } from '../helpers/rng.ts';

// Five optimizer steps of the real GPU trainer (model, loss normalization over an accumulation
// window, global-norm clipping, AdamW, LR schedule) against the same five steps done in float64
// with the reference model and the reference optimizer: the losses must match step by step.

const MODULES = ['q_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'] as const;

describeGpu('training steps against the float64 reference', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterEach(() => rt.arena.releaseAll());

  for (const quant of ['none', 'nf4'] as const) {
    it(`five optimizer steps give the reference's losses (${quant} base, grad-accum 2, clipping on)`, async () => {
      const preset = { ...TINY_PRESETS.llamaOddTied, vocabSize: 61, hiddenSize: 32, intermediateSize: 48, numHeads: 4, numKvHeads: 2 };
      const { base, reference } = await loadTiny(rt, preset, quant);
      const V = base.config.vocabSize;
      const r = rng(5);
      const examples: TokenRow[] = [5, 9, 4, 7, 11, 6, 8, 3, 10, 5].map((n) => {
        const inputIds = Int32Array.from({ length: n }, () => r.int(0, V));
        const labels = Int32Array.from(inputIds, (id, t) => (t < 2 ? -100 : id));
        return { inputIds, labels };
      });
      const config: TrainConfig = {
        ...DEFAULT_TRAIN_CONFIG,
        batchSize: 1,
        gradAccum: 2,
        maxSteps: 5,
        lr: 0.05,
        warmupSteps: 1,
        maxGradNorm: 0.5,
        weightDecay: 0.01,
        loraR: 4,
        loraAlpha: 8,
        loraDropout: 0,
        targetModules: [...MODULES],
        shuffle: false,
      };
      const model = new Model(rt, base, loraOptions(MODULES, { r: 4, alpha: 8, maxBatch: 1, maxSeq: 16 }));
      // Non-zero B so every gradient flows from the first step.
      const start = await model.exportLora();
      for (const [, pair] of start) pair.B.forEach((_, i) => (pair.B[i] = Math.sin(i + 1) * 0.1));
      model.importLora(start);

      const train = new Batcher(examples, 0, { batchSize: 1, order: 'file', maxLength: 16 });
      const trainer = new Trainer(rt, model, config, { train });
      const gpu = await trainer.run();

      // The same five steps in float64.
      const lora = new Map<string, LoraWeights>([...start].map(([p, { A, B }]) => [p, { A: Float64Array.from(A), B: Float64Array.from(B) }]));
      const state = new Map<string, { A: AdamwState; B: AdamwState }>([...lora].map(([p, w]) => [p, { A: adam(w.A), B: adam(w.B) }]));
      const scaling = loraScaling(8, 4, false);
      const hyper = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
      const expected: number[] = [];
      for (let k = 1; k <= 5; k++) {
        const window = [2 * (k - 1), 2 * (k - 1) + 1].map((i) => collate(examples, [[i]], 0, 8));
        const targets = window.reduce((n, b) => n + b.numTargets, 0);
        let lossSum = 0;
        const grads = new Map<string, { dA: Float64Array; dB: Float64Array }>();
        for (const batch of window) {
          const res = referenceForwardBackward(reference, lora, scaling, batch, { gradScale: 1 / targets });
          lossSum += res.lossSum;
          for (const [p, g] of res.grads) {
            const acc = grads.get(p);
            if (!acc) grads.set(p, { dA: Float64Array.from(g.dA), dB: Float64Array.from(g.dB) });
            else {
              g.dA.forEach((x, i) => (acc.dA[i] += x));
              g.dB.forEach((x, i) => (acc.dB[i] += x));
            }
          }
        }
        expected.push(lossSum / targets);
        const { clipCoef } = referenceGradNorm([...grads.values()].flatMap((g) => [g.dA, g.dB]), 0.5);
        const lr = lrForUpdate(k, trainer.schedule);
        for (const [p, g] of grads) {
          const s = state.get(p)!;
          referenceAdamw(s.A, g.dA, k, { lr, ...hyper }, clipCoef);
          referenceAdamw(s.B, g.dB, k, { lr, ...hyper }, clipCoef);
          lora.set(p, { A: s.A.param, B: s.B.param });
        }
      }
      const got = gpu.steps.map((s) => s.loss);
      expect(got).toHaveLength(5);
      got.forEach((loss, i) => expect(loss, `step ${i + 1}`).toBeCloseTo(expected[i], 4));
      // The run learned something: the reference loss moved between step 1 and 5.
      expect(Math.abs(expected[4] - expected[0])).toBeGreaterThan(0.01);
    });
  }
});

function adam(param: Float64Array): AdamwState {
  return { param: Float64Array.from(param), m: new Float64Array(param.length), v: new Float64Array(param.length) };
}
