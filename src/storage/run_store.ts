import { InputError } from '../errors.ts';
import { isQuotaError, StorageQuotaError, type KeyValue } from './key_value.ts';

// Saved runs (DESIGN §3; issue #5): each run is three keys, so the list reads only the small ones.
//   run:<id>      RunRecord — name, status, what was trained on what, final losses, settings
//   history:<id>  the metric history (steps, evals, events), written with the record as it grows
//   adapter:<id>  the final adapter .zip bytes, written once with the record that counts them
// A record and what it describes are written in one transaction, so a crash or a full quota never
// leaves a record pointing at a missing adapter. The history's shape belongs to the caller.

export type RunRecordStatus = 'running' | 'completed' | 'stopped' | 'failed';

export interface RunRecord {
  id: string;
  name: string;
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
  status: RunRecordStatus;
  model: string;
  dataset: string;
  steps: number;
  totalSteps: number;
  finalLoss: number | null;
  finalEvalLoss: number | null;
  adapterBytes: number;
  error: string | null;
  settings: Record<string, unknown>;
}

export type NewRun = Omit<RunRecord, 'id' | 'createdAt' | 'updatedAt' | 'adapterBytes' | 'error'>;

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
    const record: RunRecord = { ...run, id, createdAt: at, updatedAt: at, adapterBytes: 0, error: null };
    await this.write([[runKey(id), record], [historyKey(id), history]], `run "${record.name}"`);
    return record;
  }

  /** Writes the record's changes and, when given, its history, together. */
  async update(id: string, change: Partial<Omit<RunRecord, 'id' | 'createdAt'>>, history?: History): Promise<RunRecord> {
    const record = { ...(await this.record(id)), ...change, id, updatedAt: this.now() };
    const entries: [string, unknown][] = [[runKey(id), record]];
    if (history !== undefined) entries.push([historyKey(id), history]);
    await this.write(entries, `run "${record.name}"`);
    return record;
  }

  /** Stores the adapter and the record that counts its bytes in one transaction. */
  async saveAdapter(id: string, zip: Uint8Array, change: Partial<Omit<RunRecord, 'id' | 'createdAt'>> = {}): Promise<RunRecord> {
    const record = { ...(await this.record(id)), ...change, id, adapterBytes: zip.byteLength, updatedAt: this.now() };
    await this.write([[adapterKey(id), zip], [runKey(id), record]], `the adapter of "${record.name}"`, zip.byteLength);
    return record;
  }

  /** Every run, newest first. */
  async list(): Promise<RunRecord[]> {
    const ids = (await this.kv.keys()).filter((k) => k.startsWith('run:')).map((k) => k.slice(4));
    const records = await Promise.all(ids.map((id) => this.kv.get<RunRecord>(runKey(id))));
    return records.filter((r): r is RunRecord => r !== undefined).sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id));
  }

  async record(id: string): Promise<RunRecord> {
    const record = await this.kv.get<RunRecord>(runKey(id));
    if (!record) throw new RunNotFoundError(id);
    return record;
  }

  async history(id: string): Promise<History | undefined> {
    return this.kv.get<History>(historyKey(id));
  }

  async adapter(id: string): Promise<Uint8Array | undefined> {
    return this.kv.get<Uint8Array>(adapterKey(id));
  }

  async rename(id: string, name: string): Promise<RunRecord> {
    const trimmed = name.trim();
    if (trimmed === '') throw new InputError('bad_run_name', 'A run needs a name: type at least one character.');
    if (trimmed.length > MAX_NAME) throw new InputError('bad_run_name', `A run name can be at most ${MAX_NAME} characters; this one has ${trimmed.length}.`);
    return this.update(id, { name: trimmed });
  }

  async delete(id: string): Promise<void> {
    await this.record(id);
    await this.kv.delMany([runKey(id), historyKey(id), adapterKey(id)]);
  }

  private async write(entries: [string, unknown][], what: string, bytes = 0): Promise<void> {
    try {
      await this.kv.setMany(entries);
    } catch (e) {
      if (isQuotaError(e)) throw new StorageQuotaError(what, bytes);
      throw e;
    }
  }
}

const runKey = (id: string) => `run:${id}`;
const historyKey = (id: string) => `history:${id}`;
const adapterKey = (id: string) => `adapter:${id}`;

/** Sortable by time, unique across tabs. */
export function newRunId(): string {
  return `${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
}
