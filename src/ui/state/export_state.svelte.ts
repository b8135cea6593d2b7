import type { Remote } from 'comlink';
import * as Comlink from 'comlink';
import type { EngineApi, MergedExport, MergeTarget, Progress, WireError } from '../../worker/api.ts';
import { download, settle } from './wire.ts';

export type MergeStatus = 'idle' | 'picking' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'failed';

/** The default shard size, as transformers' save_pretrained (2 GB, decimal). */
export const DEFAULT_SHARD_GB = 2;

type DirectoryPicker = (options?: { id?: string; mode?: 'read' | 'readwrite' }) => Promise<FileSystemDirectoryHandle>;

/** `window.showDirectoryPicker` where the browser has it (Chromium on desktop), else null. */
export function directoryPicker(): DirectoryPicker | null {
  const w = globalThis as unknown as { showDirectoryPicker?: DirectoryPicker };
  return typeof w.showDirectoryPicker === 'function' ? w.showDirectoryPicker.bind(globalThis) : null;
}

/**
 * The Export screen's merged model: the last run's adapter folded into the base weights and
 * written as a Hugging Face folder, into a folder the user picks or as one .zip to download.
 */
export class ExportState {
  /** Merge into the 4-bit (NF4) weights, as PEFT's merge on a 4-bit model does, instead of full precision. */
  fromNf4 = $state(false);
  shardGb = $state(DEFAULT_SHARD_GB);
  status: MergeStatus = $state('idle');
  target: MergeTarget['kind'] | null = $state(null);
  progress: Progress | null = $state.raw(null);
  result: MergedExport | null = $state.raw(null);
  error: WireError | null = $state.raw(null);
  /** After a cancel: what the engine says was left (nothing half-written). */
  cancelNote: string | null = $state(null);

  constructor(
    private readonly engine: Remote<EngineApi>,
    /** Called after an export that may have kept a copy with the saved run. */
    private readonly onFinished: () => void = () => {},
  ) {}

  get running(): boolean {
    return this.status === 'picking' || this.status === 'running' || this.status === 'cancelling';
  }

  get canPickFolder(): boolean {
    return directoryPicker() !== null;
  }

  /** Asks for a folder (a user gesture must call this), then writes the model into it. */
  async saveToFolder(): Promise<void> {
    const pick = directoryPicker();
    if (!pick || this.running) return;
    this.status = 'picking';
    let handle: FileSystemDirectoryHandle;
    try {
      handle = await pick({ id: 'webtune-merged', mode: 'readwrite' });
    } catch (e) {
      // Closing the picker is not an error; anything else (a blocked system folder) is shown.
      const aborted = (e as { name?: string } | null)?.name === 'AbortError';
      this.status = aborted ? 'idle' : 'failed';
      if (!aborted) this.error = { name: 'PickerError', code: 'folder_refused', message: `The browser refused that folder: ${(e as Error).message}. Pick another folder, or download a .zip instead.` };
      return;
    }
    await this.#merge({ kind: 'folder', handle });
  }

  async download(): Promise<void> {
    if (this.running) return;
    await this.#merge({ kind: 'download' });
  }

  /** Forgets the last export's outcome (a new run makes a new adapter). */
  clear(): void {
    if (this.running) return;
    this.status = 'idle';
    this.target = null;
    this.progress = null;
    this.result = null;
    this.error = null;
    this.cancelNote = null;
  }

  /** Stops after the current tensor; the engine removes what it had half-written. */
  async cancel(): Promise<void> {
    if (this.status !== 'running') return;
    this.status = 'cancelling';
    await this.engine.cancelMerge();
  }

  async #merge(target: MergeTarget): Promise<void> {
    this.status = 'running';
    this.target = target.kind;
    this.progress = null;
    this.result = null;
    this.error = null;
    this.cancelNote = null;
    const onProgress = Comlink.proxy((p: Progress) => {
      if (this.running) this.progress = p;
    });
    // An emptied field (null) or a size below 1 MB means the default.
    const gb = typeof this.shardGb === 'number' && Number.isFinite(this.shardGb) && this.shardGb >= 0.001 ? this.shardGb : DEFAULT_SHARD_GB;
    const maxShardSize = Math.round(gb * 1e9);
    const out = await settle(this.engine.exportMerged({ fromNf4: this.fromNf4, maxShardSize, target }, onProgress));
    // cancel() may have run while the engine worked: read the status afresh.
    const wasCancelled = (this.status as MergeStatus) === 'cancelling';
    if (out.ok) {
      this.result = out.merged;
      this.status = 'done';
      if (out.merged.file) download(out.merged.file, out.merged.name);
    } else if (wasCancelled) {
      this.status = 'cancelled';
      this.cancelNote = out.error.message;
    } else {
      this.error = out.error;
      this.status = 'failed';
    }
    this.onFinished();
  }
}
