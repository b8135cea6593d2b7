import type { Remote } from 'comlink';
import type { EngineApi, SavedRun, SavedRunSummary, WireError } from '../../worker/api.ts';
import { download, settle } from './wire.ts';

/** Saved runs: the list from IndexedDB (through the engine), one opened with its charts, and edits. */
export class RunsState {
  runs: SavedRunSummary[] = $state.raw([]);
  loaded = $state(false);
  error: WireError | null = $state.raw(null);
  opened: SavedRun | null = $state.raw(null);

  constructor(private readonly engine: Remote<EngineApi>) {}

  async refresh(): Promise<void> {
    const out = await settle(this.engine.listRuns());
    this.loaded = true;
    if (out.ok) {
      this.runs = out.runs;
      this.error = null;
    } else this.error = out.error;
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
}
