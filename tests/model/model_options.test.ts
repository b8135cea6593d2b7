import { afterEach, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { exact, expectClose, type Tolerance } from '../helpers/tolerance.ts';
import type { TinyModelOptions } from '../fixtures/tiny_model.ts';
import { loraDropoutMaskRef } from '../reference/lora_dropout.ts';
import { referenceForwardBackward, type ReferenceModel } from '../reference/model.ts';
import { randomBatch, randomLora } from '../reference/model_random.ts';
import type { Batch } from '../../src/data/batch.ts';
import { BufferTooLargeError } from '../../src/engine/errors.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { LINEAR_MODULES } from '../../src/formats/tensor_names.ts';
import { loraDropoutKey } from '../../src/kernels/lora_dropout.ts';
import { linearShapes } from '../../src/model/lora_targets.ts';
import { Model, type ModelOptions } from '../../src/model/model.ts';
import type { LoraArrays } from '../../src/model/lora_params.ts';
import { loadTiny, loraOptions, toF32 } from './model_setup.ts';

// Training-time options of the GPU model: LoRA dropout (the exact masks the reference is given,
// regenerated from the seed in the backward), gradient accumulation over micro-batches, the eval
// loss, and per-layer gradient checkpointing (bit-identical gradients, less activation memory).
// A 3-layer Llama (so checkpointing recomputes more than one layer), f32 base, every projection.

const MODEL: TinyModelOptions = { architecture: 'llama', vocabSize: 53, hiddenSize: 24, intermediateSize: 36, numHeads: 4, numKvHeads: 2, numLayers: 3 };
const P = 0.3;
const R = 3;
const relative: Tolerance = { name: 'relative to max', atol: 0, rtol: 2e-4, reason: 'f32 through three layers vs float64' };

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  let max = 0;
  for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(expected[i]));
  expectClose(actual, expected, { ...relative, atol: relative.rtol * max }, what);
}

let rt: Runtime;
let reference: ReferenceModel;
let base: Awaited<ReturnType<typeof loadTiny>>['base'];
let batch: Batch;
let lora: ReturnType<typeof toF32>;

beforeAll(async () => {
  if (gpuMissing) return;
  rt = await gpuRuntime();
  ({ base, reference } = await loadTiny(rt, MODEL, 'none', 21));
  batch = randomBatch(base.config, [[4, 5], [7]], 3);
  const targets = LINEAR_MODULES.flatMap((module) => [0, 1, 2].map((layer) => ({ layer, module, r: R })));
  lora = toF32(randomLora(base.config, targets, 9));
});
afterEach(() => {
  for (const m of models.splice(0)) m.release();
});

const models: Model[] = [];
function model(options: Partial<ModelOptions> & { dropout?: number }): Model {
  const m = new Model(rt, base, loraOptions(LINEAR_MODULES, { r: R, alpha: 5, maxSeq: 16, ...options }));
  models.push(m);
  m.importLora(lora.gpu);
  return m;
}

async function step(m: Model, b: Batch, options: { gradScale: number; dropoutSeed: number; zeroGrads: boolean }) {
  m.uploadBatch(b);
  await rt.run('step', (rec) => m.recordTrainStep(rec, options));
}

/** The masks the model draws for micro-batch seed `seed`, in the reference's layout (M·in per target). */
function masksFor(seed: number, tokens: number): Map<string, Float64Array> {
  const shapes = linearShapes(base.config);
  const masks = new Map<string, Float64Array>();
  for (const pair of lora.gpu.keys()) {
    const [, layer, module] = /^model\.layers\.(\d+)\.\w+\.(\w+)$/.exec(pair)!;
    const slot = Number(layer) * LINEAR_MODULES.length + LINEAR_MODULES.indexOf(module as (typeof LINEAR_MODULES)[number]);
    masks.set(pair, loraDropoutMaskRef(loraDropoutKey(seed, slot), P, tokens * shapes.get(module as never)!.inFeatures));
  }
  return masks;
}

function flatGrads(grads: Map<string, { dA: Float32Array; dB: Float32Array }>): Float32Array {
  return Float32Array.from([...grads.values()].flatMap((g) => [...g.dA, ...g.dB]));
}

describeGpu('model options', () => {
  it('dropout: the reference given the same masks agrees; same seed, same gradients; eval has none', async () => {
    const m = model({ dropout: P });
    const gradScale = 1 / batch.numTargets;
    await step(m, batch, { gradScale, dropoutSeed: 1234, zeroGrads: true });
    const ref = referenceForwardBackward(reference, lora.ref, m.lora!.scaling, batch, { gradScale, dropoutMasks: masksFor(1234, batch.B * batch.T) });
    expect(await m.readLossSum()).toBeCloseTo(ref.lossSum, 3);
    const grads = await m.lora!.exportGradients();
    for (const [path, g] of grads) {
      expectNear(g.dA, ref.grads.get(path)!.dA, `${path} dA`);
      expectNear(g.dB, ref.grads.get(path)!.dB, `${path} dB`);
    }
    const first = flatGrads(grads);
    await step(m, batch, { gradScale, dropoutSeed: 1234, zeroGrads: true });
    expectClose(flatGrads(await m.lora!.exportGradients()), first, exact, 'same seed');
    await step(m, batch, { gradScale, dropoutSeed: 1235, zeroGrads: true });
    expect(flatGrads(await m.lora!.exportGradients())).not.toEqual(first);
    // Dropout is a training-time op: logits (eval) are those of a dropout-0 model.
    const none = model({ dropout: 0 });
    expectClose(await m.logits(batch), await none.logits(batch), exact, 'eval logits with dropout configured');
    // Dropout 0 trains like the reference without masks.
    await step(none, batch, { gradScale, dropoutSeed: 1234, zeroGrads: true });
    const plain = referenceForwardBackward(reference, lora.ref, none.lora!.scaling, batch, { gradScale });
    for (const [path, g] of await none.lora!.exportGradients()) expectNear(g.dA, plain.grads.get(path)!.dA, `${path} dA, p = 0`);
  });

  it('accumulates micro-batches into one step (β = 1), and the eval loss is the reference loss sum', async () => {
    const m = model({});
    const other = randomBatch(base.config, [[9], [3, 3]], 4);
    const targets = batch.numTargets + other.numTargets;
    await step(m, batch, { gradScale: 1 / targets, dropoutSeed: 1, zeroGrads: true });
    await step(m, other, { gradScale: 1 / targets, dropoutSeed: 2, zeroGrads: false });
    const a = referenceForwardBackward(reference, lora.ref, m.lora!.scaling, batch, { gradScale: 1 / targets });
    const b = referenceForwardBackward(reference, lora.ref, m.lora!.scaling, other, { gradScale: 1 / targets });
    expect(await m.readLossSum()).toBeCloseTo(a.lossSum + b.lossSum, 3);
    for (const [path, g] of await m.lora!.exportGradients()) {
      const sum = (x: Float64Array, y: Float64Array) => x.map((v, i) => v + y[i]);
      expectNear(g.dA, sum(a.grads.get(path)!.dA, b.grads.get(path)!.dA), `${path} dA`);
      expectNear(g.dB, sum(a.grads.get(path)!.dB, b.grads.get(path)!.dB), `${path} dB`);
    }
    for (const [i, bt] of [batch, other].entries()) {
      m.uploadBatch(bt);
      await rt.run('eval', (rec) => m.recordEvalLoss(rec, { zeroLoss: i === 0 }));
    }
    expect(await m.readEvalLossSum()).toBeCloseTo(a.lossSum + b.lossSum, 3);
  });

  it('gradient checkpointing gives bit-identical gradients and loss with (L − 1) layer sets less memory', async () => {
    const off = model({ dropout: P, gradCheckpointing: false });
    const activationsOff = rt.arena.report().live.activations;
    const on = model({ dropout: P, gradCheckpointing: true });
    const activationsOn = rt.arena.report().live.activations - activationsOff;
    const options = { gradScale: 1 / batch.numTargets, dropoutSeed: 77, zeroGrads: true };
    let dispatches = 0;
    for (const m of [off, on]) {
      m.uploadBatch(batch);
      await rt.run('step', (rec) => (dispatches = m.recordTrainStep(rec, options)));
      // Per layer with dropout on all seven projections: 34 forward + 56 backward dispatches;
      // around the layers 7 (embedding, final norm, lm_head + CE + dX in one chunk, loss sum, final
      // norm backward). Checkpointing recomputes all but the last layer: 34 − 2 (no down output).
      expect(dispatches).toBe(7 + 3 * 90 + (m.options.gradCheckpointing ? 2 * 32 : 0));
    }
    expect(await on.readLossSum()).toBe(await off.readLossSum());
    expectClose(flatGrads(await on.lora!.exportGradients()), flatGrads(await off.lora!.exportGradients()), exact, 'checkpointed gradients');
    expect(on.memory.checkpointingSavedBytes).toBe(2 * on.memory.layerActivationBytes);
    expect(off.memory.checkpointingSavedBytes).toBe(0);
    expect(activationsOff - activationsOn).toBe(on.memory.checkpointingSavedBytes);
  });

  it('refuses batches larger than its plan and imports that do not match its targets; release gives back every buffer', async () => {
    const live = rt.arena.report().liveTotal;
    const m = new Model(rt, base, loraOptions(LINEAR_MODULES, { r: R, maxSeq: 8 }));
    expect(() => m.uploadBatch(batch)).toThrow(/does not fit/);
    const wrong = new Map<string, LoraArrays>([...lora.gpu].slice(1));
    expect(() => m.importLora(wrong)).toThrow(/missing/);
    m.release();
    expect(rt.arena.report().liveTotal).toBe(live);
    // An activation that outgrows one binding is refused before training, and nothing stays allocated.
    const small = await gpuRuntime({ maxBindingBytes: 1024 });
    expect(() => new Model(small, base, loraOptions(LINEAR_MODULES, { r: R }))).toThrow(BufferTooLargeError);
    expect(small.arena.report().liveTotal).toBe(0);
  });

  it("refuses rows longer than a sliding-window model's window (it would differ from full attention there)", async () => {
    const { base: windowed } = await loadTiny(rt, { architecture: 'mistral', vocabSize: 67, hiddenSize: 32, intermediateSize: 48, numHeads: 4, numKvHeads: 2, configOverrides: { sliding_window: 8 } }, 'none');
    expect(() => new Model(rt, windowed, loraOptions(LINEAR_MODULES, { r: R, maxSeq: 16 }))).toThrow(/sliding-window attention over 8 tokens/);
    expect(() => new Model(rt, windowed, loraOptions(LINEAR_MODULES, { r: R, maxSeq: 8 })).release()).not.toThrow();
  });
});
