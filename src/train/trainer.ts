import type { Batch } from '../data/batch.ts';
import { collate } from '../data/batch.ts';
import type { Batcher } from '../data/sampler.ts';
import { WebtuneError } from '../errors.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { TrainConfig } from './config.ts';
import { AdamW } from './optimizer.ts';
import { streamKey } from './rng.ts';
import { lrForUpdate, lrSchedule, trainingPlan, updateWindow, type LrSchedule, type TrainingPlan } from './schedule.ts';
import type { TrainableModel } from './trainable.ts';
import type { Checkpoint } from './checkpoint.ts';

// The training loop, with the exact semantics of issue #4 (and formats.md §5):
// - optimizer update k (1-based) consumes the micro-batches updateWindow(k) of its epoch;
// - its loss is Σ CE over every trained target of those micro-batches / the number of targets
//   (transformers ≥ 4.46), and the gradients are of that loss: gradScale = 1 / targets;
// - clipping by global norm and AdamW happen on the GPU; the step reads back 20 bytes;
// - a step whose loss or gradients are not finite is skipped (no update, AdamW's step counter
//   does not move) and reported; three in a row stop the run;
// - eval loss at the end of every epoch and every evalEvery updates.
// Each micro-batch is its own submit, because its inputs are written with queue.writeBuffer.
// The eval set is one pass in file order; its loss is Σ CE / targets over the whole set.

export interface StepMetrics {
  step: number;
  totalSteps: number;
  /** Fractional epochs done after this step. */
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Real (non-padding) tokens this step processed. */
  tokens: number;
  elapsedS: number;
  skipped: boolean;
}

export interface EvalMetrics {
  step: number;
  evalLoss: number;
}

export interface TrainerCallbacks {
  onStep?(m: StepMetrics): void;
  onEval?(m: EvalMetrics): void;
  /** Lines for an event log: epochs, evaluations, skipped steps, checkpoints. */
  onEvent?(text: string): void;
  /**
   * Called (and awaited) at the end of every epoch and every checkpointEvery updates. Resolves
   * false when the checkpoint could not be kept (the callee has said why); the run goes on.
   */
  onCheckpoint?(checkpoint: Checkpoint): Promise<boolean | void>;
  /**
   * Awaited before update k (1-based), between optimizer steps: where a run pauses (holding the
   * promise) or saves a checkpoint by time. The signal is checked after it, so a stop while
   * paused ends the run at once, before step k.
   */
  beforeStep?(k: number): Promise<void>;
}

export class TrainingDivergedError extends WebtuneError {
  constructor(step: number) {
    super('training_diverged', `the loss or gradients were not finite for 3 steps in a row (last at step ${step}); lower the learning rate or check the data`);
  }
}

export interface TrainResult {
  steps: StepMetrics[];
  evals: EvalMetrics[];
  /** Set when stopped by the signal before the end. */
  stoppedAt: number | null;
}

export class Trainer {
  readonly plan: TrainingPlan;
  readonly schedule: LrSchedule;
  private readonly optimizer: AdamW;
  private readonly epochPlans = new Map<number, number[][]>();
  /** Updates applied so far (AdamW's step counter; skipped steps do not count). */
  private applied = 0;
  /** Updates completed so far (resume starts after them). */
  private completed = 0;
  private readonly history: TrainResult = { steps: [], evals: [], stoppedAt: null };

  constructor(
    private readonly rt: Runtime,
    private readonly model: TrainableModel,
    private readonly config: TrainConfig,
    private readonly data: { train: Batcher; eval?: Batcher },
    private readonly callbacks: TrainerCallbacks = {},
  ) {
    this.plan = trainingPlan({
      examples: data.train.examples.length,
      batchSize: config.batchSize,
      gradAccum: config.gradAccum,
      epochs: config.epochs,
      maxSteps: config.maxSteps,
      microBatchesPerEpoch: data.train.batchesPerEpoch,
    });
    this.schedule = lrSchedule(config, this.plan.totalSteps);
    this.optimizer = new AdamW(rt, model.loraParameters(), model.loraGradients(), { weightDecay: config.weightDecay, maxGradNorm: config.maxGradNorm });
  }

  /** Continues from a checkpoint: LoRA, AdamW moments, counters and history. */
  restore(c: Checkpoint): void {
    this.model.importLora(c.lora);
    this.optimizer.writeMoments(c.moments);
    this.completed = c.state.step;
    this.applied = c.state.applied;
    this.history.steps.push(...c.state.history.steps);
    this.history.evals.push(...c.state.history.evals);
  }

  /** Gives the optimizer's GPU buffers back (the model's own are the caller's to release). */
  release(): void {
    this.optimizer.release();
  }

  /** Updates completed so far, restored ones included. */
  get completedSteps(): number {
    return this.completed;
  }

  /** The run's state now, for a checkpoint. */
  async snapshot(): Promise<Checkpoint> {
    return {
      state: { step: this.completed, applied: this.applied, config: this.config, history: { steps: [...this.history.steps], evals: [...this.history.evals] } },
      lora: await this.model.exportLora(),
      moments: await this.optimizer.readMoments(),
    };
  }

  /** Runs the remaining updates; the result holds the whole history (including before a resume). */
  async run(signal?: AbortSignal): Promise<TrainResult> {
    const result = this.history;
    // Elapsed time continues across a resume.
    let start = performance.now() - 1000 * (result.steps.at(-1)?.elapsedS ?? 0);
    let nonFiniteInARow = 0;
    for (let k = this.completed + 1; k <= this.plan.totalSteps; k++) {
      const held = performance.now();
      await this.callbacks.beforeStep?.(k);
      // Time held between steps (a pause) is not training time: elapsed and tokens/s leave it out.
      start += performance.now() - held;
      if (signal?.aborted) {
        result.stoppedAt = k - 1;
        break;
      }
      const m = await this.step(k, start);
      this.completed = k;
      result.steps.push(m);
      this.callbacks.onStep?.(m);
      if (m.skipped) {
        nonFiniteInARow++;
        this.callbacks.onEvent?.(`step ${k}: loss or gradients not finite, update skipped`);
        if (nonFiniteInARow === 3) throw new TrainingDivergedError(k);
      } else nonFiniteInARow = 0;
      const endOfEpoch = k % this.plan.stepsPerEpoch === 0 || k === this.plan.totalSteps;
      if (endOfEpoch) this.callbacks.onEvent?.(`epoch ${Math.ceil(k / this.plan.stepsPerEpoch)} done at step ${k}`);
      const every = this.config.evalEvery;
      if (this.data.eval && (endOfEpoch || (every !== null && k % every === 0))) {
        const e = { step: k, evalLoss: await this.evaluate() };
        result.evals.push(e);
        this.callbacks.onEval?.(e);
        this.callbacks.onEvent?.(`step ${k}: eval loss ${e.evalLoss.toFixed(4)}`);
      }
      const save = this.config.checkpointEvery;
      if (this.callbacks.onCheckpoint && (endOfEpoch || (save !== null && k % save === 0))) {
        const kept = await this.callbacks.onCheckpoint(await this.snapshot());
        if (kept !== false) this.callbacks.onEvent?.(`step ${k}: checkpoint saved`);
      }
    }
    return result;
  }

  /** One optimizer update: its micro-batches, clipping and AdamW, then 20 bytes read back. */
  async step(k: number, start: number): Promise<StepMetrics> {
    const window = updateWindow(k, this.plan);
    const plan = this.epochPlan(window.epoch);
    const batches = plan.slice(window.firstMicroBatch, window.firstMicroBatch + window.microBatches).map((rows) => this.collate(this.data.train, rows));
    const targets = batches.reduce((n, b) => n + b.numTargets, 0);
    const tokens = batches.reduce((n, b) => n + b.lengths.reduce((a, x) => a + x, 0), 0);
    const lr = lrForUpdate(k, this.schedule);
    const gradScale = targets > 0 ? 1 / targets : 0;
    batches.forEach((batch, i) => {
      this.model.uploadBatch(batch);
      const rec = this.rt.recorder(`step ${k}.${i}`);
      this.model.recordTrainStep(rec, { gradScale, dropoutSeed: streamKey(this.config.seed, 'dropout', k, i), zeroGrads: i === 0 });
      if (i === batches.length - 1) this.optimizer.record(rec, this.applied + 1, lr);
      rec.submit();
    });
    const lossSum = await this.model.readLossSum();
    const { gradNorm, nonFinite } = await this.optimizer.report();
    const loss = targets > 0 ? lossSum / targets : 0;
    const skipped = nonFinite || !Number.isFinite(loss);
    if (!nonFinite) this.applied++;
    const epochsDone = window.epoch + (window.firstMicroBatch + window.microBatches) / this.plan.microBatchesPerEpoch;
    return { step: k, totalSteps: this.plan.totalSteps, epoch: epochsDone, loss, lr, gradNorm, tokens, elapsedS: (performance.now() - start) / 1000, skipped };
  }

  /** Mean loss per trained target over the whole eval set (forward only). */
  async evaluate(): Promise<number> {
    const batcher = this.data.eval;
    if (!batcher) throw new Error('no eval set');
    let targets = 0;
    let first = true;
    for (const batch of batcher.batches(0)) {
      this.model.uploadBatch(batch);
      const rec = this.rt.recorder('eval');
      this.model.recordEvalLoss(rec, { zeroLoss: first });
      first = false;
      rec.submit();
      targets += batch.numTargets;
    }
    const lossSum = await this.model.readEvalLossSum();
    return targets > 0 ? lossSum / targets : 0;
  }

  private epochPlan(epoch: number): number[][] {
    let plan = this.epochPlans.get(epoch);
    if (!plan) {
      this.epochPlans.clear();
      plan = this.data.train.plan(epoch);
      this.epochPlans.set(epoch, plan);
    }
    return plan;
  }

  private collate(batcher: Batcher, rows: readonly number[]): Batch {
    return collate(batcher.examples, rows.map((r) => batcher.rows[r]), batcher.padId, batcher.options.padMultiple);
  }
}
