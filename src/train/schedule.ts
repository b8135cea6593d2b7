import { InputError } from '../errors.ts';

// Learning-rate schedules and the step count, as pure functions (formats.md §5.5, §5.6, §8.13).
//
// transformers builds a LambdaLR whose multiplier λ(s) is a function of the scheduler's step
// counter s, and steps the scheduler AFTER the optimizer. So optimizer update k (k = 1 … T) uses
//     lr_k = lr · λ(k − 1)
// which is what lrForUpdate returns and what the trainer logs for step k. With warmup W > 0 the
// first update uses lr 0; without warmup, linear starts at the full lr and ends at lr/T.
//
//   warmup (s < W)   λ = s / max(1, W)                                    (all three kinds)
//   linear           λ = max(0, (T − s) / max(1, T − W))
//   cosine           λ = max(0, ½·(1 + cos(π · 2·0.5 · p))),  p = (s − W) / max(1, T − W)
//   constant         λ = 1
//
// "constant" with a warmup behaves as transformers' constant_with_warmup. (transformers' own
// "constant" ignores warmup_steps; we do not, because a user who asks for warmup means it.)

export type ScheduleKind = 'linear' | 'cosine' | 'constant';
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['linear', 'cosine', 'constant'];

/** Everything a schedule depends on: a small plain record, saved in checkpoints as-is. */
export interface LrSchedule {
  kind: ScheduleKind;
  /** The peak (base) learning rate. */
  lr: number;
  /** T: optimizer updates in the whole run. */
  totalSteps: number;
  /** W: updates of linear warmup. */
  warmupSteps: number;
}

/**
 * W from the settings, transformers 4.x rule: warmup_steps when > 0, else ceil(T · warmup_ratio).
 * (transformers 5 folds both into one float warmup_steps, < 1 meaning a ratio; same numbers.)
 */
export function resolveWarmupSteps(totalSteps: number, warmupSteps: number | null, warmupRatio: number | null): number {
  if (warmupSteps !== null && warmupSteps > 0) return warmupSteps;
  if (warmupRatio !== null && warmupRatio > 0) return Math.ceil(totalSteps * warmupRatio);
  return 0;
}

/** λ(s): the multiplier transformers' lr_lambda gives at scheduler step s (s ≥ 0). */
export function lrLambda(s: number, schedule: LrSchedule): number {
  const { kind, totalSteps: T, warmupSteps: W } = schedule;
  if (s < W) return s / Math.max(1, W);
  switch (kind) {
    case 'linear':
      return Math.max(0, (T - s) / Math.max(1, T - W));
    case 'cosine': {
      const p = (s - W) / Math.max(1, T - W);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 2 * 0.5 * p)));
    }
    case 'constant':
      return 1;
  }
}

/** The learning rate optimizer update k (1-based) uses: lr · λ(k − 1). */
export function lrForUpdate(k: number, schedule: LrSchedule): number {
  if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`optimizer updates are numbered from 1, got ${k}`);
  return schedule.lr * lrLambda(k - 1, schedule);
}

// ---- How many optimizer updates ----------------------------------------------------------------
//
// One epoch is M = ceil(examples / batch) micro-batches: the last, partial micro-batch is kept
// (a DataLoader with drop_last=False). Each optimizer update consumes grad-accum micro-batches,
// and an accumulation window never straddles two epochs, so an epoch gives
//     stepsPerEpoch = max(1, ceil(M / gradAccum))
// updates, the last one taking the M mod gradAccum left-over micro-batches when that is not 0
// (transformers ≥ 4.46; older versions used floor and dropped the left-overs). Then
//     T = maxSteps                          when --max-steps is given (epochs repeat as needed)
//     T = ceil(epochs · stepsPerEpoch)      otherwise (fractional epochs stop mid-epoch)
// With packing, a micro-batch holds a different number of examples: pass the batcher's
// micro-batch count as `microBatchesPerEpoch`.

export interface PlanInput {
  examples: number;
  batchSize: number;
  gradAccum: number;
  epochs: number;
  maxSteps: number | null;
  /** Overrides ceil(examples / batchSize) when the batcher knows better (packing). */
  microBatchesPerEpoch?: number;
}

export interface TrainingPlan {
  /** M */
  microBatchesPerEpoch: number;
  gradAccum: number;
  stepsPerEpoch: number;
  /** T */
  totalSteps: number;
  /** Passes over the data that are started: ceil(T / stepsPerEpoch). */
  epochsStarted: number;
}

export function trainingPlan(input: PlanInput): TrainingPlan {
  const { examples, batchSize, gradAccum, epochs, maxSteps } = input;
  if (!Number.isSafeInteger(examples) || examples < 1) throw new InputError('no_examples', `the training set has ${examples} examples; it needs at least one`);
  positiveInt(batchSize, 'batch size');
  positiveInt(gradAccum, 'gradient accumulation');
  const micro = input.microBatchesPerEpoch ?? Math.ceil(examples / batchSize);
  positiveInt(micro, 'micro-batches per epoch');
  const stepsPerEpoch = Math.max(1, Math.ceil(micro / gradAccum));
  let totalSteps: number;
  if (maxSteps !== null) {
    positiveInt(maxSteps, 'max steps');
    totalSteps = maxSteps;
  } else {
    if (!(epochs > 0 && Number.isFinite(epochs))) throw new RangeError(`epochs must be a positive number, got ${epochs}`);
    totalSteps = Math.ceil(epochs * stepsPerEpoch);
  }
  return { microBatchesPerEpoch: micro, gradAccum, stepsPerEpoch, totalSteps, epochsStarted: Math.ceil(totalSteps / stepsPerEpoch) };
}

/** The micro-batches optimizer update k (1-based) consumes: an epoch (0-based) and a range in it. */
export function updateWindow(k: number, plan: TrainingPlan): { epoch: number; firstMicroBatch: number; microBatches: number } {
  if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`optimizer updates are numbered from 1, got ${k}`);
  const epoch = Math.floor((k - 1) / plan.stepsPerEpoch);
  const firstMicroBatch = ((k - 1) % plan.stepsPerEpoch) * plan.gradAccum;
  return { epoch, firstMicroBatch, microBatches: Math.min(plan.gradAccum, plan.microBatchesPerEpoch - firstMicroBatch) };
}

/** The schedule for a run of `totalSteps` updates from the user's settings. */
export function lrSchedule(
  settings: { schedule: ScheduleKind; lr: number; warmupSteps: number | null; warmupRatio: number | null },
  totalSteps: number,
): LrSchedule {
  return { kind: settings.schedule, lr: settings.lr, totalSteps, warmupSteps: resolveWarmupSteps(totalSteps, settings.warmupSteps, settings.warmupRatio) };
}

function positiveInt(x: number, what: string): void {
  if (!Number.isSafeInteger(x) || x < 1) throw new RangeError(`${what} must be an integer ≥ 1, got ${x}`);
}
