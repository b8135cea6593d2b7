import { InputError } from '../errors.ts';
import { formatSize, isQuotaError, StorageQuotaError, type KeyValue } from './key_value.ts';
import { dominantPart, runKeyBelongsTo, runParts, type MergedMeta } from './run_parts.ts';

// Saved runs (DESIGN §3; issues #5, #7). Each run is a few keys, so the list reads only the small ones:
//   run:<id>         RunRecord — name, status, what was trained on what, final losses, settings, sizes
//   history:<id>     the metric history (steps, evals, events), written with the record as it grows
//   adapter:<id>     the final adapter .zip bytes, written with the record that counts them
//   checkpoint:<id>  the LAST checkpoint (train/checkpoint.ts's three files), written with the record
//   dataset:<id>     the dataset File/Blob the run trained on, so it can be resumed after a reload
//   merged:<id>:<savedAt>:<n>, mergedmeta:<id>   a merged model kept as Blob chunks (merged_store.ts)
// A record and what it describes are written in one transaction, so a crash or a full quota never
// leaves a record pointing at a missing part, and a failed checkpoint save leaves the previous one
// whole. The history's shape belongs to the caller.

/** `interrupted`: the GPU device was lost mid-run; like a closed tab's run, it resumes from its checkpoint. */
export type RunRecordStatus = 'running' | 'completed' | 'stopped' | 'failed' | 'interrupted';

/** How the base model was loaded, as the worker describes it (worker/api_runs.ts ModelSource). */
export type StoredModelSource = { kind: string } & Record<string, string>;

/** The run's last checkpoint, as its record describes it. */
export interface StoredCheckpointInfo {
  /** Optimizer updates done when it was saved. */
  step: number;
  totalSteps: number;
  /** ms since the epoch. */
  savedAt: number;
  bytes: number;
}

/** `checkpoint:<id>`: the checkpoint's files by name (train/checkpoint.ts CHECKPOINT_FILES). */
export interface StoredCheckpoint {
  step: number;
  files: Record<string, Uint8Array>;
}

export interface RunRecord {
  id: string;
  name: string;
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
  status: RunRecordStatus;
  model: string;
  modelSource: StoredModelSource;
  dataset: string;
  steps: number;
  totalSteps: number;
  finalLoss: number | null;
  finalEvalLoss: number | null;
  adapterBytes: number;
  /** Bytes of the dataset copy under dataset:<id>; 0 when none was kept. */
  datasetBytes: number;
  /** JSON length of the history as last written. */
  historyBytes: number;
  checkpoint: StoredCheckpointInfo | null;
  error: string | null;
  settings: Record<string, unknown>;
}

export type NewRun = Omit<RunRecord, 'id' | 'createdAt' | 'updatedAt' | 'adapterBytes' | 'datasetBytes' | 'historyBytes' | 'checkpoint' | 'error'>;

type Change = Partial<Omit<RunRecord, 'id' | 'createdAt'>>;

const MAX_NAME = 120;

export class RunNotFoundError extends InputError {
  constructor(id: string) {
    super('run_not_found', `No saved run "${id}": it may have been deleted in another tab. Reload the list.`);
  }
}

export class RunStore<History = unknown> {
  constructor(
    private readonly kv: KeyValue,
    private readonly now: () => number = Date.now,
  ) {}

  /** Saves a new run (with its empty history) and returns its record. */
  async create(run: NewRun, history: History, id: string = newRunId()): Promise<RunRecord> {
    const at = this.now();
    const record: RunRecord = { ...run, id, createdAt: at, updatedAt: at, adapterBytes: 0, datasetBytes: 0, historyBytes: jsonBytes(history), checkpoint: null, error: null };
    await this.write([[runKey(id), record], [historyKey(id), history]], `run "${record.name}"`);
    return record;
  }

  /** Writes the record's changes and, when given, its history, together. */
  async update(id: string, change: Change, history?: History): Promise<RunRecord> {
    const record = { ...(await this.record(id)), ...change, id, updatedAt: this.now() };
    const entries: [string, unknown][] = [];
    if (history !== undefined) {
      record.historyBytes = jsonBytes(history);
      entries.push([historyKey(id), history]);
    }
    entries.push([runKey(id), record]);
    await this.write(entries, `run "${record.name}"`);
    return record;
  }

  /** Stores the adapter and the record that counts its bytes in one transaction. */
  async saveAdapter(id: string, zip: Uint8Array, change: Change = {}): Promise<RunRecord> {
    const record = { ...(await this.record(id)), ...change, id, adapterBytes: zip.byteLength, updatedAt: this.now() };
    await this.write([[adapterKey(id), zip], [runKey(id), record]], `the adapter of "${record.name}"`, zip.byteLength);
    return record;
  }

  /**
   * Replaces the run's checkpoint, with the record that describes it (and the history, when given),
   * in ONE transaction: if it fails (a full quota, a crash) the previous checkpoint stays whole.
   */
  async saveCheckpoint(id: string, checkpoint: StoredCheckpoint & { totalSteps: number }, change: Change = {}, history?: History): Promise<RunRecord> {
    const bytes = Object.values(checkpoint.files).reduce((n, f) => n + f.byteLength, 0);
    const record: RunRecord = { ...(await this.record(id)), ...change, id, updatedAt: this.now() };
    record.checkpoint = { step: checkpoint.step, totalSteps: checkpoint.totalSteps, savedAt: record.updatedAt, bytes };
    const entries: [string, unknown][] = [[checkpointKey(id), { step: checkpoint.step, files: checkpoint.files } satisfies StoredCheckpoint]];
    if (history !== undefined) {
      record.historyBytes = jsonBytes(history);
      entries.push([historyKey(id), history]);
    }
    entries.push([runKey(id), record]);
    await this.write(entries, `the checkpoint of "${record.name}" at step ${checkpoint.step}`, bytes);
    return record;
  }

  /** Forgets the checkpoint (a finished run needs none): the record first, then the bytes. */
  async dropCheckpoint(id: string): Promise<RunRecord> {
    const record = await this.update(id, { checkpoint: null });
    await this.kv.delMany([checkpointKey(id)]);
    return record;
  }

  /** Keeps the run's dataset file (IndexedDB stores a File or Blob as it is). */
  async saveDataset(id: string, file: Blob): Promise<RunRecord> {
    const record = { ...(await this.record(id)), id, datasetBytes: file.size, updatedAt: this.now() };
    await this.write([[datasetKey(id), file], [runKey(id), record]], `a copy of the dataset "${record.dataset}"`, file.size);
    return record;
  }

  /** Every run, newest first. */
  async list(): Promise<RunRecord[]> {
    const ids = (await this.kv.keys()).filter((k) => k.startsWith('run:')).map((k) => k.slice(4));
    const records = await Promise.all(ids.map((id) => this.kv.get<RunRecord>(runKey(id))));
    return records
      .filter((r): r is RunRecord => r !== undefined)
      .map(withDefaults)
      .sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id));
  }

  async record(id: string): Promise<RunRecord> {
    const record = await this.kv.get<RunRecord>(runKey(id));
    if (!record) throw new RunNotFoundError(id);
    return withDefaults(record);
  }

  async history(id: string): Promise<History | undefined> {
    return this.kv.get<History>(historyKey(id));
  }

  async adapter(id: string): Promise<Uint8Array | undefined> {
    return this.kv.get<Uint8Array>(adapterKey(id));
  }

  async checkpoint(id: string): Promise<StoredCheckpoint | undefined> {
    return this.kv.get<StoredCheckpoint>(checkpointKey(id));
  }

  async dataset(id: string): Promise<Blob | undefined> {
    return this.kv.get<Blob>(datasetKey(id));
  }

  /** The merged model's description, when the merged export kept one. */
  async mergedMeta(id: string): Promise<MergedMeta | undefined> {
    return this.kv.get<MergedMeta>(mergedMetaKey(id));
  }

  /** Bytes of every kept merged model, by run id (one read per run that has one). */
  async mergedBytes(): Promise<Map<string, number>> {
    const ids = (await this.kv.keys()).filter((k) => k.startsWith('mergedmeta:')).map((k) => k.slice('mergedmeta:'.length));
    const metas = await Promise.all(ids.map((id) => this.mergedMeta(id)));
    return new Map(ids.map((id, i) => [id, metas[i]?.bytes ?? 0]));
  }

  async rename(id: string, name: string): Promise<RunRecord> {
    const trimmed = name.trim();
    if (trimmed === '') throw new InputError('bad_run_name', 'A run needs a name: type at least one character.');
    if (trimmed.length > MAX_NAME) throw new InputError('bad_run_name', `A run name can be at most ${MAX_NAME} characters; this one has ${trimmed.length}.`);
    return this.update(id, { name: trimmed });
  }

  /** Removes every key of the run, `<kind>:<id>` and `<kind>:<id>:<n>` alike, in one transaction. */
  async delete(id: string): Promise<void> {
    await this.record(id);
    await this.kv.delMany((await this.kv.keys()).filter((k) => runKeyBelongsTo(k, id)));
  }

  private async write(entries: [string, unknown][], what: string, bytes = 0): Promise<void> {
    try {
      await this.kv.setMany(entries);
    } catch (e) {
      if (isQuotaError(e)) throw new StorageQuotaError(what, bytes, await this.deleteAdvice());
      throw e;
    }
  }

  /** What to delete: the largest saved runs and what takes their space; best effort. */
  private async deleteAdvice(): Promise<string> {
    const general = 'Delete saved runs you no longer need, or download the adapter now';
    try {
      const merged = await this.mergedBytes();
      const largest = (await this.list())
        .map((r) => ({ name: r.name, parts: runParts(r, merged.get(r.id) ?? 0) }))
        .sort((a, b) => b.parts.total - a.parts.total)
        .slice(0, 3);
      if (largest.length === 0) return general;
      const describe = (r: (typeof largest)[number]) => {
        const most = dominantPart(r.parts);
        return `"${r.name}" ${formatSize(r.parts.total)}${most ? `, mostly its ${most}` : ''}`;
      };
      return `${general} (largest saved runs: ${largest.map(describe).join('; ')})`;
    } catch {
      return general;
    }
  }
}

/** Records written before checkpoints and sizes existed. */
function withDefaults(r: RunRecord): RunRecord {
  return {
    ...r,
    modelSource: r.modelSource ?? { kind: 'files', name: r.model },
    datasetBytes: r.datasetBytes ?? 0,
    historyBytes: r.historyBytes ?? 0,
    checkpoint: r.checkpoint ?? null,
  };
}

function jsonBytes(value: unknown): number {
  return JSON.stringify(value)?.length ?? 0;
}

const runKey = (id: string) => `run:${id}`;
const historyKey = (id: string) => `history:${id}`;
const adapterKey = (id: string) => `adapter:${id}`;
const checkpointKey = (id: string) => `checkpoint:${id}`;
const datasetKey = (id: string) => `dataset:${id}`;
const mergedMetaKey = (id: string) => `mergedmeta:${id}`;

/** Sortable by time, unique across tabs. */
export function newRunId(): string {
  return `${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
}
