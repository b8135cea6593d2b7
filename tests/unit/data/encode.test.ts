import { describe, expect, it } from 'vitest';
import { alpacaPrompt } from '../../../src/data/alpaca.ts';
import { ExampleEncoder, type EncodeOptions } from '../../../src/data/encode.ts';
import type { ChatMessage, Example } from '../../../src/data/formats.ts';
import { TextTokenizer } from '../../../src/data/tokenizer.ts';
import { llama2ChatTemplate } from './templates.ts';
import { loadTokenizer, marks, tokenizerFiles, type TokenizerName } from './tokenizers.ts';

// Masks token by token with the real tokenizers: pieces, "*" = trained (label = the token),
// no star = -100. The first token is never trained: nothing precedes it (labels are unshifted).

const slow = { timeout: 60_000 };

function encoder(name: TokenizerName, options: Partial<EncodeOptions> = {}): ExampleEncoder {
  return new ExampleEncoder(loadTokenizer(name), { maxLength: 1024, lossOn: 'completion', ...options });
}

function encodeMarks(enc: ExampleEncoder, example: Example): string[] {
  return marks(enc.tokenizer, enc.encode(example, 1));
}

const chat: ChatMessage[] = [
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello' },
];

describe('masks with the Llama-2 family tokenizer', slow, () => {
  const enc = encoder('llama2');

  it('text: BOS + tokens + EOS, every token after the first trained', () => {
    expect(encodeMarks(enc, { format: 'text', text: 'Hello world' })).toEqual(['<s>', '▁Hello*', '▁world*', '</s>*']);
    const ex = enc.encode({ format: 'text', text: 'Hello world' }, 7);
    expect(Array.from(ex.inputIds)).toEqual([1, 22557, 1526, 2]);
    expect(Array.from(ex.labels)).toEqual([-100, 22557, 1526, 2]);
    expect([ex.line, ex.trainedTokens, ex.originalLength]).toEqual([7, 3, 4]);
  });

  it('text that already ends with EOS gets no second one', () => {
    expect(encodeMarks(enc, { format: 'text', text: 'Hello world</s>' })).toEqual(['<s>', '▁Hello*', '▁world*', '</s>*']);
  });

  it('prompt-completion: completion + EOS trained', () => {
    expect(encodeMarks(enc, { format: 'prompt-completion', prompt: 'Q: 2+2=', completion: ' 4' })).toEqual(
      ['<s>', '▁Q', ':', '▁', '2', '+', '2', '=', '▁*', '4*', '</s>*'],
    );
  });

  it('alpaca: the Stanford prompt untrained, output + EOS trained', () => {
    const ex = enc.encode({ format: 'alpaca', instruction: 'Name a color.', input: '', output: 'Blue.' }, 1);
    const m = marks(enc.tokenizer, ex);
    const promptTokens = 1 + enc.tokenizer.encode(alpacaPrompt('Name a color.', '')).length;
    expect(m.slice(promptTokens - 3)).toEqual(['▁Response', ':', '<0x0A>', 'Blue*', '.*', '</s>*']);
    expect(m.slice(0, promptTokens).every((p) => !p.endsWith('*'))).toBe(true);
    expect(enc.tokenizer.decode(ex.inputIds.subarray(0, promptTokens), true)).toBe(alpacaPrompt('Name a color.', ''));
  });

  it('messages with the ChatML default: the answer and "<|im_end|>" spelled in pieces', () => {
    expect(encodeMarks(enc, { format: 'messages', messages: chat })).toEqual([
      '▁<', '|', 'im', '_', 'start', '|', '>', 'user', '<0x0A>', 'Hi', '<', '|', 'im', '_', 'end', '|', '>', '<0x0A>',
      '<', '|', 'im', '_', 'start', '|', '>', 'ass', 'istant', '<0x0A>',
      'Hello*', '<*', '|*', 'im*', '_*', 'end*', '|*', '>*', '<0x0A>',
    ]);
  });

  it('messages with the Llama-2-chat template: BOS from the template only, " answer </s>" trained', () => {
    const t = new TextTokenizer({ ...tokenizerFiles('llama2'), chatTemplate: llama2ChatTemplate });
    const e = new ExampleEncoder(t, { maxLength: 1024, lossOn: 'completion' });
    const m = encodeMarks(e, { format: 'messages', messages: [...chat, { role: 'user', content: 'Bye' }, { role: 'assistant', content: 'Ciao' }] });
    expect(m.filter((p) => p === '<s>')).toHaveLength(2); // one per [INST], none added by encode
    expect(m).toEqual([
      '<s>', '▁[', 'INST', ']', '▁Hi', '▁[', '/', 'INST', ']', '▁Hello*', '▁*', '</s>*',
      '<s>', '▁[', 'INST', ']', '▁By', 'e', '▁[', '/', 'INST', ']', '▁C*', 'iao*', '▁*', '</s>*',
    ]);
  });
});

describe('masks with the Qwen3 tokenizer', slow, () => {
  const enc = encoder('qwen3');

  it('text: no BOS, EOS <|im_end|> appended', () => {
    expect(encodeMarks(enc, { format: 'text', text: 'Hello world' })).toEqual(['Hello', 'Ġworld*', '<|im_end|>*']);
  });

  it('prompt-completion', () => {
    expect(encodeMarks(enc, { format: 'prompt-completion', prompt: 'Q: 2+2=', completion: ' 4' })).toEqual(['Q', ':', 'Ġ', '2', '+', '2', '=', 'Ġ*', '4*', '<|im_end|>*']);
  });

  it('alpaca with input: everything through "### Response:\\n" untrained', () => {
    const ex = enc.encode({ format: 'alpaca', instruction: 'Translate.', input: 'Bonjour', output: 'Hello' }, 1);
    const m = marks(enc.tokenizer, ex);
    expect(m.slice(-4)).toEqual(['ĠResponse', ':Ċ', 'Hello*', '<|im_end|>*']);
    expect(m.filter((p) => p.endsWith('*'))).toHaveLength(2);
    expect(enc.tokenizer.decode(ex.inputIds.subarray(0, -2))).toBe(alpacaPrompt('Translate.', 'Bonjour'));
  });

  it('messages: the generation prompt untrained; think block, answer and <|im_end|> trained, "\\n" not', () => {
    expect(encodeMarks(enc, { format: 'messages', messages: chat })).toEqual([
      '<|im_start|>', 'user', 'Ċ', 'Hi', '<|im_end|>', 'Ċ', '<|im_start|>', 'assistant', 'Ċ',
      '<think>*', 'ĊĊ*', '</think>*', 'ĊĊ*', 'Hello*', '<|im_end|>*', 'Ċ',
    ]);
  });

  it('messages, multi-turn with a system prompt: every answer trained', () => {
    const messages: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, ...chat, { role: 'user', content: '2+2?' }, { role: 'assistant', content: '4' }];
    expect(encodeMarks(enc, { format: 'messages', messages })).toEqual([
      '<|im_start|>', 'system', 'Ċ', 'Be', 'Ġbrief', '.', '<|im_end|>', 'Ċ',
      '<|im_start|>', 'user', 'Ċ', 'Hi', '<|im_end|>', 'Ċ',
      '<|im_start|>', 'assistant', 'Ċ', 'Hello*', '<|im_end|>*', 'Ċ',
      '<|im_start|>', 'user', 'Ċ', '2', '+', '2', '?', '<|im_end|>', 'Ċ',
      '<|im_start|>', 'assistant', 'Ċ', '<think>*', 'ĊĊ*', '</think>*', 'ĊĊ*', '4*', '<|im_end|>*', 'Ċ',
    ]);
  });

  it('messages without an assistant turn train nothing', () => {
    expect(enc.encode({ format: 'messages', messages: [{ role: 'user', content: 'Hi' }] }, 1).trainedTokens).toBe(0);
  });

  it('tokenized: ids as given, labels as given (first forced to -100), or all when absent', () => {
    const a = enc.encode({ format: 'tokenized', inputIds: [5, 6, 7, 8], labels: [5, -100, 7, 8] }, 1);
    expect([Array.from(a.inputIds), Array.from(a.labels), a.trainedTokens]).toEqual([[5, 6, 7, 8], [-100, -100, 7, 8], 2]);
    const b = enc.encode({ format: 'tokenized', inputIds: [5, 6, 7], labels: null }, 1);
    expect(Array.from(b.labels)).toEqual([-100, 6, 7]);
  });
});

describe('loss on all tokens, and truncation', slow, () => {
  it('trains every token of every format', () => {
    const enc = encoder('qwen3', { lossOn: 'all' });
    expect(encodeMarks(enc, { format: 'prompt-completion', prompt: 'Q:', completion: ' A' })).toEqual(['Q', ':*', 'ĠA*', '<|im_end|>*']);
    expect(encodeMarks(enc, { format: 'messages', messages: chat })).toEqual([
      '<|im_start|>', 'user*', 'Ċ*', 'Hi*', '<|im_end|>*', 'Ċ*', '<|im_start|>*', 'assistant*', 'Ċ*',
      '<think>*', 'ĊĊ*', '</think>*', 'ĊĊ*', 'Hello*', '<|im_end|>*', 'Ċ*',
    ]);
    const t = enc.encode({ format: 'tokenized', inputIds: [5, 6, 7], labels: [-100, -100, -100] }, 1);
    expect(Array.from(t.labels)).toEqual([-100, 6, 7]);
  });

  it('keeps the first max_length tokens and records the original length', () => {
    const enc = encoder('qwen3', { maxLength: 5 });
    const ex = enc.encode({ format: 'prompt-completion', prompt: 'Q: 2+2=', completion: ' 4' }, 1);
    expect(marks(enc.tokenizer, ex)).toEqual(['Q', ':', 'Ġ', '2', '+']);
    expect([ex.originalLength, ex.trainedTokens]).toEqual([10, 0]);
  });

  it('flags a prompt whose last token merges into the completion', () => {
    // "=" + "=" merge into one "==" token, so the boundary falls inside it; that token is trained.
    const enc = encoder('qwen3');
    const ex = enc.encode({ format: 'prompt-completion', prompt: 'a =', completion: '= b' }, 1);
    expect(ex.boundaryMismatch).toBe(true);
    expect(marks(enc.tokenizer, ex)).toEqual(['a', 'Ġ==*', 'Ġb*', '<|im_end|>*']);
  });

  it('tokenizes only the head of a huge text, keeping exactly the tokens of the whole', () => {
    const enc = encoder('qwen3', { maxLength: 64 });
    const words = Array.from({ length: 20_000 }, (_, i) => `w${i % 97}`).join(' ');
    for (const text of [words, ' '.repeat(5000) + words]) {
      const ex = enc.encode({ format: 'text', text }, 1);
      expect(Array.from(ex.inputIds)).toEqual(enc.tokenizer.encode(text, true).slice(0, 64));
      expect(ex.originalLength).toBeGreaterThan(64);
    }
    const chatEx = enc.encode({ format: 'messages', messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: words }] }, 1);
    expect(chatEx.inputIds).toHaveLength(64);
    expect(chatEx.trainedTokens).toBe(64 - 9); // everything after "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
  });
});
