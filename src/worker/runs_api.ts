import type { RunRecord, RunStore } from '../storage/run_store.ts';
import { InputError } from '../errors.ts';
import type { RunHistory, SavedRun, SavedRunSummary } from './api.ts';
import { adapterFileName } from './training_run.ts';

// Saved runs as the worker API shows them (the records themselves live in storage/run_store.ts).
// A record still marked "running" whose run is not the one this engine is training was left by a
// tab that closed or crashed mid-run: it is shown as interrupted, with what was saved before.

export class RunsApi {
  constructor(
    readonly store: RunStore<RunHistory>,
    private readonly liveRunId: () => string | null,
  ) {}

  async list(): Promise<{ runs: SavedRunSummary[] }> {
    return { runs: (await this.store.list()).map((r) => this.summary(r)) };
  }

  async get(id: string): Promise<{ run: SavedRun }> {
    const record = await this.store.record(id);
    const history = (await this.store.history(id)) ?? { steps: [], evals: [], events: [] };
    return { run: { ...this.summary(record), settings: record.settings, history } };
  }

  async rename(id: string, name: string): Promise<{ run: SavedRunSummary }> {
    return { run: this.summary(await this.store.rename(id, name)) };
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

  private summary(r: RunRecord): SavedRunSummary {
    const interrupted = r.status === 'running' && r.id !== this.liveRunId();
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
      // Filled in by the run-control work (api_runs.ts); placeholders until then.
      modelSource: { kind: 'files', name: r.model },
      checkpoint: null,
      resumeBlocker: 'no_checkpoint',
      mergedBytes: 0,
      storage: { record: 0, dataset: 0, checkpoint: 0, adapter: r.adapterBytes, merged: 0, total: r.adapterBytes },
    };
  }
}
