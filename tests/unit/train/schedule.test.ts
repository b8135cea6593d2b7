import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.ts';
import { lrForUpdate, lrLambda, lrSchedule, resolveWarmupSteps, trainingPlan, updateWindow, type LrSchedule } from '../../../src/train/schedule.ts';

// Every expected value below is worked out by hand from formats.md §5.6 (transformers'
// lr_lambda) with LambdaLR's convention: update k uses λ(k − 1).

const lr = 1e-3;
const sched = (kind: LrSchedule['kind'], totalSteps: number, warmupSteps: number): LrSchedule => ({ kind, lr, totalSteps, warmupSteps });
const rates = (s: LrSchedule, from = 1, to = s.totalSteps) => Array.from({ length: to - from + 1 }, (_, i) => lrForUpdate(from + i, s));

describe('linear', () => {
  it('without warmup starts at the full rate and ends at lr/T', () => {
    // λ(s) = (10 − s)/10
    const got = rates(sched('linear', 10, 0));
    const want = [1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1].map((x) => x * lr);
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 15));
    expect(lrForUpdate(11, sched('linear', 10, 0))).toBe(0);
  });

  it('with warmup the first update uses lr 0', () => {
    // s < 3: s/3; then (10 − s)/7
    const got = rates(sched('linear', 10, 3));
    const want = [0, 1 / 3, 2 / 3, 1, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7].map((x) => x * lr);
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 15));
  });

  it('a warmup longer than the run never leaves warmup', () => {
    expect(rates(sched('linear', 4, 8))).toEqual([0, 1 / 8, 2 / 8, 3 / 8].map((x) => x * lr));
  });
});

describe('cosine', () => {
  it('follows a half cosine after warmup', () => {
    const s = sched('cosine', 10, 2);
    // p = (s − 2)/8; λ = ½(1 + cos(π p))
    expect(lrForUpdate(1, s)).toBe(0);
    expect(lrForUpdate(2, s)).toBeCloseTo(0.5 * lr, 15);
    expect(lrForUpdate(3, s)).toBeCloseTo(lr, 15);
    expect(lrForUpdate(7, s)).toBeCloseTo(0.5 * lr, 15); // s = 6, p = ½
    expect(lrForUpdate(10, s)).toBeCloseTo(0.5 * (1 + Math.cos((7 * Math.PI) / 8)) * lr, 15); // s = 9
    expect(lrForUpdate(10, s)).toBeCloseTo(0.0380602337443566 * lr, 15);
    expect(lrLambda(10, s)).toBeCloseTo(0, 15);
  });
});

describe('constant', () => {
  it('is the base rate, with a warmup when one is set (constant_with_warmup)', () => {
    expect(rates(sched('constant', 5, 0))).toEqual([lr, lr, lr, lr, lr]);
    expect(rates(sched('constant', 6, 4))).toEqual([0, 0.25, 0.5, 0.75, 1, 1].map((x) => x * lr));
  });
});

describe('warmup steps', () => {
  it('uses warmup steps when above 0, else ceil(T · ratio) (transformers 4.x)', () => {
    expect(resolveWarmupSteps(100, 5, null)).toBe(5);
    expect(resolveWarmupSteps(100, null, 0.1)).toBe(10);
    expect(resolveWarmupSteps(25, null, 0.03)).toBe(1); // ceil(0.75)
    // 100 · 0.07 = 7.000000000000001 in binary floating point; Python's math.ceil gives 8 too.
    expect(resolveWarmupSteps(100, null, 0.07)).toBe(8);
    expect(resolveWarmupSteps(100, 0, 0.1)).toBe(10);
    expect(resolveWarmupSteps(100, null, null)).toBe(0);
  });

  it('builds the schedule record from settings', () => {
    expect(lrSchedule({ schedule: 'cosine', lr: 2e-4, warmupSteps: null, warmupRatio: 0.03 }, 210)).toEqual({ kind: 'cosine', lr: 2e-4, totalSteps: 210, warmupSteps: 7 });
  });

  it('numbers updates from 1', () => {
    expect(() => lrForUpdate(0, sched('linear', 10, 0))).toThrow(RangeError);
  });
});

describe('trainingPlan', () => {
  it('keeps the last partial micro-batch and the last partial accumulation window', () => {
    // 100 examples / 4 → 25 micro-batches; / 4 → 6 full windows + one of 1.
    const plan = trainingPlan({ examples: 100, batchSize: 4, gradAccum: 4, epochs: 3, maxSteps: null });
    expect(plan).toEqual({ microBatchesPerEpoch: 25, gradAccum: 4, stepsPerEpoch: 7, totalSteps: 21, epochsStarted: 3 });
    expect(updateWindow(1, plan)).toEqual({ epoch: 0, firstMicroBatch: 0, microBatches: 4 });
    expect(updateWindow(7, plan)).toEqual({ epoch: 0, firstMicroBatch: 24, microBatches: 1 });
    expect(updateWindow(8, plan)).toEqual({ epoch: 1, firstMicroBatch: 0, microBatches: 4 });
    expect(updateWindow(21, plan)).toEqual({ epoch: 2, firstMicroBatch: 24, microBatches: 1 });
  });

  it('every micro-batch of an epoch is consumed exactly once', () => {
    const plan = trainingPlan({ examples: 37, batchSize: 3, gradAccum: 5, epochs: 2, maxSteps: null });
    const seen = new Map<number, number>();
    for (let k = 1; k <= plan.totalSteps; k++) {
      const w = updateWindow(k, plan);
      seen.set(w.epoch, (seen.get(w.epoch) ?? 0) + w.microBatches);
    }
    expect([...seen.values()]).toEqual([13, 13]);
  });

  it('gives at least one step when the data is smaller than one window', () => {
    const plan = trainingPlan({ examples: 3, batchSize: 4, gradAccum: 4, epochs: 3, maxSteps: null });
    expect(plan.stepsPerEpoch).toBe(1);
    expect(plan.totalSteps).toBe(3);
    expect(updateWindow(2, plan)).toEqual({ epoch: 1, firstMicroBatch: 0, microBatches: 1 });
  });

  it('rounds fractional epochs up and lets max steps override epochs', () => {
    expect(trainingPlan({ examples: 100, batchSize: 4, gradAccum: 4, epochs: 1.5, maxSteps: null }).totalSteps).toBe(11); // ceil(10.5)
    const plan = trainingPlan({ examples: 100, batchSize: 4, gradAccum: 4, epochs: 1, maxSteps: 50 });
    expect(plan.totalSteps).toBe(50);
    expect(plan.epochsStarted).toBe(8);
  });

  it('takes the batcher’s micro-batch count when given (packing)', () => {
    expect(trainingPlan({ examples: 1000, batchSize: 4, gradAccum: 2, epochs: 1, maxSteps: null, microBatchesPerEpoch: 9 }).totalSteps).toBe(5);
  });

  it('refuses an empty training set as bad input', () => {
    expect(() => trainingPlan({ examples: 0, batchSize: 4, gradAccum: 4, epochs: 1, maxSteps: null })).toThrow(InputError);
  });
});
