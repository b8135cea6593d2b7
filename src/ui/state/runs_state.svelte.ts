import type { Remote } from 'comlink';
import type { EngineApi, SavedRun, SavedRunSummary, StorageUse, WireError } from '../../worker/api.ts';
import { download, settle } from './wire.ts';

/** Saved runs: the list from IndexedDB (through the engine), one opened with its charts, and edits. */
export class RunsState {
  runs: SavedRunSummary[] = $state.raw([]);
  loaded = $state(false);
  error: WireError | null = $state.raw(null);
  opened: SavedRun | null = $state.raw(null);
  /** What saved runs take and the origin's usage and quota; null until the engine has said. */
  storage: StorageUse | null = $state.raw(null);
  /** Interrupted runs whose banner the user closed (for this visit). */
  dismissed: ReadonlySet<string> = $state.raw(new Set());

  constructor(private readonly engine: Remote<EngineApi>) {}

  /** The newest run a closed or crashed tab left interrupted that can go on, unless dismissed. */
  get interrupted(): SavedRunSummary | null {
    return this.runs.find((r) => r.status === 'interrupted' && r.resumeBlocker === null && !this.dismissed.has(r.id)) ?? null;
  }

  dismiss(id: string): void {
    this.dismissed = new Set([...this.dismissed, id]);
  }

  async refresh(): Promise<void> {
    const [out] = await Promise.all([settle(this.engine.listRuns()), this.#refreshStorage()]);
    this.loaded = true;
    if (out.ok) {
      this.runs = out.runs;
      this.error = null;
    } else this.error = out.error;
  }

  /** Storage figures are extra: without them (an engine that cannot tell) the list still shows. */
  async #refreshStorage(): Promise<void> {
    try {
      const use = await this.engine.storageUse();
      this.storage = use.ok ? use.storage : null;
    } catch {
      this.storage = null;
    }
  }

  /** One run with its settings and history (to resume it), or null with the error shown. */
  async get(id: string): Promise<SavedRun | null> {
    const out = await settle(this.engine.getRun(id));
    if (out.ok) return out.run;
    this.error = out.error;
    return null;
  }

  async open(id: string): Promise<void> {
    if (this.opened?.id === id) {
      this.opened = null;
      return;
    }
    const out = await settle(this.engine.getRun(id));
    if (out.ok) this.opened = out.run;
    else this.error = out.error;
  }

  async rename(id: string, name: string): Promise<boolean> {
    const out = await settle(this.engine.renameRun(id, name));
    if (!out.ok) {
      this.error = out.error;
      return false;
    }
    this.error = null;
    this.runs = this.runs.map((r) => (r.id === id ? out.run : r));
    if (this.opened?.id === id) this.opened = { ...this.opened, name: out.run.name };
    return true;
  }

  async remove(id: string): Promise<void> {
    const out = await settle(this.engine.deleteRun(id));
    if (!out.ok) {
      this.error = out.error;
      return;
    }
    if (this.opened?.id === id) this.opened = null;
    await this.refresh();
  }

  async downloadAdapter(id: string): Promise<void> {
    const out = await settle(this.engine.runAdapter(id));
    if (out.ok) download(out.bytes, out.fileName);
    else this.error = out.error;
  }

  /** The merged model kept with the run (a Blob from IndexedDB, handed to the download as is). */
  async downloadMerged(id: string): Promise<void> {
    const out = await settle(this.engine.runMerged(id));
    if (out.ok) download(out.file, out.fileName);
    else this.error = out.error;
  }
}
