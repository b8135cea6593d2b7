import type { Remote } from 'comlink';
import type { DatasetOptions, EngineApi } from '../../worker/api.ts';
import { CompareState } from './compare_state.svelte.ts';
import { DataState } from './data_state.svelte.ts';
import { ExportState } from './export_state.svelte.ts';
import { HubState } from './hub_state.svelte.ts';
import { MemoryState } from './memory_state.svelte.ts';
import { ModelState } from './model_state.svelte.ts';
import { ResumeState } from './resume_state.svelte.ts';
import { RunsState } from './runs_state.svelte.ts';
import { SettingsState } from './settings_state.svelte.ts';
import { TrainState } from './train_state.svelte.ts';

/** After the last change to max length, format or "train on", the dataset is read again this much later. */
const RETOKENIZE_AFTER_MS = 600;

/** The whole workflow's state: one object per screen, and what ties them together. */
export class AppState {
  readonly model: ModelState;
  readonly data: DataState;
  readonly settings: SettingsState;
  readonly train: TrainState;
  readonly runs: RunsState;
  readonly memory: MemoryState;
  readonly hub: HubState;
  readonly compare: CompareState;
  /** The merged-model export (the adapter's own export is with `train`). */
  readonly exports: ExportState;
  readonly resume: ResumeState;
  #retokenize: ReturnType<typeof setTimeout> | undefined;
  /** The model generation the last run trained on: its adapter fits only that model. */
  #trainedOn = -1;

  constructor(engine: Remote<EngineApi>, storage?: Pick<Storage, 'getItem' | 'setItem'>) {
    this.model = new ModelState(engine);
    this.hub = new HubState(engine, this.model, storage);
    this.settings = new SettingsState(engine, storage);
    this.data = new DataState(engine, () => this.model.card !== null, () => this.settings.datasetOptions);
    this.runs = new RunsState(engine);
    this.memory = new MemoryState(engine);
    this.compare = new CompareState(engine);
    // A run in another precision loads the base again: its card follows.
    this.train = new TrainState(engine, () => void this.runs.refresh(), (plan) => this.model.adopt(plan.model));
    // A merged export may keep a copy with its saved run.
    this.exports = new ExportState(engine, () => void this.runs.refresh());
    // A resumed run's adapter is the engine's last one, as a new run's is; scores and a merged
    // model of the adapter before it would pass for its own.
    this.resume = new ResumeState(this.model, this.hub, this.runs, this.train, () => {
      this.#trainedOn = this.model.generation;
      this.compare.evaluation.clear();
      this.exports.clear();
    });
  }

  async init(): Promise<void> {
    await Promise.all([this.settings.init(), this.runs.refresh()]);
  }

  /** Why training cannot start yet, in the order a user would fix them. */
  get blockers(): string[] {
    const out: string[] = [];
    if (!this.model.card) out.push('Load a model (step 1).');
    if (!this.data.summary) out.push(this.data.status.kind === 'failed' ? 'Fix or replace the dataset (step 2).' : 'Choose a dataset (step 2).');
    if (!this.settings.ok) out.push('Fix the highlighted settings (step 3).');
    // The engine does one GPU job at a time.
    if (this.compare.busy) out.push('Wait for the answers or the scores (step 5) to finish.');
    if (this.exports.running) out.push('Wait for the merged export (step 6) to finish.');
    return out;
  }

  async startTraining(): Promise<void> {
    if (this.blockers.length) return;
    this.#trainedOn = this.model.generation;
    // Scores and a merged model of the previous adapter would pass for the new one's.
    this.compare.evaluation.clear();
    this.exports.clear();
    const started = this.train.start(this.settings.snapshot());
    // The run is saved as soon as it starts: show it in the list while it trains.
    setTimeout(() => void this.runs.refresh(), 1500);
    await started;
  }

  /** A file dropped anywhere on the page: a dataset (model folders come through their picker). */
  drop(files: File[]): void {
    const file = files.find((f) => /\.(jsonl|json|txt)$/i.test(f.name)) ?? files[0];
    if (file && !this.train.active) void this.data.choose(file);
  }

  /** The engine holds an adapter trained on the model that is loaded now (Compare can use it). */
  get hasTunedAdapter(): boolean {
    return this.train.status === 'done' && this.train.summary !== null && this.#trainedOn === this.model.generation && this.model.card !== null;
  }

  /** Called by an effect when a model finishes loading: its tokenizer must read the file again. */
  modelChanged(): void {
    void this.data.reload();
  }

  /** Called by an effect whenever the tokenization settings may have changed. */
  datasetOptionsChanged(options: DatasetOptions): void {
    clearTimeout(this.#retokenize);
    const loaded = this.data.summary?.options;
    if (!loaded || key(loaded) === key(options)) return;
    this.#retokenize = setTimeout(() => {
      if (!this.train.active) void this.data.reload();
    }, RETOKENIZE_AFTER_MS);
  }

  /** Called by an effect when the model, the dataset or a setting changed: estimate the memory again. */
  estimateMemory(): void {
    if (!this.model.card || !this.settings.ok || this.train.active) {
      if (!this.train.active) this.memory.clear();
      return;
    }
    void this.memory.refresh(this.settings.snapshot());
  }

  /** The tab's title: progress while training, so it shows from another tab. */
  get title(): string {
    const t = this.train;
    if (!t.active) return 'webtune';
    if (!t.totalSteps) return 'Starting… · webtune';
    if (t.paused) return `Paused · step ${t.stepsDone}/${t.totalSteps} · webtune`;
    return `${Math.floor(t.fraction * 100)}% · step ${t.stepsDone}/${t.totalSteps} · webtune`;
  }
}

function key(o: DatasetOptions): string {
  return `${o.format}|${o.maxLength}|${o.lossOn}`;
}
