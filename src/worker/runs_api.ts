import type { RunRecord, RunStore } from '../storage/run_store.ts';
import { runParts } from '../storage/run_parts.ts';
import { InputError } from '../errors.ts';
import type { RunHistory, SavedRun, SavedRunSummary, StorageUse } from './api.ts';
import type { RunLocks } from './run_locks.ts';
import { modelSourceOf, resumeBlocker } from './saved_run_resume.ts';
import { adapterFileName } from './training_run.ts';

// Saved runs as the worker API shows them (the records themselves live in storage/run_store.ts).
// A run is live while this engine trains it or another tab holds its lock (run_locks.ts). A record
// still marked "running" that is not live was left by a tab that closed or crashed mid-run: it is
// shown as interrupted, with what was saved before, and can be resumed from its last checkpoint.

export class RunsApi {
  constructor(
    readonly store: RunStore<RunHistory>,
    private readonly liveRunId: () => string | null,
    private readonly locks: RunLocks | null = null,
  ) {}

  async list(): Promise<{ runs: SavedRunSummary[] }> {
    const [merged, live] = await Promise.all([this.store.mergedBytes(), this.liveRuns()]);
    return { runs: (await this.store.list()).map((r) => this.summary(r, merged.get(r.id) ?? 0, live)) };
  }

  async get(id: string): Promise<{ run: SavedRun }> {
    const record = await this.store.record(id);
    const history = (await this.store.history(id)) ?? { steps: [], evals: [], events: [] };
    return { run: { ...this.summary(record, await this.mergedBytes(id), await this.liveRuns()), settings: record.settings, history } };
  }

  async rename(id: string, name: string): Promise<{ run: SavedRunSummary }> {
    const record = await this.store.rename(id, name);
    return { run: this.summary(record, await this.mergedBytes(id), await this.liveRuns()) };
  }

  /** Whether the run is training now, in this engine or another tab. */
  async isLive(id: string): Promise<boolean> {
    return (await this.liveRuns()).has(id);
  }

  /**
   * Takes the run's lock for as long as this engine trains it (release() when it ends); `busy` when
   * another tab holds it. Without Web Locks there is nothing to take.
   */
  async claim(id: string, name: string): Promise<{ release(): void }> {
    if (!this.locks) return { release: () => {} };
    const lock = await this.locks.acquire(id);
    if (!lock) throw new InputError('busy', `The run "${name}" is training in another tab of this browser: follow it there, or close that tab and resume it here.`);
    return lock;
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
    if (await this.isLive(id)) throw new InputError('busy', 'This run is still training (here or in another tab): stop it before deleting it.');
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

  /** Ids of the runs training now: this engine's, and those whose lock another tab holds. */
  private async liveRuns(): Promise<Set<string>> {
    const held = (await this.locks?.held().catch(() => undefined)) ?? new Set<string>();
    const own = this.liveRunId();
    if (own !== null) held.add(own);
    return held;
  }

  private summary(r: RunRecord, mergedBytes: number, liveRuns: Set<string>): SavedRunSummary {
    const live = liveRuns.has(r.id);
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
