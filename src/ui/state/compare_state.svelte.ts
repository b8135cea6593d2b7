import type { Remote } from 'comlink';
import * as Comlink from 'comlink';
import type { EngineApi, GenerateSummary, WireError } from '../../worker/api.ts';
import { EvalState } from './eval_state.svelte.ts';
import { settle } from './wire.ts';

export interface Side {
  text: string;
  status: 'idle' | 'waiting' | 'running' | 'done' | 'failed';
  summary: GenerateSummary | null;
  error: WireError | null;
}

const idle = (): Side => ({ text: '', status: 'idle', summary: null, error: null });

/**
 * The Compare screen: one prompt, answered by the base model and then by the fine-tuned one; and
 * the evaluation table, the eval split scored for both.
 */
export class CompareState {
  prompt = $state('');
  maxNewTokens = $state(48);
  temperature = $state(0);
  chat = $state(false);
  base: Side = $state(idle());
  tuned: Side = $state(idle());
  readonly evaluation: EvalState;
  #stopped = false;

  constructor(private readonly engine: Remote<EngineApi>) {
    this.evaluation = new EvalState(engine);
  }

  /** A prompt is being answered. */
  get running(): boolean {
    return [this.base, this.tuned].some((s) => s.status === 'running' || s.status === 'waiting');
  }

  /** The engine is generating for this screen: a prompt's answers or the evaluation table. */
  get busy(): boolean {
    return this.running || this.evaluation.running;
  }

  /** Base first, then tuned, each streamed into its own column; the same seed for both. */
  async run(withAdapter: boolean): Promise<void> {
    if (this.running) return;
    this.#stopped = false;
    this.base = { ...idle(), status: 'waiting' };
    this.tuned = withAdapter ? { ...idle(), status: 'waiting' } : idle();
    await this.#side('base', false);
    if (withAdapter && !this.#stopped) await this.#side('tuned', true);
    else if (withAdapter) this.tuned = idle();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.engine.stopGenerating();
  }

  async #side(which: 'base' | 'tuned', adapter: boolean): Promise<void> {
    this[which] = { ...idle(), status: 'running' };
    const onText = Comlink.proxy((piece: string) => {
      // Pieces come over their own message channel: one may land after the final answer.
      if (this[which].status === 'running') this[which].text += piece;
    });
    const request = { prompt: this.prompt, adapter, chat: this.chat, maxNewTokens: this.maxNewTokens, temperature: this.temperature, seed: 0 };
    const out = await settle(this.engine.generate(request, onText));
    // The streamed pieces may still be in flight; the result's text is the whole answer.
    this[which] = out.ok ? { text: out.result.text, status: 'done', summary: out.result, error: null } : { ...this[which], status: 'failed', error: out.error };
  }
}
