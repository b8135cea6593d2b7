import type { Remote } from 'comlink';
import * as Comlink from 'comlink';
import type { EngineApi, EvalPoint, Outcome, RunEvent, RunPlan, SavedRun, SettingsInput, StepPoint, TrainCallbacks, TrainSummary, WireError } from '../../worker/api.ts';
import { download, settle } from './wire.ts';

export type TrainStatus = 'idle' | 'starting' | 'running' | 'pausing' | 'paused' | 'resuming' | 'stopping' | 'done' | 'failed';

/** A saved run being continued: where it starts again, and what it had done before. */
export interface ResumedFrom {
  runId: string;
  name: string;
  /** The checkpoint's step: the first new step is this + 1. */
  step: number;
  /** Seconds of training the run had done up to the checkpoint. */
  elapsedS: number;
}

/** The Train and Export screens: one run's progress, live metrics, event log and its adapter. */
export class TrainState {
  status: TrainStatus = $state('idle');
  plan: RunPlan | null = $state.raw(null);
  steps: StepPoint[] = $state.raw([]);
  evals: EvalPoint[] = $state.raw([]);
  events: RunEvent[] = $state.raw([]);
  summary: TrainSummary | null = $state.raw(null);
  error: WireError | null = $state.raw(null);
  exportError: WireError | null = $state.raw(null);
  /** The last adapter download started: its file name and size. */
  exported: { fileName: string; bytes: number } | null = $state.raw(null);
  /** Set while (and after) continuing a saved run; null for a new run. */
  resumedFrom: ResumedFrom | null = $state.raw(null);
  /** The first step this session reported (checkpoint step + 1 for a resumed run). */
  firstNewStep: number | null = $state(null);
  /** performance.now() at start, and a clock that ticks while running so elapsed time moves. */
  startedAt = $state(0);
  now = $state(0);
  /** Time spent paused, which elapsed time leaves out; pauseStart is null when not paused. */
  pausedMs = $state(0);
  pauseStart: number | null = $state(null);
  #endedAt = 0;
  #totalHint = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly engine: Remote<EngineApi>,
    /** Called when what is saved of the run changed: it paused (a checkpoint) or it ended. */
    private readonly onSaved: () => void = () => {},
    /** Told the run's plan: it carries the base's card as the run holds it. */
    private readonly onPlan: (plan: RunPlan) => void = () => {},
  ) {}

  get active(): boolean {
    return !['idle', 'done', 'failed'].includes(this.status);
  }

  /** Paused, or about to be: the Resume button shows. */
  get paused(): boolean {
    return this.status === 'paused' || this.status === 'resuming';
  }

  get stepsDone(): number {
    return this.steps.at(-1)?.step ?? 0;
  }

  get totalSteps(): number {
    return this.plan?.totalSteps ?? this.#totalHint;
  }

  get fraction(): number {
    return this.totalSteps ? Math.min(1, this.stepsDone / this.totalSteps) : 0;
  }

  /** Seconds of training: the resumed run's earlier time, plus this session's, pauses left out. */
  get elapsedS(): number {
    if (this.status === 'idle') return 0;
    const end = this.active ? this.now : this.#endedAt;
    const paused = this.pausedMs + (this.pauseStart === null ? 0 : end - this.pauseStart);
    return (this.resumedFrom?.elapsedS ?? 0) + Math.max(0, end - this.startedAt - paused) / 1000;
  }

  /** Seconds left at this session's pace so far; null until a step of this session has finished. */
  get etaS(): number | null {
    const last = this.steps.at(-1);
    const from = this.resumedFrom?.step ?? 0;
    if (!last || !this.totalSteps || !this.active || this.firstNewStep === null || last.step <= from) return null;
    // A resumed run's step times count on from the checkpoint's (the engine's clock leaves pauses out).
    const spent = last.elapsedS - (this.resumedFrom?.elapsedS ?? 0);
    return (Math.max(0, spent) / (last.step - from)) * (this.totalSteps - last.step);
  }

  get tokensPerS(): number | null {
    return this.steps.at(-1)?.tokensPerS ?? null;
  }

  /** Trains a new run with these settings. */
  async start(settings: SettingsInput): Promise<void> {
    if (this.active) return;
    this.#begin(null);
    await this.#follow((callbacks) => this.engine.train(settings, callbacks));
  }

  /**
   * Continues a saved run from its checkpoint (the loaded model must be the run's own): the charts
   * start from its history up to the checkpoint, and new steps are added after it.
   */
  async resumeRun(run: SavedRun): Promise<void> {
    if (this.active) return;
    this.#begin(run);
    await this.#follow((callbacks) => this.engine.resumeRun(run.id, callbacks));
  }

  async pause(): Promise<void> {
    if (this.status !== 'running') return;
    this.status = 'pausing';
    await this.engine.pause();
  }

  async resume(): Promise<void> {
    if (this.status !== 'paused') return;
    this.status = 'resuming';
    await this.engine.resume();
  }

  async stop(): Promise<void> {
    if (!this.active) return;
    this.status = 'stopping';
    await this.engine.stop();
  }

  async exportAdapter(): Promise<void> {
    const out = await settle(this.engine.exportAdapter());
    if (!out.ok) {
      this.exportError = out.error;
      return;
    }
    this.exportError = null;
    download(out.bytes, out.fileName);
    this.exported = { fileName: out.fileName, bytes: out.bytes.byteLength };
  }

  #begin(run: SavedRun | null): void {
    const from = run?.checkpoint?.step ?? 0;
    const kept = run ? run.history.steps.filter((s) => s.step <= from) : [];
    this.status = 'starting';
    this.plan = null;
    this.steps = kept;
    this.evals = run ? run.history.evals.filter((e) => e.step <= from) : [];
    this.events = run ? run.history.events : [];
    this.resumedFrom = run ? { runId: run.id, name: run.name, step: from, elapsedS: kept.at(-1)?.elapsedS ?? 0 } : null;
    this.#totalHint = run?.totalSteps ?? 0;
    this.firstNewStep = null;
    this.summary = null;
    this.error = null;
    this.exported = null;
    this.exportError = null;
    this.pausedMs = 0;
    this.pauseStart = null;
    this.startedAt = this.now = performance.now();
    this.#timer = setInterval(() => (this.now = performance.now()), 1000);
  }

  async #follow(call: (callbacks: TrainCallbacks) => Promise<Outcome<{ summary: TrainSummary }>>): Promise<void> {
    const callbacks = Comlink.proxy<TrainCallbacks>({
      onPlan: (plan) => {
        this.plan = plan;
        this.onPlan(plan);
        if (this.status === 'starting') this.status = 'running';
      },
      onState: (state) => this.#onState(state),
      onStep: (s) => {
        this.firstNewStep ??= s.step;
        // A step the engine reports again (after a resume) replaces the one saved before it.
        this.steps = [...this.steps.filter((p) => p.step < s.step), s];
        if (this.status === 'starting') this.status = 'running';
      },
      onEval: (e) => (this.evals = [...this.evals.filter((p) => p.step < e.step), e]),
      onEvent: (e) => (this.events = [...this.events, e]),
    });
    const out = await settle(call(callbacks));
    clearInterval(this.#timer);
    this.now = this.#endedAt = performance.now();
    if (this.pauseStart !== null) this.pausedMs += this.#endedAt - this.pauseStart;
    this.pauseStart = null;
    if (out.ok) {
      this.summary = out.summary;
      this.status = 'done';
    } else {
      this.error = out.error;
      this.status = 'failed';
    }
    this.onSaved();
  }

  #onState(state: 'running' | 'paused'): void {
    const now = performance.now();
    if (state === 'paused') {
      this.pauseStart ??= now;
      if (this.status !== 'stopping') this.status = 'paused';
      // The checkpoint the pause saved shows under Saved runs.
      this.onSaved();
    } else {
      if (this.pauseStart !== null) this.pausedMs += now - this.pauseStart;
      this.pauseStart = null;
      if (this.status !== 'stopping') this.status = 'running';
    }
  }
}
