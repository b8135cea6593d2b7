import type { ModelCard } from './api_model.ts';
import type { CheckpointInfo, ModelSource, ResumeBlocker, RunStorage } from './api_runs.ts';

// Types of the training, settings and saved-runs half of the worker API (api.ts).

/** How a setting is typed and bounded (train/config.ts's FieldKind, as plain data). */
export type SettingKind =
  | { type: 'int'; min: number; max: number; nullable?: boolean }
  | { type: 'number'; min: number; max: number; minOpen?: boolean; maxOpen?: boolean; nullable?: boolean }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'modules'; values: readonly string[] };

export interface SettingSpec {
  /** The TrainConfig key, e.g. `loraR`. */
  field: string;
  /** The `webtune train` flag without "--", for people who know the CLI. */
  flag: string;
  label: string;
  /** One line: what it does. */
  doc: string;
  /** One line from practice ("1e-4 to 5e-4"), or null. */
  advice: string | null;
  kind: SettingKind;
  /** The group the form shows it in. */
  group: 'Schedule' | 'LoRA adapter' | 'Data' | 'Advanced';
}

export interface SettingsPreset {
  id: string;
  name: string;
  /** What it gives and what it costs. */
  trade: string;
  /** The fields it sets, with their values. */
  settings: Record<string, unknown>;
}

export interface SettingsSchema {
  fields: SettingSpec[];
  defaults: Record<string, unknown>;
  presets: SettingsPreset[];
}

/** Setting values by TrainConfig key; absent keys take their defaults. */
export type SettingsInput = Record<string, unknown>;

export interface SettingsProblem {
  field: string;
  /** The whole sentence, starting with the setting's label. */
  message: string;
}

/** GPU memory a run with some settings would take, estimated before anything is allocated. */
export interface MemoryView {
  /** Bytes live while training, by category: base, lora, optimizer, activations, scratch. */
  live: Record<string, number>;
  total: number;
  /** The most at any moment, loading included. */
  peak: number;
  /** batch · seq: the tokens one micro-batch is planned for. */
  tokens: number;
  /** The padded sequence length planned for. */
  seq: number;
  /** Whether seq came from the dataset's longest example (else from max length). */
  fromData: boolean;
  /** Buffers this GPU's limits refuse, each with what to lower; empty when the run fits. */
  problems: string[];
}

/** One optimizer step, as charted. */
export interface StepPoint {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Real tokens this step processed. */
  tokens: number;
  /** Tokens per second over this step. */
  tokensPerS: number;
  elapsedS: number;
  skipped: boolean;
}

export interface EvalPoint {
  step: number;
  evalLoss: number;
}

export interface RunEvent {
  /** Seconds since the run started. */
  atS: number;
  text: string;
}

/** What a run will do, sent once before its first step. */
export interface RunPlan {
  runId: string;
  totalSteps: number;
  stepsPerEpoch: number;
  trainExamples: number;
  evalExamples: number;
  /** GPU bytes by category once the adapter, optimizer and activations are allocated. */
  memory: Record<string, number>;
  /** The base as this run holds it: a run whose precision differs from the loaded one loads it again. */
  model: ModelCard;
}

/** Pass as `Comlink.proxy({...})`; every member optional. */
export interface TrainCallbacks {
  onPlan?(plan: RunPlan): void;
  /** The run paused (after its current step) or went on again. */
  onState?(state: 'running' | 'paused'): void;
  onStep?(step: StepPoint): void;
  onEval?(point: EvalPoint): void;
  onEvent?(event: RunEvent): void;
}

export interface TrainSummary {
  runId: string;
  steps: number;
  totalSteps: number;
  /** Set when stopped before the end: the last step done. */
  stoppedAt: number | null;
  finalLoss: number | null;
  finalEvalLoss: number | null;
  elapsedS: number;
  peakGpuBytes: number;
  adapterBytes: number;
}

export type RunStatus = 'running' | 'completed' | 'stopped' | 'failed' | 'interrupted';

export interface SavedRunSummary {
  id: string;
  name: string;
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
  status: RunStatus;
  model: string;
  dataset: string;
  steps: number;
  totalSteps: number;
  finalLoss: number | null;
  finalEvalLoss: number | null;
  /** Size of the saved adapter .zip; 0 when there is none. */
  adapterBytes: number;
  /** Why it failed, when it did. */
  error: string | null;
  /** How its base model was loaded, for resuming it. */
  modelSource: ModelSource;
  /** Its last checkpoint, or null. */
  checkpoint: CheckpointInfo | null;
  /** null when `resumeRun` can continue it; otherwise why not. */
  resumeBlocker: ResumeBlocker;
  /** Bytes of its merged model kept in IndexedDB; 0 when none. */
  mergedBytes: number;
  /** Everything stored for it, by part. */
  storage: RunStorage;
}

export interface RunHistory {
  steps: StepPoint[];
  evals: EvalPoint[];
  events: RunEvent[];
}

export interface SavedRun extends SavedRunSummary {
  /** The validated TrainConfig the run used. */
  settings: Record<string, unknown>;
  history: RunHistory;
}

/** One generation for the Compare screen. */
export interface GenerateRequest {
  prompt: string;
  /** With the last run's adapter (the fine-tuned model), or without it (the base). */
  adapter: boolean;
  /** Wrap the prompt in the model's chat template as one user turn. */
  chat: boolean;
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  seed: number;
}

export interface GenerateSummary {
  text: string;
  tokens: number;
  finish: 'eos' | 'stop' | 'length' | 'aborted';
  promptTokens: number;
  tokensPerS: number;
}
