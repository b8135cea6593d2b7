import type { RunRecord, RunStore } from '../storage/run_store.ts';
import { runParts } from '../storage/run_parts.ts';
import { InputError } from '../errors.ts';
import type { RunHistory, SavedRun, SavedRunSummary, StorageUse } from './api.ts';
import { modelSourceOf, resumeBlocker } from './saved_run_resume.ts';
import { adapterFileName } from './training_run.ts';

// Saved runs as the worker API shows them (the records themselves live in storage/run_store.ts).
// A record still marked "running" whose run is not the one this engine is training was left by a
// tab that closed or crashed mid-run: it is shown as interrupted, with what was saved before, and
// can be resumed from its last checkpoint.

export class RunsApi {
  constructor(
    readonly store: RunStore<RunHistory>,
    private readonly liveRunId: () => string | null,
  ) {}

  async list(): Promise<{ runs: SavedRunSummary[] }> {
    const merged = await this.store.mergedBytes();
    return { runs: (await this.store.list()).map((r) => this.summary(r, merged.get(r.id) ?? 0)) };
  }

  async get(id: string): Promise<{ run: SavedRun }> {
    const record = await this.store.record(id);
    const history = (await this.store.history(id)) ?? { steps: [], evals: [], events: [] };
    return { run: { ...this.summary(record, await this.mergedBytes(id)), settings: record.settings, history } };
  }

  async rename(id: string, name: string): Promise<{ run: SavedRunSummary }> {
    const record = await this.store.rename(id, name);
    return { run: this.summary(record, await this.mergedBytes(id)) };
  }

  /** The origin's usage and quota where the browser tells (a page or worker), and what runs keep. */
  async storageUse(): Promise<{ storage: StorageUse }> {
    const { runs } = await this.list();
    const runsBytes = runs.reduce((n, r) => n + r.storage.total, 0);
    const manager = (globalThis as { navigator?: { storage?: Partial<StorageManager> } }).navigator?.storage;
    const estimate = await manager?.estimate?.().catch(() => undefined);
    const persisted = await manager?.persisted?.().catch(() => undefined);
    return { storage: { usage: estimate?.usage ?? null, quota: estimate?.quota ?? null, persisted: persisted ?? null, runsBytes } };
  }

  async delete(id: string): Promise<object> {
    if (id === this.liveRunId()) throw new InputError('busy', 'This run is still training: stop it before deleting it.');
    await this.store.delete(id);
    return {};
  }

  async adapter(id: string): Promise<{ fileName: string; bytes: Uint8Array }> {
    const record = await this.store.record(id);
    const bytes = await this.store.adapter(id);
    if (!bytes) throw new InputError('no_adapter', `The run "${record.name}" has no saved adapter: it ended before training finished or was stopped.`);
    return { fileName: adapterFileName(record.model, record.dataset), bytes };
  }

  private async mergedBytes(id: string): Promise<number> {
    return (await this.store.mergedMeta(id))?.bytes ?? 0;
  }

  private summary(r: RunRecord, mergedBytes: number): SavedRunSummary {
    const live = r.id === this.liveRunId();
    const interrupted = r.status === 'running' && !live;
    return {
      id: r.id,
      name: r.name,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      status: interrupted ? 'interrupted' : r.status,
      model: r.model,
      dataset: r.dataset,
      steps: r.steps,
      totalSteps: r.totalSteps,
      finalLoss: r.finalLoss,
      finalEvalLoss: r.finalEvalLoss,
      adapterBytes: r.adapterBytes,
      error: r.error,
      modelSource: modelSourceOf(r),
      checkpoint: r.checkpoint && { ...r.checkpoint },
      resumeBlocker: resumeBlocker(r, live),
      mergedBytes,
      storage: runParts(r, mergedBytes),
    };
  }
}
