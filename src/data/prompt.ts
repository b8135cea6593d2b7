import { ChatRenderer } from './chat_template.ts';
import type { TextTokenizer } from './tokenizer.ts';

// Prompts for generation, shared by `webtune generate`/`eval` and the app's Compare screen: the
// prompt's ids (plain text after BOS, or one user turn through the chat template with the
// generation prompt) and the ids that end an answer.

/** Special tokens that end an assistant turn in common chat templates, beside EOS. */
const END_OF_TURN = ['<|im_end|>', '<|eot_id|>', '<|end|>', '<end_of_turn>', '<|endoftext|>'];

/** EOS and the end-of-turn special tokens this tokenizer has. */
export function stopIdsOf(tokenizer: TextTokenizer): number[] {
  const ids = new Set<number>();
  if (tokenizer.eosId !== null) ids.add(tokenizer.eosId);
  for (const t of END_OF_TURN) {
    const id = tokenizer.specialTokens.get(t);
    if (id !== undefined) ids.add(id);
  }
  return [...ids];
}

export function chatRendererOf(tokenizer: TextTokenizer): ChatRenderer {
  return new ChatRenderer(tokenizer.chatTemplate, tokenizer.templateTokens, tokenizer.specialTokens.keys());
}

/**
 * Ids of a prompt to continue: with `addSpecialTokens`, the tokenizer's leading specials (BOS)
 * but never its trailing ones (an EOS there would end the text before the answer).
 */
export function encodeForGeneration(tokenizer: TextTokenizer, text: string, addSpecialTokens: boolean): number[] {
  const ids = tokenizer.encode(text, false);
  return addSpecialTokens ? [...tokenizer.prefixIds, ...ids] : ids;
}

/** The prompt's ids: the text after BOS, or one user turn through the chat template. */
export function encodePrompt(tokenizer: TextTokenizer, prompt: string, chat: boolean): number[] {
  if (!chat) return encodeForGeneration(tokenizer, prompt, true);
  return encodeForGeneration(tokenizer, chatRendererOf(tokenizer).render([{ role: 'user', content: prompt }], true), false);
}
