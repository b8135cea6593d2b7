import { encodePrompt, stopIdsOf } from '../data/prompt.ts';
import type { Runtime } from '../engine/runtime.ts';
import { InputError } from '../errors.ts';
import { Generator } from '../model/generate.ts';
import { LoraParams, releaseLora, type LoraArrays, type LoraOptions } from '../model/lora_params.ts';
import { loraInitStream, Prng } from '../train/rng.ts';
import type { GenerateRequest, GenerateSummary } from './api.ts';
import type { ModelSession } from './model_session.ts';

// Text from the loaded base, with or without the last run's adapter (issue #6 in the app): one
// Generator (model/generate.ts) per request over the NF4 base and, when there is one, the tuned
// LoRA pairs applied unmerged — `adapter: false` on the same generator IS the base model. The
// pairs are uploaded once per trained adapter and kept until the model or the adapter changes.

/** The last run's LoRA weights, as training left them. */
export interface TunedAdapter {
  weights: Map<string, LoraArrays>;
  options: Omit<LoraOptions, 'init' | 'dropout'>;
}

export const MAX_NEW_TOKENS = 512;

export class GenerationSession {
  private lora: LoraParams | null = null;

  constructor(
    private readonly rt: Runtime,
    readonly model: ModelSession,
    readonly tuned: TunedAdapter | null,
  ) {}

  async generate(request: GenerateRequest, onText: (text: string) => void, signal: AbortSignal): Promise<GenerateSummary> {
    const { tokenizer, card } = this.model;
    if (request.adapter && !this.tuned) throw new InputError('no_adapter', 'There is no fine-tuned adapter yet: train first, then compare.');
    if (!Number.isInteger(request.maxNewTokens) || request.maxNewTokens < 1 || request.maxNewTokens > MAX_NEW_TOKENS) {
      throw new InputError('bad_generate_request', `New tokens must be a whole number from 1 to ${MAX_NEW_TOKENS}, got ${request.maxNewTokens}.`);
    }
    if (!(request.temperature >= 0 && Number.isFinite(request.temperature))) throw new InputError('bad_generate_request', `Temperature must be 0 (greedy) or more, got ${request.temperature}.`);
    if (request.chat && !tokenizer.chatTemplate) throw new InputError('no_chat_template', `${card.name} has no chat template: untick "chat" to continue plain text.`);
    if (!request.chat && request.prompt === '') throw new InputError('bad_generate_request', 'Type a prompt first.');
    const prompt = encodePrompt(tokenizer, request.prompt, request.chat);
    if (prompt.length === 0) throw new InputError('bad_generate_request', 'Type a prompt first.');
    return this.generateIds(prompt, request, signal, onText);
  }

  /** A continuation of prompt ids (the eval table encodes its own prompts), base or tuned. */
  async generateIds(prompt: number[], options: Pick<GenerateRequest, 'adapter' | 'maxNewTokens' | 'temperature' | 'seed'>, signal: AbortSignal, onText: (text: string) => void = () => {}): Promise<GenerateSummary> {
    const { tokenizer, card } = this.model;
    if (options.adapter && !this.tuned) throw new InputError('no_adapter', 'There is no fine-tuned adapter yet: train first, then compare.');
    const maxSeq = prompt.length + options.maxNewTokens;
    if (maxSeq > card.contextLength) throw new InputError('bad_generate_request', `The prompt (${prompt.length} tokens) and ${options.maxNewTokens} new tokens exceed the model's context of ${card.contextLength}.`);
    const generator = new Generator(this.rt, this.model.base, { lora: options.adapter ? this.adapterParams() : null, maxSeq });
    try {
      await this.rt.arena.checkAllocations();
      const result = await generator.generate(prompt, {
        maxNewTokens: options.maxNewTokens,
        sampling: { temperature: options.temperature, topK: 0, topP: 1, repetitionPenalty: 1 },
        rng: Prng.stream(options.seed, 'generate'),
        stopIds: stopIdsOf(tokenizer),
        decode: (ids) => tokenizer.decode(ids, true),
        adapter: options.adapter,
        signal,
        onText,
      });
      const seconds = (result.prefillMs + result.decodeMs) / 1000;
      return { text: result.text, tokens: result.tokens.length, finish: result.finish, promptTokens: result.promptTokens, tokensPerS: seconds > 0 ? result.tokens.length / seconds : 0 };
    } finally {
      generator.release();
    }
  }

  /** Gives back the uploaded LoRA pairs (the base stays). */
  release(): void {
    if (this.lora) releaseLora(this.rt, this.lora);
    this.lora = null;
  }

  private adapterParams(): LoraParams {
    if (!this.lora) {
      const t = this.tuned!;
      this.lora = new LoraParams(this.rt, this.model.base.config, { ...t.options, dropout: 0, init: (target) => loraInitStream(0, target) });
      this.lora.import(t.weights);
    }
    return this.lora;
  }
}
