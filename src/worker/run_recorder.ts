import type { RunRecord, RunStore } from '../storage/run_store.ts';
import type { EvalMetrics, StepMetrics, TrainResult } from '../train/trainer.ts';
import type { RunHistory, RunPlan, StepPoint, TrainCallbacks, TrainSummary } from './api.ts';
import { toWireError } from './wire_error.ts';

// What a training run reports, in two directions at once: to the UI (Comlink-proxied callbacks,
// fire and forget — a closed page must not stop the run) and to the run store (the history is
// saved at most every SAVE_EVERY_MS while training and always at the end). Saves are chained, so
// they land in order and never two at once.

const SAVE_EVERY_MS = 3_000;

export interface RunStart {
  name: string;
  model: string;
  dataset: string;
  settings: Record<string, unknown>;
}

export class RunRecorder {
  readonly history: RunHistory = { steps: [], evals: [], events: [] };
  private saving: Promise<unknown> = Promise.resolve();
  private lastSave = 0;
  private totalSteps = 0;
  private readonly started = performance.now();

  private constructor(
    private readonly store: RunStore<RunHistory>,
    private readonly callbacks: TrainCallbacks,
    readonly record: RunRecord,
  ) {}

  static async start(store: RunStore<RunHistory>, callbacks: TrainCallbacks, run: RunStart): Promise<RunRecorder> {
    const record = await store.create({ ...run, status: 'running', steps: 0, totalSteps: 0, finalLoss: null, finalEvalLoss: null }, { steps: [], evals: [], events: [] });
    return new RunRecorder(store, callbacks, record);
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

  /** Marks the run failed with the error's message (best effort: the error itself matters more). */
  async fail(e: unknown): Promise<void> {
    const message = toWireError(e).message;
    this.event(`failed: ${message}`);
    this.save({ ...this.progress(), status: 'failed', error: message });
    await this.saving.catch(() => undefined);
  }

  /** Saves the adapter with the final record and history; returns what the UI shows at the end. */
  async finish(result: TrainResult, zip: Uint8Array, peakGpuBytes: number): Promise<TrainSummary> {
    const status = result.stoppedAt === null ? 'completed' : 'stopped';
    const final = { ...this.progress(), status } as const;
    await this.saving.catch(() => undefined);
    await this.store.saveAdapter(this.record.id, zip, final);
    await this.store.update(this.record.id, {}, this.history);
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

  private save(change: Partial<RunRecord>): void {
    this.lastSave = performance.now();
    // A snapshot: the history keeps growing while the write is queued.
    const history = { steps: [...this.history.steps], evals: [...this.history.evals], events: [...this.history.events] };
    this.saving = this.saving.then(() => this.store.update(this.record.id, change, history)).catch((e) => {
      this.event(`could not save the run's progress: ${toWireError(e).message}`);
    });
  }
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
