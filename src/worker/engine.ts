import { acquireBrowserDevice } from '../engine/browser_gpu.ts';
import type { GpuContext } from '../engine/device.ts';
import { Runtime } from '../engine/runtime.ts';
import { InputError } from '../errors.ts';
import { filesFolder, type ModelFolder } from '../formats/model_folder.ts';
import { demoModelFolder, type DemoTokenizerFiles } from '../model/demo_model.ts';
import { indexedDbKeyValue, type KeyValue } from '../storage/key_value.ts';
import { RunStore } from '../storage/run_store.ts';
import { opfsExportDir, type DirectoryLike } from '../storage/export_dir.ts';
import { MergedStore } from '../storage/merged_store.ts';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../train/config.ts';
import type { DatasetOptions, EngineApi, EvalTable, EvalTableRow, EvaluateRequest, GenerateRequest, MergedExport, MergeRequest, WireError, GpuProbe, ModelSource, Outcome, ProgressCallback, RunHistory, SettingsInput, StorageUse, TrainCallbacks, TrainSummary } from './api.ts';
import { GenerationSession, type TunedAdapter } from './generation.ts';
import { downloadHubModel, hubPlan } from './hub_download.ts';
import { memoryView } from './memory_view.ts';
import { loadDatasetSession, previewView, sameOptions, type DatasetSession } from './dataset_session.ts';
import { fetchDemoTokenizer, loadModelSession, type ModelSession } from './model_session.ts';
import { RunsApi } from './runs_api.ts';
import { checkSettings, settingsSchema } from './settings_schema.ts';
import { trainRun } from './training_run.ts';
import { RunControl } from './run_control.ts';
import { webRunLocks, type RunLocks } from './run_locks.ts';
import { savedRunToResume, type SavedRunToResume } from './saved_run_resume.ts';
import { attempt, progress, quietly, withTransfer } from './outcome.ts';
import { toWireError } from './wire_error.ts';
import { exportMergedModel, mergeSource } from './merge_export.ts';
import { evaluateRun, type LastRunData } from './evaluation.ts';

export interface EngineOptions {
  /** Device acquisition: the page's or worker's `navigator.gpu` by default; `acquireNodeDevice` in Node. */
  acquire?: () => Promise<GpuContext>;
  /** The demo model's tokenizer files: fetched from public/demo-model/ by default. */
  demoTokenizer?: () => Promise<DemoTokenizerFiles>;
  /** Where saved runs live: IndexedDB by default; `memoryKeyValue()` in tests. */
  storage?: KeyValue;
  /** Where a merged download is assembled: OPFS's webtune-exports/ by default; an in-memory folder in tests. */
  exportDir?: () => Promise<DirectoryLike>;
  /** Which runs train in other tabs: the origin's Web Locks by default (none in Node); `memoryRunLocks()` in tests. */
  locks?: RunLocks | null;
}

/**
 * The engine behind the worker API. A plain class: the worker exposes one instance through
 * Comlink, and tests and the CLI construct it directly with the device and storage that suit them.
 * It holds one loaded model, one dataset, at most one training run and the last run's adapter.
 */
export class Engine implements EngineApi {
  readonly #acquire: () => Promise<GpuContext>;
  readonly #demoTokenizer: () => Promise<DemoTokenizerFiles>;
  readonly #runs: RunsApi;
  #gpu: Promise<GpuContext> | undefined;
  #rt: { gpu: GpuContext; rt: Runtime } | undefined;
  #model: ModelSession | undefined;
  #dataset: DatasetSession | undefined;
  #training: RunControl | undefined;
  #liveRunId: string | null = null;
  #adapter: { fileName: string; bytes: Uint8Array } | undefined;
  #download: AbortController | undefined;
  #tuned: TunedAdapter | null = null;
  #generation: GenerationSession | undefined;
  #generating: AbortController | undefined;
  readonly #merged: MergedStore;
  readonly #exportDir: () => Promise<DirectoryLike>;
  #merging: AbortController | undefined;
  #evaluating: AbortController | undefined;
  /** The last run trained here: which saved run, on which model, with which data and split. */
  #lastRun: (LastRunData & { runId: string; model: string }) | undefined;

  constructor(acquireOrOptions: (() => Promise<GpuContext>) | EngineOptions = {}) {
    const options = typeof acquireOrOptions === 'function' ? { acquire: acquireOrOptions } : acquireOrOptions;
    this.#acquire = options.acquire ?? acquireBrowserDevice;
    this.#demoTokenizer = options.demoTokenizer ?? (() => fetchDemoTokenizer());
    const kv = options.storage ?? indexedDbKeyValue();
    this.#runs = new RunsApi(new RunStore<RunHistory>(kv), () => this.#liveRunId, options.locks === undefined ? webRunLocks() : options.locks);
    this.#merged = new MergedStore(kv);
    this.#exportDir = options.exportDir ?? opfsExportDir;
  }

  async probeGpu(): Promise<GpuProbe> {
    return attempt(async () => ({ adapter: (await this.#device()).adapter }));
  }

  watchDeviceLoss(onLost: (error: WireError) => void) {
    return attempt(async () => {
      const gpu = await this.#device();
      void gpu.lost.then((e) => quietly(onLost)(toWireError(e)));
      return {};
    });
  }

  loadDemoModel(progressTo?: ProgressCallback) {
    const onProgress = quietly(progressTo);
    return attempt(async () => {
      progress(onProgress, 'Fetching the demo tokenizer');
      const tokenizer = await this.#demoTokenizer();
      progress(onProgress, 'Generating the demo model (seeded random weights)');
      return { model: await this.#loadModel(demoModelFolder(tokenizer), { kind: 'demo' }, onProgress) };
    });
  }

  loadModelFiles(files: File[], progressTo?: ProgressCallback) {
    const onProgress = quietly(progressTo);
    return attempt(async () => {
      const folder = filesFolder(files);
      return { model: await this.#loadModel(folder, { kind: 'files', name: folder.name }, onProgress) };
    });
  }

  hubPlan(repo: string, base: string) {
    return attempt(async () => ({ plan: await hubPlan(base, repo.trim()) }));
  }

  downloadModel(repo: string, base: string, progressTo?: ProgressCallback) {
    const onProgress = quietly(progressTo);
    return attempt(async () => {
      this.#idle();
      if (this.#download) throw new InputError('busy', 'A download is already running.');
      const controller = new AbortController();
      this.#download = controller;
      try {
        const plan = await hubPlan(base, repo.trim(), controller.signal);
        const folder = await downloadHubModel(plan, onProgress, controller.signal);
        return { model: await this.#loadModel(folder, { kind: 'hub', repo: plan.repo, base: plan.base }, onProgress) };
      } finally {
        this.#download = undefined;
      }
    });
  }

  async cancelDownload(): Promise<void> {
    this.#download?.abort();
  }

  loadDataset(file: File, options: Partial<DatasetOptions>, progressTo?: ProgressCallback) {
    const onProgress = quietly(progressTo);
    return attempt(async () => {
      const model = this.#requireModel();
      this.#idle();
      const full: DatasetOptions = { format: DEFAULT_TRAIN_CONFIG.format, maxLength: DEFAULT_TRAIN_CONFIG.maxLength, lossOn: DEFAULT_TRAIN_CONFIG.lossOn, ...options };
      // Forget the old dataset first: a failed load must not leave it looking current.
      this.#dataset = undefined;
      this.#dataset = await loadDatasetSession(file, file.name, model.tokenizer, full, onProgress);
      return { dataset: this.#dataset.summary };
    });
  }

  previewExample(index: number) {
    return attempt(async () => {
      if (!this.#dataset) throw new InputError('no_dataset', 'Load a dataset first: drop a JSONL file on the page or pick one.');
      return { preview: previewView(this.#dataset, index) };
    });
  }

  async settingsSchema() {
    return settingsSchema();
  }

  async validateSettings(input: SettingsInput) {
    return checkSettings(input).problems;
  }

  estimateMemory(settings: SettingsInput) {
    return attempt(async () => {
      const { config, problems } = checkSettings(settings);
      if (problems.length) throw new InputError('bad_train_config', `Fix the settings first: ${problems.map((p) => p.message).join('; ')}`);
      const model = this.#requireModel();
      const { gpu } = await this.#runtime();
      return { memory: memoryView(model, this.#dataset, config, gpu) };
    });
  }

  train(settings: SettingsInput, callbacks: TrainCallbacks) {
    return attempt(async () => {
      const { config, problems } = checkSettings(settings);
      if (problems.length) throw new InputError('bad_train_config', `Fix the settings first: ${problems.map((p) => p.message).join('; ')}`);
      this.#requireModel();
      if (!this.#dataset) throw new InputError('no_dataset', 'Load a dataset first: drop a JSONL file on the page or pick one.');
      return this.#train(config, this.#dataset, callbacks);
    });
  }

  async stop(): Promise<void> {
    this.#training?.stop();
  }

  // ── Run control (pause, resume, resumeRun, storageUse): run_control.ts, run_gate.ts, saved_run_resume.ts. ──
  async pause(): Promise<void> {
    this.#training?.pause();
  }

  async resume(): Promise<void> {
    this.#training?.resume();
  }

  resumeRun(id: string, callbacks: TrainCallbacks) {
    return attempt(async () => {
      this.#idle();
      const saved = await savedRunToResume(this.#runs.store, id, this.#model, await this.#runs.isLive(id));
      return this.#train(saved.config, { file: saved.dataset, name: saved.record.dataset }, callbacks, saved);
    });
  }

  storageUse() {
    return attempt(() => this.#runs.storageUse());
  }

  /**
   * One run, new or resumed: the base is loaded again when the run holds it differently, and the
   * data is tokenized again when its settings differ (always, for a resumed run's dataset copy).
   */
  async #train(config: TrainConfig, data: DatasetSession | { file: Blob; name: string }, callbacks: TrainCallbacks, resume?: SavedRunToResume): Promise<{ summary: TrainSummary }> {
    this.#idle();
    const control = new RunControl();
    this.#training = control;
    // The run's lock, held while it trains: other tabs then see it live, not interrupted.
    let claim: Promise<{ release(): void } | null> = Promise.resolve(null);
    try {
      if (resume) {
        const lock = await this.#runs.claim(resume.record.id, resume.record.name);
        claim = Promise.resolve(lock);
        this.#liveRunId = resume.record.id;
      }
      const { rt } = await this.#runtime();
      // Notes before the run's recorder exists, stamped where the run's clock stands (a resumed run's goes on).
      const atS = resume?.checkpoint.state.history.steps.at(-1)?.elapsedS ?? 0;
      const note = (text: string) => quietly(callbacks.onEvent)({ atS, text });
      let model = this.#requireModel();
      if (model.quant !== config.quant || model.doubleQuant !== config.doubleQuant) {
        note(`loading the base again with ${config.quant === 'nf4' ? `NF4${config.doubleQuant ? ' and double quantization' : ' without double quantization'}` : 'unquantized float32 weights'}`);
        model = await this.#reload(model.folder, model.source, config.quant, config.doubleQuant);
      }
      const wanted: DatasetOptions = { format: config.format, maxLength: config.maxLength, lossOn: config.lossOn };
      let dataset: DatasetSession;
      if ('loaded' in data && sameOptions(data.options, wanted) && data.tokenizer === model.tokenizer) dataset = data;
      else {
        note(`reading ${resume ? 'the run’s copy of ' : ''}${data.name} ${resume ? '' : 'again '}with max length ${wanted.maxLength}, format ${wanted.format}, training on ${wanted.lossOn}`);
        dataset = await loadDatasetSession(data.file, data.name, model.tokenizer, wanted);
      }
      this.#dataset = dataset;
      this.#adapter = undefined;
      this.#lastRun = undefined;
      this.#dropGeneration(null);
      const out = await trainRun({ rt, model, dataset, config, store: this.#runs.store, callbacks, control, resume, onRunStart: (id) => {
        this.#liveRunId = id;
        // A new run's id is new: nobody else can hold its lock.
        if (!resume) claim = this.#runs.claim(id, id).catch(() => null);
      } });
      this.#adapter = out.adapter;
      this.#tuned = out.tuned;
      this.#lastRun = { runId: out.summary.runId, model: model.card.name, dataset, config };
      return { summary: out.summary };
    } finally {
      this.#training = undefined;
      this.#liveRunId = null;
      void claim.then((lock) => lock?.release());
    }
  }

  // ── Merged export and evaluation: merge_export.ts, evaluation.ts, storage/merged_store.ts. ──
  exportMerged(request: MergeRequest, progressTo?: ProgressCallback) {
    const onProgress = quietly(progressTo);
    return attempt(async () => {
      const model = this.#requireModel();
      this.#idle();
      const last = this.#lastRun && this.#adapter && { ...this.#lastRun, adapter: this.#adapter };
      const { runId, adapter } = await mergeSource(request.runId, model, last, this.#runs);
      const { rt } = await this.#runtime();
      const controller = new AbortController();
      this.#merging = controller;
      try {
        const merged = await exportMergedModel({ rt, model, adapter, runId, request, scratch: this.#exportDir, store: this.#merged, signal: controller.signal, onProgress });
        return { merged };
      } finally {
        this.#merging = undefined;
      }
    });
  }

  async cancelMerge(): Promise<void> {
    this.#merging?.abort();
  }

  runMerged(id: string) {
    return attempt(async () => {
      const record = await this.#runs.store.record(id);
      const kept = await this.#merged.file(id);
      if (!kept) throw new InputError('no_merged', `The run "${record.name}" has no merged model kept in this browser: export one (with its model loaded) first.`);
      return kept;
    });
  }

  evaluate(request: EvaluateRequest, progressTo?: ProgressCallback, rowTo?: (row: EvalTableRow) => void) {
    const onProgress = quietly(progressTo);
    const onRow = quietly(rowTo);
    return attempt(async () => {
      const model = this.#requireModel();
      this.#idle();
      const run = this.#lastRun;
      if (!this.#tuned || !run || run.model !== model.card.name) throw new InputError('no_adapter', 'There is no fine-tuned adapter for the loaded model: train on it first, then evaluate.');
      const session = await this.#generationFor(model);
      const controller = new AbortController();
      this.#evaluating = controller;
      try {
        return { table: await evaluateRun({ session, run, request, stop: controller.signal, onProgress, onRow }) };
      } finally {
        this.#evaluating = undefined;
      }
    });
  }

  async stopEvaluating(): Promise<void> {
    this.#evaluating?.abort();
  }

  generate(request: GenerateRequest, onText: (text: string) => void) {
    const send = quietly(onText);
    return attempt(async () => {
      const model = this.#requireModel();
      this.#idle();
      if (this.#generating) throw new InputError('busy', 'A generation is already running: stop it first.');
      const session = await this.#generationFor(model);
      const controller = new AbortController();
      this.#generating = controller;
      try {
        return { result: await session.generate(request, send, controller.signal) };
      } finally {
        this.#generating = undefined;
      }
    });
  }

  async stopGenerating(): Promise<void> {
    this.#generating?.abort();
  }

  async exportAdapter() {
    return withTransfer(
      await attempt(async () => {
        if (!this.#adapter) throw new InputError('no_adapter', 'There is no adapter yet: train first (a stopped run has one too).');
        // A copy goes out (and is transferred), so the engine keeps its own for the next export.
        return { fileName: this.#adapter.fileName, bytes: this.#adapter.bytes.slice() };
      }),
    );
  }

  listRuns() {
    return attempt(() => this.#runs.list());
  }

  getRun(id: string) {
    return attempt(() => this.#runs.get(id));
  }

  renameRun(id: string, name: string) {
    return attempt(() => this.#runs.rename(id, name));
  }

  deleteRun(id: string) {
    return attempt(() => this.#runs.delete(id));
  }

  async runAdapter(id: string) {
    return withTransfer(await attempt(() => this.#runs.adapter(id)));
  }

  async #loadModel(folder: ModelFolder, source: ModelSource, onProgress?: ProgressCallback) {
    this.#idle();
    return (await this.#reload(folder, source, DEFAULT_TRAIN_CONFIG.quant, DEFAULT_TRAIN_CONFIG.doubleQuant, onProgress)).card;
  }

  /** Replaces the loaded model: everything on the GPU belonged to the old one, so all of it goes. */
  async #reload(folder: ModelFolder, source: ModelSource, quant: 'nf4' | 'none', doubleQuant: boolean, onProgress?: ProgressCallback): Promise<ModelSession> {
    const { rt } = await this.#runtime();
    this.#model = undefined;
    this.#dataset = undefined;
    // The arena is emptied below, and the last adapter was trained for the old model (its .zip
    // stays exportable: it needs no GPU).
    this.#generation = undefined;
    this.#tuned = null;
    rt.arena.releaseAll();
    this.#model = await loadModelSession(rt, folder, { quant, doubleQuant, source, onProgress });
    return this.#model;
  }

  #requireModel(): ModelSession {
    if (!this.#model) throw new InputError('no_model', 'Load a model first: the dataset is tokenized with the model’s own tokenizer.');
    return this.#model;
  }

  #idle(): void {
    if (this.#training) throw new InputError('busy', 'A training run is in progress: stop it first.');
    if (this.#generating) throw new InputError('busy', 'Text is being generated: stop it first.');
    if (this.#merging) throw new InputError('busy', 'A merged model is being exported: wait for it or cancel it first.');
    if (this.#evaluating) throw new InputError('busy', 'The eval table is being computed: stop it first.');
  }

  /** The generation state for the loaded model and the last adapter, made on first use. */
  async #generationFor(model: ModelSession): Promise<GenerationSession> {
    const { rt } = await this.#runtime();
    if (this.#generation?.model !== model) this.#dropGeneration(this.#tuned);
    this.#generation ??= new GenerationSession(rt, model, this.#tuned);
    return this.#generation;
  }

  /** Forgets the generation state (its LoRA copy on the GPU) and which adapter to generate with. */
  #dropGeneration(tuned: TunedAdapter | null): void {
    this.#generation?.release();
    this.#generation = undefined;
    this.#tuned = tuned;
  }

  /** One Runtime per device; a lost device takes the model and dataset with it. */
  async #runtime(): Promise<{ gpu: GpuContext; rt: Runtime }> {
    const gpu = await this.#device();
    if (this.#rt?.gpu !== gpu) {
      this.#rt = { gpu, rt: new Runtime(gpu) };
      this.#model = undefined;
      this.#dataset = undefined;
    }
    return this.#rt;
  }

  /**
   * One device for the engine's lifetime. A failed acquisition or a lost device is forgotten, so
   * the next call tries again (the user may have fixed the cause, or the driver reset).
   */
  #device(): Promise<GpuContext> {
    if (!this.#gpu) {
      const pending = this.#acquire();
      const forget = () => {
        if (this.#gpu === pending) this.#gpu = undefined;
      };
      this.#gpu = pending;
      pending.then((gpu) => gpu.lost.then(forget), forget);
    }
    return this.#gpu;
  }
}
