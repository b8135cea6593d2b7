import { describe, expect, it } from 'vitest';
import { ChatRenderer } from '../../../src/data/chat_template.ts';
import type { ChatMessage } from '../../../src/data/formats.ts';
import { TextTokenizer } from '../../../src/data/tokenizer.ts';
import { matchedPrefix, TokenBoundaries } from '../../../src/data/token_boundaries.ts';
import { generateExample } from '../../fixtures/datasets/generate.ts';
import { Rng } from '../../helpers/rng.ts';
import { llama2ChatTemplate } from './templates.ts';
import { loadTokenizer, tokenizerFiles } from './tokenizers.ts';

// The anchored search (tokenize only from the last special token) must give exactly what
// tokenizing the whole prefix gives, at every answer boundary of many conversations.

const slow = { timeout: 120_000 };

function bruteForce(tok: TextTokenizer, ids: number[], text: string, offset: number) {
  const own = tok.encode(text.slice(0, offset));
  const matched = matchedPrefix(ids, 0, own);
  return { index: matched, exact: matched === own.length };
}

function check(tok: TextTokenizer, renderer: ChatRenderer, conversations: ChatMessage[][]): number {
  let checked = 0;
  for (const messages of conversations) {
    const { text, spans } = renderer.assistantSpans(messages);
    const ids = tok.encode(text);
    const boundaries = new TokenBoundaries(tok, text, ids);
    for (const s of spans) {
      for (const offset of [s.start, s.end]) {
        expect(boundaries.at(offset)).toEqual(bruteForce(tok, ids, text, offset));
        checked++;
      }
      expect(text.slice(s.start, s.end)).toContain(messages[s.message].content.trim());
    }
  }
  return checked;
}

const rng = new Rng(21);
const conversations = Array.from({ length: 40 }, () => (generateExample('messages', rng) as { messages: ChatMessage[] }).messages);

describe('TokenBoundaries', slow, () => {
  it('agrees with whole-prefix tokenization for Qwen3 conversations', () => {
    const tok = loadTokenizer('qwen3');
    expect(check(tok, new ChatRenderer(tok.chatTemplate, tok.templateTokens, tok.specialTokens.keys()), conversations)).toBeGreaterThan(80);
  });

  it('agrees for Llama-2-chat conversations (anchored on <s> and </s>)', () => {
    const tok = new TextTokenizer({ ...tokenizerFiles('llama2'), chatTemplate: llama2ChatTemplate });
    const alternating = conversations.map((m) => m.filter((x) => x.role !== 'system'));
    expect(check(tok, new ChatRenderer(tok.chatTemplate, tok.templateTokens, tok.specialTokens.keys()), alternating)).toBeGreaterThan(80);
  });

  it('agrees for ChatML text with no special tokens at all (Llama-2 vocabulary)', () => {
    const tok = loadTokenizer('llama2');
    expect(check(tok, new ChatRenderer(null, tok.templateTokens, tok.specialTokens.keys()), conversations.slice(0, 10))).toBeGreaterThan(20);
  });

  it('is exact at offset 0 and just after a special token', () => {
    const tok = loadTokenizer('qwen3');
    const text = '<|im_start|>user\nHi<|im_end|>';
    const b = new TokenBoundaries(tok, text, tok.encode(text));
    expect(b.at(0)).toEqual({ index: 0, exact: true });
    expect(b.at('<|im_start|>'.length)).toEqual({ index: 1, exact: true });
    expect(b.at(text.length)).toEqual({ index: 5, exact: true });
  });
});
