import type { Remote } from 'comlink';
import * as Comlink from 'comlink';
import type { EngineApi, ModelCard, Progress, WireError } from '../../worker/api.ts';
import { settle } from './wire.ts';

export type ModelStatus =
  | { kind: 'none' }
  | { kind: 'loading'; what: string; progress: Progress | null }
  | { kind: 'ready'; card: ModelCard }
  | { kind: 'failed'; error: WireError };

/** The Model screen: which base model is on the GPU, or why none is. */
export class ModelState {
  status: ModelStatus = $state.raw({ kind: 'none' });
  /** Bumped each time a model finishes loading, so the dataset can be tokenized again for it. */
  generation = $state(0);

  constructor(private readonly engine: Remote<EngineApi>) {}

  get card(): ModelCard | null {
    return this.status.kind === 'ready' ? this.status.card : null;
  }

  get busy(): boolean {
    return this.status.kind === 'loading';
  }

  /** The loaded model's card again, as a run loaded it in another precision (the model is the same one). */
  adopt(card: ModelCard | undefined): void {
    if (card && this.status.kind === 'ready' && card.name === this.status.card.name) this.status = { kind: 'ready', card };
  }

  loadDemo(): Promise<void> {
    return this.load('the demo model', (onProgress) => this.engine.loadDemoModel(onProgress));
  }

  loadFiles(files: File[]): Promise<void> {
    const top = files[0]?.webkitRelativePath.split('/')[0] || `${files.length} files`;
    return this.load(top, (onProgress) => this.engine.loadModelFiles(files, onProgress));
  }

  /** Runs one of the engine's model loads, showing its progress (and its bytes, for a download). */
  async load(what: string, call: (onProgress: (p: Progress) => void) => ReturnType<EngineApi['loadDemoModel']>): Promise<void> {
    this.status = { kind: 'loading', what, progress: null };
    const onProgress = Comlink.proxy((p: Progress) => {
      if (this.status.kind === 'loading') this.status = { ...this.status, progress: p };
    });
    const out = await settle(call(onProgress));
    this.status = out.ok ? { kind: 'ready', card: out.model } : { kind: 'failed', error: out.error };
    if (out.ok) this.generation++;
  }
}
