import type { Generator } from './generate.ts';
import { StopStringMatcher, TokenSampler, type SamplingOptions, type UniformSource } from './sampling.ts';

// One generation: prefill the prompt, then sample a token, run it, repeat (issue #6):
//
//   logits = G.append(prompt)                         fresh cache, positions 0 … P − 1
//   loop n = 0 … maxNewTokens − 1:
//     stop if the signal is aborted
//     id = sampler.next(logits)                        sampling.ts (penalty, T, top-k, top-p)
//     stop if id is an end-of-sequence id              (not part of the output)
//     text += decode(tokens + id) − decode(tokens)     streamed, minus any stop string
//     stop if a stop string completed, or n + 1 = maxNewTokens
//     logits = G.append([id])                          position P + n
//
// Text is decoded from the whole generated sequence each step (a token alone may be half a UTF-8
// character or lose its leading space); a delta is only released once it no longer ends in U+FFFD.

/** Token ids to text (a TextTokenizer's decode, by shape: model/ does not import data/). */
export type TokenDecoder = (ids: readonly number[]) => string;

export interface GenerateOptions {
  /** New tokens at most (the EOS that ends generation is not counted as output). */
  maxNewTokens: number;
  sampling: SamplingOptions;
  /** The seeded stream sampling draws from (train/rng.ts's Prng). */
  rng: UniformSource;
  /** Ids that end generation (EOS, a chat template's end of turn). */
  stopIds?: readonly number[];
  /** Strings that end generation; the text before them is returned (needs `decode`). */
  stopStrings?: readonly string[];
  decode?: TokenDecoder;
  /** Apply the LoRA pairs; default: on when the generator has them. */
  adapter?: boolean;
  signal?: AbortSignal;
  /** Each piece of final text as soon as it is known (never taken back). */
  onText?: (text: string) => void;
  /** Each generated token id, as it is chosen. */
  onToken?: (id: number) => void;
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'aborted';

export interface GenerateResult {
  /** Generated ids, without the stopping EOS. */
  tokens: number[];
  /** Their text, cut before a stop string ('' without `decode`). */
  text: string;
  finish: FinishReason;
  promptTokens: number;
  /** Wall-clock milliseconds of the prefill (prompt → first logits) and of the decode steps. */
  prefillMs: number;
  decodeMs: number;
  /** Tokens run through the model one at a time (generated tokens that needed a next step). */
  decodeSteps: number;
}

/** The loop above on a generator whose cache is empty (Generator.generate resets it). */
export async function generateTokens(gen: Generator, prompt: readonly number[], o: GenerateOptions): Promise<GenerateResult> {
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 0) throw new RangeError(`maxNewTokens must be an integer ≥ 0, got ${o.maxNewTokens}`);
  if (prompt.length === 0) throw new RangeError('the prompt has no tokens');
  const needed = prompt.length + Math.max(0, o.maxNewTokens - 1);
  if (needed > gen.cache.capacity) {
    throw new RangeError(`a ${prompt.length}-token prompt and ${o.maxNewTokens} new tokens need ${needed} positions; the generator holds ${gen.cache.capacity}`);
  }
  if (o.stopStrings?.length && !o.decode) throw new Error('stop strings need a decode function');
  const adapter = o.adapter ?? gen.hasAdapter;
  const sampler = new TokenSampler(o.sampling, o.rng, prompt);
  const matcher = new StopStringMatcher(o.stopStrings ?? []);
  const stopIds = new Set(o.stopIds ?? []);
  const tokens: number[] = [];
  let text = '';
  let decoded = '';
  const emit = (piece: string) => {
    if (piece === '') return;
    text += piece;
    o.onText?.(piece);
  };
  const result = (finish: FinishReason, prefillMs: number, decodeMs: number, decodeSteps: number): GenerateResult => {
    if (finish !== 'stop') emit(matcher.flush());
    return { tokens, text, finish, promptTokens: prompt.length, prefillMs, decodeMs, decodeSteps };
  };

  if (o.signal?.aborted) return result('aborted', 0, 0, 0);
  if (o.maxNewTokens === 0) return result('length', 0, 0, 0);
  const t0 = performance.now();
  let logits = await gen.append(prompt, adapter);
  const prefillMs = performance.now() - t0;
  const t1 = performance.now();
  let steps = 0;
  const done = (finish: FinishReason) => result(finish, prefillMs, performance.now() - t1, steps);
  for (let n = 0; n < o.maxNewTokens; n++) {
    if (o.signal?.aborted) return done('aborted');
    const id = sampler.next(logits);
    if (stopIds.has(id)) return done('eos');
    tokens.push(id);
    o.onToken?.(id);
    if (o.decode) {
      const full = o.decode(tokens);
      if (!full.endsWith('\uFFFD')) {
        // A decode that rewrites earlier text (rare) resynchronizes without repeating it.
        const delta = full.startsWith(decoded) ? full.slice(decoded.length) : '';
        decoded = full;
        const pushed = matcher.push(delta);
        emit(pushed.text);
        if (pushed.stop !== null) return done('stop');
      }
    }
    if (n + 1 === o.maxNewTokens) break;
    logits = await gen.append([id], adapter);
    steps++;
  }
  return done('length');
}
