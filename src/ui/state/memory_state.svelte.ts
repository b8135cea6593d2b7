import type { Remote } from 'comlink';
import type { EngineApi, MemoryView, SettingsInput, WireError } from '../../worker/api.ts';
import { settle } from './wire.ts';

/** The memory bar: the engine's estimate for the current settings, model and dataset. */
export class MemoryState {
  view: MemoryView | null = $state.raw(null);
  error: WireError | null = $state.raw(null);
  #generation = 0;

  constructor(private readonly engine: Remote<EngineApi>) {}

  async refresh(settings: SettingsInput): Promise<void> {
    const generation = ++this.#generation;
    const out = await settle(this.engine.estimateMemory(settings));
    if (generation !== this.#generation) return;
    this.view = out.ok ? out.memory : null;
    this.error = out.ok ? null : out.error;
  }

  clear(): void {
    this.#generation++;
    this.view = null;
    this.error = null;
  }
}
