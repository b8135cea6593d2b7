import { afterEach, beforeAll, expect, it, vi } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import type { Recorder } from '../../src/engine/recorder.ts';
import { readBuffer } from '../../src/engine/readback.ts';
import type { Batch, TokenRow } from '../../src/data/batch.ts';
import { Batcher } from '../../src/data/sampler.ts';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../../src/train/config.ts';
import { lrForUpdate } from '../../src/train/schedule.ts';
import { Trainer, TrainingDivergedError } from '../../src/train/trainer.ts';
import type { ParamSlice, TrainableModel } from '../../src/train/trainable.ts';
import { checkpointFiles, parseCheckpoint, type Checkpoint } from '../../src/train/checkpoint.ts';
import { adamwStep as referenceAdamw } from '../reference/adamw.ts';
import { gradNorm as referenceGradNorm } from '../reference/grad_norm.ts';

// The trainer's semantics with a scripted model: the model's "gradient" for a micro-batch is
// chosen by the test, its loss is numTargets·2 (so every step's mean loss is 2), and it records
// what the trainer asked of it. AdamW and the grad norm are the real GPU kernels.

const N = 6; // parameters

class ScriptedModel implements TrainableModel {
  readonly param: GPUBuffer;
  readonly grad: GPUBuffer;
  private readonly loss: GPUBuffer;
  private readonly evalLoss: GPUBuffer;
  private batch: Batch | null = null;
  readonly calls: { firstId: number; targets: number; gradScale: number; zeroGrads: boolean; dropoutSeed: number }[] = [];

  constructor(
    private readonly rt: Runtime,
    /** The gradient a micro-batch contributes, from its first token id. */
    private readonly gradFor: (firstId: number) => number[],
  ) {
    this.param = rt.arena.createBuffer('param', N * 4, 'lora');
    this.grad = rt.arena.createBuffer('grad', N * 4, 'lora');
    this.loss = rt.arena.createBuffer('loss', 4, 'scratch');
    this.evalLoss = rt.arena.createBuffer('eval loss', 4, 'scratch');
    rt.device.queue.writeBuffer(this.param, 0, new Float32Array(N).fill(0.5));
  }

  uploadBatch(batch: Batch): void {
    this.batch = batch;
  }

  recordTrainStep(rec: Recorder, o: { gradScale: number; dropoutSeed: number; zeroGrads: boolean }): void {
    const b = this.batch!;
    this.calls.push({ firstId: b.inputIds[0], targets: b.numTargets, gradScale: o.gradScale, zeroGrads: o.zeroGrads, dropoutSeed: o.dropoutSeed });
    // Gradient of this micro-batch, scaled as the model would: gradScale · Σ over its targets.
    const g = Float32Array.from(this.gradFor(b.inputIds[0]), (x) => x * b.numTargets * o.gradScale);
    const host = o.zeroGrads ? g : Float32Array.from(this.pendingGrad!, (x, i) => x + g[i]);
    this.pendingGrad = host;
    this.rt.device.queue.writeBuffer(this.grad, 0, host);
    const loss = (o.zeroGrads ? 0 : this.pendingLoss) + 2 * b.numTargets;
    this.pendingLoss = loss;
    this.rt.device.queue.writeBuffer(this.loss, 0, new Float32Array([loss]));
    rec.clear(this.evalLoss, 0, 4); // something recorded, as a real step would
  }

  private pendingGrad: Float32Array | null = null;
  private pendingLoss = 0;
  private pendingEval = 0;

  recordEvalLoss(rec: Recorder, o: { zeroLoss?: boolean }): void {
    this.pendingEval = (o.zeroLoss ? 0 : this.pendingEval) + 3 * this.batch!.numTargets;
    this.rt.device.queue.writeBuffer(this.evalLoss, 0, new Float32Array([this.pendingEval]));
    rec.clear(this.loss, 0, 0);
  }

  async readLossSum(): Promise<number> {
    return new Float32Array(await readBuffer(this.rt.device, this.loss, 0, 4))[0];
  }

  async readEvalLossSum(): Promise<number> {
    return new Float32Array(await readBuffer(this.rt.device, this.evalLoss, 0, 4))[0];
  }

  async exportLora(): Promise<Map<string, { A: Float32Array; B: Float32Array }>> {
    const A = new Float32Array(await readBuffer(this.rt.device, this.param, 0, N * 4));
    return new Map([['p', { A, B: new Float32Array(0) }]]);
  }

  importLora(weights: ReadonlyMap<string, { A: Float32Array; B: Float32Array }>): void {
    const A = weights.get('p')!.A;
    this.rt.device.queue.writeBuffer(this.param, 0, A.buffer as ArrayBuffer, A.byteOffset, A.byteLength);
  }

  loraParameters(): ParamSlice[] {
    return [{ buffer: this.param, count: N }];
  }

  loraGradients(): ParamSlice[] {
    return [{ buffer: this.grad, count: N }];
  }
}

/** Example i: token ids [i, …] with `targets` trained labels. */
function examples(targets: number[]): TokenRow[] {
  return targets.map((t, i) => {
    const n = t + 1;
    const inputIds = Int32Array.from({ length: n }, (_, k) => (k === 0 ? i : 1000 + k));
    const labels = Int32Array.from({ length: n }, (_, k) => (k === 0 ? -100 : 1000 + k));
    return { inputIds, labels };
  });
}

function config(overrides: Partial<TrainConfig>): TrainConfig {
  return { ...DEFAULT_TRAIN_CONFIG, shuffle: false, ...overrides };
}

describeGpu('trainer semantics', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterEach(() => rt.arena.releaseAll());

  it('normalizes by the trained targets of the whole accumulation window, in file order, last partial micro-batch kept', async () => {
    const targets = [3, 5, 2, 7, 4];
    const model = new ScriptedModel(rt, () => [1, 0, 0, 0, 0, 0]);
    const train = new Batcher(examples(targets), 0, { batchSize: 2, order: 'file', maxLength: 64 });
    const trainer = new Trainer(rt, model, config({ batchSize: 2, gradAccum: 2, epochs: 1, maxSteps: null, warmupSteps: 1 }), { train });
    expect(trainer.plan).toMatchObject({ microBatchesPerEpoch: 3, stepsPerEpoch: 2, totalSteps: 2 });
    const result = await trainer.run();
    // Step 1: micro-batches {0,1} and {2,3}: 17 targets. Step 2: the partial {4}: 4 targets.
    expect(model.calls.map((c) => c.firstId)).toEqual([0, 2, 4]);
    expect(model.calls.map((c) => c.zeroGrads)).toEqual([true, false, true]);
    expect(model.calls.map((c) => c.gradScale)).toEqual([1 / 17, 1 / 17, 1 / 4]);
    expect(result.steps.map((s) => s.loss)).toEqual([2, 2]);
    // The rate logged for a step is the one it used: warmup 1 ⇒ update 1 at lr 0.
    expect(result.steps.map((s) => s.lr)).toEqual([1, 2].map((k) => lrForUpdate(k, trainer.schedule)));
    expect(result.steps[0].lr).toBe(0);
    // Dropout seeds differ per micro-batch.
    expect(new Set(model.calls.map((c) => c.dropoutSeed)).size).toBe(3);
  });

  it('clips by global norm (reporting the norm before clipping) and applies AdamW exactly as torch', async () => {
    const grads: Record<number, number[]> = { 0: [3, 4, 0, 0, 1, -2], 1: [0.1, -0.2, 0.3, 0.05, 0, 0.4] };
    const model = new ScriptedModel(rt, (id) => grads[id]);
    const train = new Batcher(examples([2, 2]), 0, { batchSize: 1, order: 'file', maxLength: 64 });
    const cfg = config({ batchSize: 1, gradAccum: 1, epochs: 1, maxSteps: null, lr: 0.1, schedule: 'constant', maxGradNorm: 1, weightDecay: 0.01 });
    const optimizerBytes = rt.arena.report().live.optimizer;
    const trainer = new Trainer(rt, model, cfg, { train });
    expect(rt.arena.report().live.optimizer - optimizerBytes).toBe(2 * N * 4);
    const result = await trainer.run();
    const state = { param: new Float64Array(N).fill(0.5), m: new Float64Array(N), v: new Float64Array(N) };
    const hyper = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    [0, 1].forEach((id, i) => {
      const { norm, clipCoef } = referenceGradNorm([grads[id]], 1);
      expect(result.steps[i].gradNorm).toBeCloseTo(norm, 5);
      referenceAdamw(state, grads[id], i + 1, hyper, clipCoef);
    });
    const param = new Float32Array(await readBuffer(rt.device, model.param, 0, N * 4));
    param.forEach((p, i) => expect(p).toBeCloseTo(state.param[i], 5));
    // A finished run gives its moments back (the worker trains many runs on one loaded model).
    trainer.release();
    expect(rt.arena.report().live.optimizer).toBe(optimizerBytes);
  });

  it('leaves time held between steps (a pause) out of elapsed time', async () => {
    const model = new ScriptedModel(rt, () => [1, 0, 0, 0, 0, 0]);
    const train = new Batcher(examples([2, 2, 2]), 0, { batchSize: 1, order: 'file', maxLength: 64 });
    // A clock the test moves: holding before step 2 "takes" an hour.
    let offset = 0;
    const now = performance.now.bind(performance);
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now() + offset);
    try {
      const trainer = new Trainer(rt, model, config({ batchSize: 1, gradAccum: 1, epochs: 1, maxSteps: null }), { train }, {
        beforeStep: async (k) => {
          if (k === 2) offset += 3_600_000;
        },
      });
      const { steps } = await trainer.run();
      expect(steps).toHaveLength(3);
      expect(steps[2].elapsedS).toBeLessThan(3600);
      expect(steps[1].elapsedS).toBeGreaterThanOrEqual(steps[0].elapsedS);
    } finally {
      clock.mockRestore();
    }
  });

  it('skips a step whose gradients are not finite, without moving AdamW, and stops after 3 in a row', async () => {
    const bad = [NaN, 0, 0, 0, 0, 0];
    const model = new ScriptedModel(rt, (id) => (id >= 1 ? bad : [1, 1, 1, 1, 1, 1]));
    const train = new Batcher(examples([2, 2, 2, 2, 2]), 0, { batchSize: 1, order: 'file', maxLength: 64 });
    const events: string[] = [];
    const steps: boolean[] = [];
    const trainer = new Trainer(rt, model, config({ batchSize: 1, gradAccum: 1, epochs: 1, maxSteps: null, schedule: 'constant' }), { train }, { onEvent: (e) => events.push(e), onStep: (m) => steps.push(m.skipped) });
    expect(trainer.plan.totalSteps).toBe(5);
    await expect(trainer.run()).rejects.toThrow(TrainingDivergedError);
    expect(steps).toEqual([false, true, true, true]);
    expect(events.filter((e) => /not finite/.test(e))).toHaveLength(3);
    // Only the first (finite) update touched the parameters: lr·sign(g) from 0.5 (weight decay 0.01).
    const param = new Float32Array(await readBuffer(rt.device, model.param, 0, N * 4));
    const expected = 0.5 * (1 - 2e-4 * 0.01) - 2e-4;
    param.forEach((p) => expect(p).toBeCloseTo(expected, 6));
  });

  it('resumes from a checkpoint exactly: same parameters, moments, counters and history as an unbroken run', async () => {
    const grads: Record<number, number[]> = { 0: [1, -2, 3, 0.5, 0, 1], 1: [0.2, 0.1, -0.3, 2, 1, 0], 2: [NaN, 0, 0, 0, 0, 0], 3: [-1, 1, -1, 1, -1, 1], 4: [0.3, 0.3, 0.3, 0.1, 0.2, 0.9] };
    const cfg = config({ batchSize: 1, gradAccum: 1, epochs: 1, maxSteps: null, lr: 0.05, checkpointEvery: 3 });
    const data = () => ({ train: new Batcher(examples([2, 3, 2, 4, 1]), 0, { batchSize: 1, order: 'file', maxLength: 64 }) });
    const whole = new ScriptedModel(rt, (id) => grads[id]);
    const unbroken = await new Trainer(rt, whole, cfg, data()).run();
    const expected = new Float32Array(await readBuffer(rt.device, whole.param, 0, N * 4));

    const saved: Checkpoint[] = [];
    const first = new ScriptedModel(rt, (id) => grads[id]);
    const controller = new AbortController();
    await new Trainer(rt, first, cfg, data(), {
      onCheckpoint: async (c) => {
        saved.push(await parseCheckpoint(checkpointFiles(c), 'mem'));
        controller.abort(); // "crash" right after the step-3 checkpoint
      },
    }).run(controller.signal);
    expect(saved.map((c) => c.state.step)).toEqual([3]);
    expect(saved[0].state.applied).toBe(2); // step 3 was skipped (NaN)

    const second = new ScriptedModel(rt, (id) => grads[id]);
    const resumed = new Trainer(rt, second, cfg, data());
    resumed.restore(saved[0]);
    const result = await resumed.run();
    expect(second.calls.map((c) => c.firstId)).toEqual([3, 4]);
    expect(result.steps.map((s) => [s.step, s.loss, s.lr, s.skipped])).toEqual(unbroken.steps.map((s) => [s.step, s.loss, s.lr, s.skipped]));
    expect(new Float32Array(await readBuffer(rt.device, second.param, 0, N * 4))).toEqual(expected);
  });

  it('evaluates at the end of every epoch and every evalEvery updates, over the whole eval set', async () => {
    const model = new ScriptedModel(rt, () => [0, 0, 0, 0, 0, 1]);
    const train = new Batcher(examples([1, 1, 1, 1]), 0, { batchSize: 1, order: 'file', maxLength: 64 });
    const evalSet = new Batcher(examples([2, 3, 4]), 0, { batchSize: 2, order: 'file', maxLength: 64 });
    const result = await new Trainer(rt, model, config({ batchSize: 1, gradAccum: 1, epochs: 2, maxSteps: null, evalEvery: 3 }), { train, eval: evalSet }).run();
    expect(result.evals.map((e) => e.step)).toEqual([3, 4, 6, 8]);
    expect(result.evals.every((e) => e.evalLoss === 3)).toBe(true);
  });
});
