import type { RunRecord, RunStore } from '../storage/run_store.ts';
import { checkpointFiles, type Checkpoint } from '../train/checkpoint.ts';
import type { EvalMetrics, StepMetrics, TrainResult } from '../train/trainer.ts';
import type { ModelSource, RunHistory, RunPlan, StepPoint, TrainCallbacks, TrainSummary } from './api.ts';
import { toWireError } from './wire_error.ts';

// What a training run reports, in two directions at once: to the UI (Comlink-proxied callbacks,
// fire and forget — a closed page must not stop the run) and to the run store (the history is
// saved at most every SAVE_EVERY_MS while training and always at the end; checkpoints with the
// history they cover). Saves are chained, so they land in order and never two at once — each is
// a read-modify-write of the record.

const SAVE_EVERY_MS = 3_000;

export interface RunStart {
  name: string;
  model: string;
  modelSource: ModelSource;
  dataset: string;
  settings: Record<string, unknown>;
}

export class RunRecorder {
  private saving: Promise<unknown> = Promise.resolve();
  private lastSave = 0;
  private totalSteps = 0;
  private readonly started: number;
  /** The step of the last checkpoint kept in the store (-1: none yet), and when it was tried. */
  lastCheckpointStep = -1;
  lastCheckpointAt = performance.now();

  private constructor(
    private readonly store: RunStore<RunHistory>,
    private readonly callbacks: TrainCallbacks,
    readonly record: RunRecord,
    readonly history: RunHistory,
    /** Seconds the run had trained before this recorder (a resumed run's clock goes on). */
    before = 0,
  ) {
    this.started = performance.now() - 1000 * before;
    this.totalSteps = record.totalSteps;
  }

  static async start(store: RunStore<RunHistory>, callbacks: TrainCallbacks, run: RunStart): Promise<RunRecorder> {
    const empty: RunHistory = { steps: [], evals: [], events: [] };
    const record = await store.create({ ...run, status: 'running', steps: 0, totalSteps: 0, finalLoss: null, finalEvalLoss: null }, empty);
    return new RunRecorder(store, callbacks, record, empty);
  }

  /**
   * Continues a saved run from its checkpoint: the history is cut back to the checkpoint's steps
   * and evals (the log of events is kept), and the record says "running" again.
   */
  static async resume(store: RunStore<RunHistory>, callbacks: TrainCallbacks, record: RunRecord, checkpoint: Checkpoint, saved: RunHistory | undefined): Promise<RunRecorder> {
    const { step, history } = checkpoint.state;
    const steps = stepPoints(history.steps);
    const before = steps.at(-1)?.elapsedS ?? 0;
    const kept: RunHistory = { steps, evals: history.evals.map((e) => ({ step: e.step, evalLoss: e.evalLoss })), events: [...(saved?.events ?? [])] };
    const recorder = new RunRecorder(store, callbacks, record, kept, Math.max(before, kept.events.at(-1)?.atS ?? 0));
    recorder.lastCheckpointStep = step;
    recorder.event(`resumed from step ${step}`);
    await store.update(record.id, { ...recorder.progress(), status: 'running', error: null }, recorder.snapshot());
    return recorder;
  }

  /** Keeps the dataset file with the run, for resuming it after a reload; a refusal is reported, not fatal. */
  keepDataset(file: Blob): Promise<void> {
    this.saving = this.saving
      .then(() => this.store.saveDataset(this.record.id, file))
      .catch((e) => this.event(`could not keep a copy of the dataset, so this run cannot be resumed after a reload: ${toWireError(e).message}`));
    return this.saving.then(() => undefined);
  }

  /**
   * Saves the checkpoint with the record and history in one transaction. Resolves false when the
   * store refused (a full quota): the previous checkpoint is intact, the run goes on.
   */
  async checkpoint(c: Checkpoint, why = ''): Promise<boolean> {
    const step = c.state.step;
    const files = Object.fromEntries(checkpointFiles(c));
    const change = this.progress();
    const history = this.snapshot();
    let kept = false;
    this.lastSave = performance.now();
    this.saving = this.saving
      .then(async () => {
        await this.store.saveCheckpoint(this.record.id, { step, totalSteps: this.totalSteps, files }, change, history);
        kept = true;
      })
      .catch((e) => this.event(`step ${step}: checkpoint not saved, the one before is kept: ${toWireError(e).message}`));
    await this.saving;
    this.lastCheckpointAt = performance.now();
    if (kept) {
      this.lastCheckpointStep = step;
      if (why) this.event(`step ${step}: checkpoint saved (${why})`);
    }
    return kept;
  }

  /** The run is held between steps (`paused`) or goes on. */
  state(state: 'running' | 'paused', step: number): void {
    this.event(state === 'paused' ? `paused after step ${step}` : `running again from step ${step + 1}`);
    notify(() => this.callbacks.onState?.(state));
  }

  plan(plan: Omit<RunPlan, 'runId'>): void {
    this.totalSteps = plan.totalSteps;
    notify(() => this.callbacks.onPlan?.({ ...plan, runId: this.record.id }));
    this.save({ totalSteps: plan.totalSteps });
  }

  step(m: StepMetrics): void {
    const previous = this.history.steps.at(-1)?.elapsedS ?? 0;
    const seconds = m.elapsedS - previous;
    const point: StepPoint = { ...m, tokensPerS: seconds > 0 ? m.tokens / seconds : 0 };
    this.history.steps.push(point);
    notify(() => this.callbacks.onStep?.(point));
    if (performance.now() - this.lastSave >= SAVE_EVERY_MS) this.save(this.progress());
  }

  eval(e: EvalMetrics): void {
    const point = { step: e.step, evalLoss: e.evalLoss };
    this.history.evals.push(point);
    notify(() => this.callbacks.onEval?.(point));
  }

  event(text: string): void {
    const event = { atS: (performance.now() - this.started) / 1000, text };
    this.history.events.push(event);
    notify(() => this.callbacks.onEvent?.(event));
  }

  /** Marks the run failed (interrupted, for a lost GPU) with the error's message (best effort: the error itself matters more). */
  async fail(e: unknown): Promise<void> {
    const { code, message } = toWireError(e);
    // A lost GPU is not the run's fault: it is interrupted, to resume from its last checkpoint.
    const lost = code === 'device_lost';
    this.event(`${lost ? 'interrupted' : 'failed'}: ${message}`);
    this.save({ ...this.progress(), status: lost ? 'interrupted' : 'failed', error: message });
    await this.saving.catch(() => undefined);
  }

  /**
   * Saves the adapter with the final record and history; returns what the UI shows at the end. A
   * finished run drops its checkpoint (nothing is left to resume); a stopped one keeps it.
   */
  async finish(result: TrainResult, zip: Uint8Array, peakGpuBytes: number): Promise<TrainSummary> {
    const status = result.stoppedAt === null ? 'completed' : 'stopped';
    const final = { ...this.progress(), status } as const;
    await this.saving.catch(() => undefined);
    await this.store.saveAdapter(this.record.id, zip, final);
    await this.store.update(this.record.id, {}, this.history);
    if (status === 'completed' && this.lastCheckpointStep >= 0) await this.store.dropCheckpoint(this.record.id);
    return {
      runId: this.record.id,
      steps: result.steps.length,
      totalSteps: this.totalSteps,
      stoppedAt: result.stoppedAt,
      finalLoss: final.finalLoss,
      finalEvalLoss: final.finalEvalLoss,
      elapsedS: result.steps.at(-1)?.elapsedS ?? 0,
      peakGpuBytes,
      adapterBytes: zip.byteLength,
    };
  }

  private progress(): Pick<RunRecord, 'steps' | 'totalSteps' | 'finalLoss' | 'finalEvalLoss'> {
    let last: StepPoint | undefined;
    for (let i = this.history.steps.length - 1; i >= 0 && !last; i--) if (!this.history.steps[i].skipped) last = this.history.steps[i];
    return {
      steps: this.history.steps.length,
      totalSteps: this.totalSteps,
      finalLoss: last?.loss ?? null,
      finalEvalLoss: this.history.evals.at(-1)?.evalLoss ?? null,
    };
  }

  /** A copy: the history keeps growing while a write is queued. */
  private snapshot(): RunHistory {
    return { steps: [...this.history.steps], evals: [...this.history.evals], events: [...this.history.events] };
  }

  private save(change: Partial<RunRecord>): void {
    this.lastSave = performance.now();
    const history = this.snapshot();
    this.saving = this.saving.then(() => this.store.update(this.record.id, change, history)).catch((e) => {
      this.event(`could not save the run's progress: ${toWireError(e).message}`);
    });
  }
}

/** Step metrics as charted: tokens per second over each step, from the elapsed times. */
function stepPoints(steps: readonly StepMetrics[]): StepPoint[] {
  return steps.map((m, i) => {
    const seconds = m.elapsedS - (steps[i - 1]?.elapsedS ?? 0);
    return { ...m, tokensPerS: seconds > 0 ? m.tokens / seconds : 0 };
  });
}

/** Calls a UI callback without letting it fail the run (the page may be gone, or the member absent). */
function notify(call: () => unknown): void {
  try {
    const r = call() as Promise<unknown> | undefined;
    if (r && typeof r.catch === 'function') r.catch(() => undefined);
  } catch {
    // The UI is not listening; the run and its saved record go on.
  }
}
