import type { Remote } from 'comlink';
import type { EngineApi, HubPlan, WireError } from '../../worker/api.ts';
import type { ModelState } from './model_state.svelte.ts';
import { settle } from './wire.ts';

type KeyValueStore = Pick<Storage, 'getItem' | 'setItem'>;

export const DEFAULT_HUB = 'https://huggingface.co';
const HUB_KEY = 'webtune.hubBase';

/** Models that train in a browser tab on a laptop GPU, offered as suggestions. */
export const SUGGESTED_REPOS = [
  'HuggingFaceTB/SmolLM2-135M-Instruct',
  'HuggingFaceTB/SmolLM2-360M-Instruct',
  'Qwen/Qwen2.5-0.5B-Instruct',
  'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
];

/** A model from the Hugging Face Hub: the repository id, the Hub's address, and the size check. */
export class HubState {
  repo = $state(SUGGESTED_REPOS[0]);
  /** Remembered between visits; a mirror or a local test server may stand in for the Hub. */
  base = $state(DEFAULT_HUB);
  plan: HubPlan | null = $state.raw(null);
  error: WireError | null = $state.raw(null);
  checking = $state(false);

  constructor(
    private readonly engine: Remote<EngineApi>,
    private readonly model: ModelState,
    private readonly store: KeyValueStore | undefined = browserStorage(),
  ) {
    try {
      this.base = this.store?.getItem(HUB_KEY) || DEFAULT_HUB;
    } catch {
      this.base = DEFAULT_HUB;
    }
  }

  setBase(base: string): void {
    this.base = base;
    this.plan = null;
    try {
      this.store?.setItem(HUB_KEY, base.trim() || DEFAULT_HUB);
    } catch {
      // Not remembered; it still holds for this visit.
    }
  }

  setRepo(repo: string): void {
    this.repo = repo;
    this.plan = null;
    this.error = null;
  }

  /** The download size (and what is cached), before anything is downloaded. */
  async check(): Promise<void> {
    this.checking = true;
    const out = await settle(this.engine.hubPlan(this.repo.trim(), this.base.trim() || DEFAULT_HUB));
    this.checking = false;
    this.plan = out.ok ? out.plan : null;
    this.error = out.ok ? null : out.error;
  }

  async download(): Promise<void> {
    this.error = null;
    const repo = this.repo.trim();
    await this.model.load(repo, (onProgress) => this.engine.downloadModel(repo, this.base.trim() || DEFAULT_HUB, onProgress));
    if (this.model.status.kind === 'ready') this.plan = null;
  }

  cancel(): Promise<void> {
    return this.engine.cancelDownload();
  }
}

function browserStorage(): KeyValueStore | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}
