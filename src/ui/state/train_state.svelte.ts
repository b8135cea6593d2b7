import type { Remote } from 'comlink';
import * as Comlink from 'comlink';
import type { EngineApi, EvalPoint, RunEvent, RunPlan, SettingsInput, StepPoint, TrainSummary, WireError } from '../../worker/api.ts';
import { download, settle } from './wire.ts';

export type TrainStatus = 'idle' | 'starting' | 'running' | 'stopping' | 'done' | 'failed';

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
  /** performance.now() at start, and a clock that ticks while running so elapsed time moves. */
  startedAt = $state(0);
  now = $state(0);
  #endedAt = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly engine: Remote<EngineApi>,
    private readonly onFinished: () => void = () => {},
  ) {}

  get active(): boolean {
    return this.status === 'starting' || this.status === 'running' || this.status === 'stopping';
  }

  get stepsDone(): number {
    return this.steps.at(-1)?.step ?? 0;
  }

  get totalSteps(): number {
    return this.plan?.totalSteps ?? 0;
  }

  get fraction(): number {
    return this.totalSteps ? Math.min(1, this.stepsDone / this.totalSteps) : 0;
  }

  get elapsedS(): number {
    return this.startedAt ? Math.max(0, (this.active ? this.now : this.#endedAt) - this.startedAt) / 1000 : 0;
  }

  /** Seconds left at the pace so far; null until a step has finished. */
  get etaS(): number | null {
    const last = this.steps.at(-1);
    if (!last || !this.totalSteps || !this.active) return null;
    return (last.elapsedS / last.step) * (this.totalSteps - last.step);
  }

  get tokensPerS(): number | null {
    return this.steps.at(-1)?.tokensPerS ?? null;
  }

  async start(settings: SettingsInput): Promise<void> {
    if (this.active) return;
    this.status = 'starting';
    this.plan = null;
    this.steps = [];
    this.evals = [];
    this.events = [];
    this.summary = null;
    this.error = null;
    this.exported = null;
    this.exportError = null;
    this.startedAt = this.now = performance.now();
    this.#timer = setInterval(() => (this.now = performance.now()), 1000);
    const callbacks = Comlink.proxy({
      onPlan: (plan: RunPlan) => {
        this.plan = plan;
        if (this.status === 'starting') this.status = 'running';
      },
      onStep: (s: StepPoint) => (this.steps = [...this.steps, s]),
      onEval: (e: EvalPoint) => (this.evals = [...this.evals, e]),
      onEvent: (e: RunEvent) => (this.events = [...this.events, e]),
    });
    const out = await settle(this.engine.train(settings, callbacks));
    clearInterval(this.#timer);
    this.now = this.#endedAt = performance.now();
    if (out.ok) {
      this.summary = out.summary;
      this.status = 'done';
    } else {
      this.error = out.error;
      this.status = 'failed';
    }
    this.onFinished();
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
}
