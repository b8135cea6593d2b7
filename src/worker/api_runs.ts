// Types of the run-control half of the worker API (api.ts): pausing, checkpoints kept in the
// browser, resuming a saved run (after a reload or a crash too), and the storage runs use.

/** Where a run's base model came from, so a resumed run can load the same one again. */
export type ModelSource =
  | { kind: 'demo' }
  /** Downloaded from a Hub (cached in OPFS): `base` is the Hub's address, e.g. https://huggingface.co. */
  | { kind: 'hub'; repo: string; base: string }
  /** A folder the user picked or dropped: only the user can hand it over again. */
  | { kind: 'files'; name: string };

/** What a saved run keeps to continue: its last checkpoint. */
export interface CheckpointInfo {
  /** Optimizer updates done when it was saved (the resumed run starts at step + 1). */
  step: number;
  totalSteps: number;
  /** ms since the epoch. */
  savedAt: number;
  bytes: number;
}

/** Why a saved run cannot be resumed, or null when it can. */
export type ResumeBlocker =
  | null
  | 'no_checkpoint'
  /** Completed: nothing is left to resume (its checkpoint is dropped then). */
  | 'finished'
  /** The run is training now (or paused), in this engine. */
  | 'running'
  /** The browser refused to keep a copy of its dataset (a full quota), so it cannot be re-read. */
  | 'no_dataset';

/** Bytes kept for one saved run, by part. */
export interface RunStorage {
  /** Record and metric history. */
  record: number;
  /** The copy of the dataset file kept so the run can be resumed after a reload. */
  dataset: number;
  checkpoint: number;
  adapter: number;
  merged: number;
  total: number;
}

/** The origin's storage as the browser reports it (navigator.storage.estimate); null where unknown (Node). */
export interface StorageUse {
  usage: number | null;
  quota: number | null;
  /** Whether the browser promised not to evict this origin's data (navigator.storage.persisted). */
  persisted: boolean | null;
  /** Everything saved runs keep, summed over the runs. */
  runsBytes: number;
}
