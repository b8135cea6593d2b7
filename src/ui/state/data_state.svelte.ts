import type { Remote } from 'comlink';
import * as Comlink from 'comlink';
import type { DatasetOptions, DatasetSummary, EngineApi, ExamplePreviewView, Progress, WireError } from '../../worker/api.ts';
import { settle } from './wire.ts';

export type DataStatus =
  | { kind: 'none' }
  /** A file is chosen but no model is loaded yet to tokenize it with. */
  | { kind: 'waiting' }
  | { kind: 'loading'; progress: Progress | null }
  | { kind: 'ready'; summary: DatasetSummary }
  | { kind: 'failed'; error: WireError };

/** The Data screen: the JSONL file, what the engine made of it, and one example at a time. */
export class DataState {
  file: File | null = $state.raw(null);
  status: DataStatus = $state.raw({ kind: 'none' });
  preview: ExamplePreviewView | null = $state.raw(null);
  previewError: WireError | null = $state.raw(null);
  /** Answers to a load that a newer one overtook are dropped. */
  #generation = 0;

  constructor(
    private readonly engine: Remote<EngineApi>,
    /** Whether a model is loaded (the tokenizer comes from it). */
    private readonly modelReady: () => boolean,
    /** The tokenization settings currently chosen. */
    private readonly options: () => DatasetOptions,
  ) {}

  get summary(): DatasetSummary | null {
    return this.status.kind === 'ready' ? this.status.summary : null;
  }

  /** A new file from the picker or a drop. */
  choose(file: File): Promise<void> {
    this.file = file;
    return this.reload();
  }

  /** Reads the chosen file again (a new model was loaded, or the tokenization settings changed). */
  async reload(): Promise<void> {
    const file = this.file;
    if (!file) return;
    const generation = ++this.#generation;
    this.preview = null;
    this.previewError = null;
    if (!this.modelReady()) {
      this.status = { kind: 'waiting' };
      return;
    }
    this.status = { kind: 'loading', progress: null };
    const onProgress = Comlink.proxy((p: Progress) => {
      if (generation === this.#generation && this.status.kind === 'loading') this.status = { kind: 'loading', progress: p };
    });
    const out = await settle(this.engine.loadDataset(file, $state.snapshot(this.options()), onProgress));
    if (generation !== this.#generation) return;
    this.status = out.ok ? { kind: 'ready', summary: out.dataset } : { kind: 'failed', error: out.error };
    if (out.ok) await this.showExample(0);
  }

  async showExample(index: number): Promise<void> {
    const out = await settle(this.engine.previewExample(index));
    if (out.ok) {
      this.preview = out.preview;
      this.previewError = null;
    } else this.previewError = out.error;
  }
}
