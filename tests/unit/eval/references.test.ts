import { describe, expect, it } from 'vitest';
import { alpacaPrompt } from '../../../src/data/alpaca.ts';
import { ChatRenderer } from '../../../src/data/chat_template.ts';
import { DatasetError, DatasetFormatError, LineProblem } from '../../../src/data/errors.ts';
import { memoryStreamSource } from '../../../src/data/stream_source.ts';
import { displayPrompt, loadReferences, referenceOf, renderPrompt } from '../../../src/eval/references.ts';

const jsonl = (...rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('referenceOf', () => {
  it('Alpaca: the Alpaca prompt (with and without input), reference = output', () => {
    expect(referenceOf({ format: 'alpaca', instruction: 'Add.', input: '2 and 3', output: '5' }, 4)).toEqual({
      line: 4,
      prompt: { kind: 'text', text: alpacaPrompt('Add.', '2 and 3') },
      reference: '5',
    });
    const r = referenceOf({ format: 'alpaca', instruction: 'Say hi.', input: '', output: 'Hi!' });
    expect(r.prompt).toEqual({ kind: 'text', text: alpacaPrompt('Say hi.', '') });
    expect(r.line).toBe(0);
  });

  it('prompt/completion: reference = completion', () => {
    expect(referenceOf({ format: 'prompt-completion', prompt: 'Q: 2+2?\nA:', completion: ' 4' })).toEqual({ line: 0, prompt: { kind: 'text', text: 'Q: 2+2?\nA:' }, reference: ' 4' });
  });

  it('messages: every turn before the last assistant turn is the prompt; later turns are dropped', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Capital of France?' },
      { role: 'assistant', content: 'Paris.' },
      { role: 'user', content: 'And of Italy?' },
      { role: 'assistant', content: 'Rome.' },
      { role: 'user', content: 'Thanks!' },
    ];
    const r = referenceOf({ format: 'messages', messages });
    expect(r.reference).toBe('Rome.');
    expect(r.prompt).toEqual({ kind: 'chat', messages: messages.slice(0, 4) });
  });

  it('messages without a usable last answer are line problems', () => {
    expect(() => referenceOf({ format: 'messages', messages: [{ role: 'user', content: 'hi' }] })).toThrow(/no assistant turn/);
    expect(() => referenceOf({ format: 'messages', messages: [{ role: 'assistant', content: 'hi' }] })).toThrow(/no prompt/);
    const toolOnly = [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: '', tool_calls: [{ name: 'get_weather' }] },
    ];
    expect(() => referenceOf({ format: 'messages', messages: toolOnly })).toThrow(LineProblem);
  });

  it('text and tokenized examples have no reference', () => {
    expect(() => referenceOf({ format: 'text', text: 'hello' })).toThrow(/no reference answers/);
    expect(() => referenceOf({ format: 'tokenized', inputIds: [1, 2], labels: null })).toThrow(/pre-tokenized/);
  });
});

describe('renderPrompt and displayPrompt', () => {
  const chatml = new ChatRenderer(null, {}, []);

  it('plain prompts are encoded with special tokens; chat prompts are rendered with the generation prompt', () => {
    expect(renderPrompt({ kind: 'text', text: 'Q:' }, chatml)).toEqual({ text: 'Q:', addSpecialTokens: true });
    const chat = renderPrompt({ kind: 'chat', messages: [{ role: 'user', content: 'Hi' }] }, chatml);
    expect(chat).toEqual({ text: '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n', addSpecialTokens: false });
  });

  it('shows a chat prompt as role: content lines', () => {
    expect(displayPrompt({ kind: 'chat', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }] })).toBe('system: S\nuser: U');
    expect(displayPrompt({ kind: 'text', text: 'plain' })).toBe('plain');
  });
});

describe('loadReferences', () => {
  it('detects the format and reads every example with its line', async () => {
    const src = memoryStreamSource(jsonl({ prompt: 'a', completion: 'b' }, { prompt: 'c', completion: 'd', id: 7 }), 'eval.jsonl');
    const loaded = await loadReferences(src);
    expect(loaded.format).toBe('prompt-completion');
    expect(loaded.references.map((r) => [r.line, r.reference])).toEqual([
      [1, 'b'],
      [2, 'd'],
    ]);
  });

  it('stops after maxExamples usable examples', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ instruction: `q${i}`, output: `a${i}` }));
    const loaded = await loadReferences(memoryStreamSource(jsonl(...rows)), { maxExamples: 3 });
    expect(loaded.references.map((r) => r.reference)).toEqual(['a0', 'a1', 'a2']);
  });

  it('refuses a text or tokenized dataset, detected or chosen, with the reason', async () => {
    await expect(loadReferences(memoryStreamSource(jsonl({ text: 'hello' }), 'pre.jsonl'))).rejects.toThrow(/pre\.jsonl: a "text" dataset has no reference answers/);
    await expect(loadReferences(memoryStreamSource(jsonl({ input_ids: [1] })), { format: 'auto' })).rejects.toBeInstanceOf(DatasetError);
    await expect(loadReferences(memoryStreamSource(jsonl({ prompt: 'a', completion: 'b' })), { format: 'text' })).rejects.toThrow(/no reference answers/);
  });

  it('stops at the first bad line by default, names file and line; skips and lists with onBadLine skip', async () => {
    const text = jsonl({ prompt: 'a', completion: 'b' }) + '{oops\n' + jsonl({ messages: [{ role: 'user', content: 'x' }] }, { prompt: 'c', completion: 'd' });
    const err = await loadReferences(memoryStreamSource(text, 'e.jsonl')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as DatasetFormatError).line).toBe(2);
    const loaded = await loadReferences(memoryStreamSource(text, 'e.jsonl'), { onBadLine: 'skip' });
    expect(loaded.references.map((r) => r.line)).toEqual([1, 4]);
    expect(loaded.problems.map((p) => p.line)).toEqual([2, 3]);
    expect(loaded.problems[1].reason).toMatch(/messages format but the dataset is prompt-completion/);
  });

  it('a conversation without an answer is a bad line; an all-bad file is a DatasetError', async () => {
    const src = memoryStreamSource(jsonl({ messages: [{ role: 'user', content: 'x' }] }), 'chat.jsonl');
    await expect(loadReferences(src)).rejects.toThrow(/chat\.jsonl:1: the conversation has no assistant turn/);
    await expect(loadReferences(src, { onBadLine: 'skip' })).rejects.toThrow(/no usable eval examples/);
    await expect(loadReferences(memoryStreamSource('\n\n'))).rejects.toThrow(/no examples/);
    await expect(loadReferences(src, { maxExamples: 0 })).rejects.toThrow(/max examples/);
  });
});
