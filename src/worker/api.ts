// The engine's contract: the one way the UI reaches the GPU (DESIGN §1, §3). The engine runs in
// a module Web Worker (engine.worker.ts) and the UI calls it through Comlink (client.ts); tests
// and the CLI construct the same Engine class (engine.ts) directly.
//
// Rules every method follows:
// - Arguments and results are structured-cloneable plain values (File objects clone too).
//   Callbacks (progress, metrics) go as `Comlink.proxy(fn)`; large buffers come back with
//   `Comlink.transfer`, so the caller owns them afterwards.
// - A failure the user can act on (no GPU, a bad file, a setting out of range) resolves to
//   `{ ok: false, error: WireError }` carrying the user-facing message, rather than rejecting:
//   Comlink keeps only the name and message of a thrown Error, and the UI needs `code`.
// - A rejection is a bug of ours, or the worker itself stopping (see client.ts).
//
// The workflow is stateful on the engine's side, one of each at a time: a loaded base model, a
// dataset tokenized with that model's tokenizer, at most one training run, and the adapter of the
// last run (or of a saved run resumed or merged).

import type { AdapterSummary } from '../engine/device.ts';
import type { DatasetOptions, DatasetSummary, ExamplePreviewView } from './api_data.ts';
import type { EvalTable, EvaluateRequest, MergedExport, MergeRequest } from './api_export.ts';
import type { ModelCard } from './api_model.ts';
import type { StorageUse } from './api_runs.ts';
import type { GenerateRequest, GenerateSummary, MemoryView, SavedRun, SavedRunSummary, SettingsSchema, SettingsInput, SettingsProblem, TrainCallbacks, TrainSummary } from './api_train.ts';

export type { AdapterSummary };
export type * from './api_data.ts';
export type * from './api_export.ts';
export type * from './api_model.ts';
export type * from './api_runs.ts';
export type * from './api_train.ts';

/** An error as it crosses the worker boundary: `WebtuneError.toJSON()`. */
export interface WireError {
  /**
   * The error class, e.g. `WebGPUUnavailableError`, for logs. A production build may minify class
   * names, so branch on `code`, never on this.
   */
  name: string;
  /** Stable identifier for tests and branching, e.g. `webgpu_unavailable`, `bad_dataset`. */
  code: string;
  /** Written for the user: what happened and what to do. */
  message: string;
}

/** The outcome of an operation that can fail for a reason the user can act on. */
export type Outcome<T> = ({ ok: true } & T) | { ok: false; error: WireError };

/** What the engine found when it asked for a GPU: the adapter, or why there is none. */
export type GpuProbe = Outcome<{ adapter: AdapterSummary }>;

/** How far a long operation has got; `total` 0 when unknown. `stage` is a short phrase for the UI. */
export interface Progress {
  stage: string;
  done: number;
  total: number;
  /** 'bytes' for downloads (then `bytesPerS` is the recent speed); items (tensors, …) otherwise. */
  unit?: 'bytes';
  bytesPerS?: number;
}

/** What downloading a Hub repository would fetch, and how much of it is cached already. */
export interface HubPlan {
  repo: string;
  /** The Hub's address, e.g. https://huggingface.co. */
  base: string;
  files: { path: string; bytes: number; cachedBytes: number }[];
  totalBytes: number;
  cachedBytes: number;
}

export type ProgressCallback = (p: Progress) => void;

export interface EngineApi {
  /**
   * Acquires the GPU device (once; later calls reuse it until the device is lost) and describes
   * its adapter. Resolves `ok: false` with a `webgpu_unavailable` error whose message says why
   * (insecure origin, no WebGPU in this browser, GPU blocked or driver missing).
   */
  probeGpu(): Promise<GpuProbe>;

  /**
   * Calls `onLost` (a `Comlink.proxy`) once if the current GPU device is lost (driver reset, GPU
   * removed, out of memory in the driver), with a `device_lost` error. The model, dataset and any
   * run on the GPU are gone then; saved runs are not. Resolves at once; `ok: false` without a GPU.
   */
  watchDeviceLoss(onLost: (error: WireError) => void): Promise<Outcome<object>>;

  /**
   * Builds the built-in demo model (model/demo_model.ts: seeded random weights, UNTRAINED, with the
   * tokenizer shipped in public/demo-model/) and loads it onto the GPU in NF4. Replaces any model
   * loaded before (and forgets its dataset, which was tokenized for it).
   */
  loadDemoModel(onProgress?: ProgressCallback): Promise<Outcome<{ model: ModelCard }>>;

  /**
   * Loads a Hugging Face model folder the user picked or dropped: config.json, *.safetensors
   * (sharded or not), tokenizer.json and tokenizer_config.json. Files with a webkitRelativePath
   * keep their folder's name. Errors name the file and field (`unsupported_model`, `bad_model_folder` …).
   */
  loadModelFiles(files: File[], onProgress?: ProgressCallback): Promise<Outcome<{ model: ModelCard }>>;

  /**
   * The files a model folder needs from a Hub repository (`owner/name`) at `base` (default Hub:
   * https://huggingface.co; a mirror or a test server answering the same URLs works too), with
   * their sizes and how much is already in this browser's cache — shown before downloading.
   * Offline, a repository downloaded before is planned from its cached file list. `hub_error`
   * for an unknown, gated or weightless repository.
   */
  hubPlan(repo: string, base: string): Promise<Outcome<{ plan: HubPlan }>>;

  /**
   * Downloads what is missing of a repository into the Origin Private File System (resuming a
   * partial file with a Range request; complete files are not fetched again), reporting bytes and
   * speed, then loads it like `loadModelFiles`.
   */
  downloadModel(repo: string, base: string, onProgress?: ProgressCallback): Promise<Outcome<{ model: ModelCard }>>;

  /** Cancels a download in progress (what has arrived stays cached, to resume). */
  cancelDownload(): Promise<void>;

  /**
   * Streams a JSONL file through the loaded model's tokenizer: detects the format, masks each
   * example (trained tokens), gathers statistics and warnings. A bad line gives `bad_dataset` with
   * "file:line: reason". Options not given take TrainConfig's defaults (format auto, max length
   * 1024, completion only); training re-reads the file itself when its settings differ. Needs a
   * loaded model (`no_model`).
   */
  loadDataset(file: File, options: Partial<DatasetOptions>, onProgress?: ProgressCallback): Promise<Outcome<{ dataset: DatasetSummary }>>;

  /** Example `index` (0-based among the kept examples) token by token, trained tokens marked. */
  previewExample(index: number): Promise<Outcome<{ preview: ExamplePreviewView }>>;

  /** Every training setting the UI shows: labels, hints, bounds, defaults and presets. */
  settingsSchema(): Promise<SettingsSchema>;

  /** The problems of a settings record, at most one per field, each phrased for its label. */
  validateSettings(input: SettingsInput): Promise<SettingsProblem[]>;

  /**
   * GPU bytes a run with these settings would take on the loaded model (and dataset, when one is
   * loaded), by category, with any buffer this GPU's limits refuse. WebGPU does not tell how much
   * memory the GPU has in all, so only those per-buffer limits can be checked. `no_model` without
   * a model; `bad_train_config` when the settings have problems.
   */
  estimateMemory(settings: SettingsInput): Promise<Outcome<{ memory: MemoryView }>>;

  /**
   * Trains a LoRA adapter on the loaded model and dataset. Resolves when the run ends: finished,
   * stopped by `stop()` (then `summary.stoppedAt` is set), or failed (`ok: false`). Each step,
   * evaluation and event is reported through `callbacks` (a `Comlink.proxy`). The run is saved
   * (settings, metrics, then the adapter) under saved runs as it goes, with a copy of the dataset
   * file and its last checkpoint (at each epoch end, every `checkpointEvery` steps, every 60 s, on
   * pause and on stop; a full quota is reported as an event and the run goes on); its adapter is
   * kept for `exportAdapter()`. One run at a time (`busy`).
   */
  train(settings: SettingsInput, callbacks: TrainCallbacks): Promise<Outcome<{ summary: TrainSummary }>>;

  /**
   * Asks the running training to stop after its current step (a paused run stops at once); no-op
   * when none runs. A checkpoint is saved first, so a stopped run can be resumed later.
   */
  stop(): Promise<void>;

  /**
   * Pauses the running training after its current step and saves a checkpoint; `train()` (or
   * `resumeRun()`) stays pending, `callbacks.onState('paused')` is called. No-op when none runs.
   */
  pause(): Promise<void>;

  /** Continues a paused run (`callbacks.onState('running')`); no-op when none is paused. */
  resume(): Promise<void>;

  /**
   * Continues a saved run from its last checkpoint (a stopped run, or one a closed or crashed tab
   * left interrupted) so that its losses are those of a run never interrupted. The run's own
   * dataset copy and settings are used; its base model must be the loaded one, else
   * `wrong_model` naming the model and how to load it (the UI loads the demo or a Hub model by
   * itself; a picked folder must be picked again). Reports through `callbacks` like `train()`,
   * continuing the same saved run: its history is cut back to the checkpoint's step, an event says
   * "resumed from step k", and its final adapter replaces the one saved at a stop. Other errors:
   * `run_finished`, `no_checkpoint`, `no_dataset` (see `SavedRunSummary.resumeBlocker`), `busy`,
   * `run_not_found`, `resume_mismatch` (the dataset copy no longer gives the run's plan).
   */
  resumeRun(id: string, callbacks: TrainCallbacks): Promise<Outcome<{ summary: TrainSummary }>>;

  /**
   * Generates a continuation of `request.prompt` on the GPU (KV cache, greedy or seeded sampling),
   * streaming text to `onText` (a `Comlink.proxy`) as it comes, with the last run's adapter or
   * without it (the base model, from the same loaded weights). One at a time; not while training.
   */
  generate(request: GenerateRequest, onText: (text: string) => void): Promise<Outcome<{ result: GenerateSummary }>>;

  /** Stops a generation after its current token; no-op when none runs. */
  stopGenerating(): Promise<void>;

  /** The last run's adapter as a PEFT .zip (transferred). `no_adapter` before any run. */
  exportAdapter(): Promise<Outcome<{ fileName: string; bytes: Uint8Array }>>;

  /**
   * Saved runs, newest first. A run training in another tab of this browser is listed as running
   * (its Web Lock is held: worker/run_locks.ts) and cannot be resumed or deleted here; one left
   * "running" by a closed or crashed tab is listed as interrupted.
   */
  listRuns(): Promise<Outcome<{ runs: SavedRunSummary[] }>>;

  /** One saved run with its settings and metric history. */
  getRun(id: string): Promise<Outcome<{ run: SavedRun }>>;

  renameRun(id: string, name: string): Promise<Outcome<{ run: SavedRunSummary }>>;

  /** Deletes the run and everything it keeps: history, adapter, checkpoint, dataset copy, merged model. */
  deleteRun(id: string): Promise<Outcome<object>>;

  /** A saved run's adapter .zip (transferred); `no_adapter` when the run ended before it had one. */
  runAdapter(id: string): Promise<Outcome<{ fileName: string; bytes: Uint8Array }>>;

  /** What saved runs take, and the origin's usage and quota as the browser reports them. */
  storageUse(): Promise<Outcome<{ storage: StorageUse }>>;

  /**
   * Merges a run's adapter into its base (model/merge.ts: the ORIGINAL weights read again from
   * the loaded model's folder, W + scale·B·A in f32 on the GPU, written in the source dtype) and
   * writes a Hugging Face folder to `request.target`, streaming tensor by tensor. A copy is kept
   * with the saved run in IndexedDB (Blob chunks) when the quota allows; `kept` and `keptNote` say.
   */
  exportMerged(request: MergeRequest, onProgress?: ProgressCallback): Promise<Outcome<{ merged: MergedExport }>>;

  /** Cancels a merged export in progress; nothing half-written is left under its real name. */
  cancelMerge(): Promise<void>;

  /** A saved run's merged model (.zip) as kept in IndexedDB; `no_merged` when none was kept. */
  runMerged(id: string): Promise<Outcome<{ fileName: string; file: Blob }>>;

  /**
   * ROUGE/BLEU of the base and the tuned model (the last run's adapter) on the eval split of the
   * last run's dataset: each example's prompt generated by both, scored against its reference.
   * `onRow` streams each row as it is scored. Not while training or generating (`busy`).
   */
  evaluate(request: EvaluateRequest, onProgress?: ProgressCallback, onRow?: (row: EvalTable['rows'][number]) => void): Promise<Outcome<{ table: EvalTable }>>;

  /** Stops an evaluation after its current example; it resolves with the rows done. */
  stopEvaluating(): Promise<void>;
}
