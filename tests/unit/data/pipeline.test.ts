import { describe, expect, it } from 'vitest';
import { DatasetError, DatasetFormatError } from '../../../src/data/errors.ts';
import { loadDataset, splitDataset, type DataOptions } from '../../../src/data/pipeline.ts';
import { memoryStreamSource } from '../../../src/data/stream_source.ts';
import { generateJsonl } from '../../fixtures/datasets/generate.ts';
import { TextTokenizer } from '../../../src/data/tokenizer.ts';
import { loadTokenizer, tokenizerFiles } from './tokenizers.ts';

const slow = { timeout: 120_000 };
const qwen = () => loadTokenizer('qwen3');
const load = (text: string, options: Partial<DataOptions> = {}) => loadDataset(memoryStreamSource(text, 'train.jsonl', 16), qwen(), options);

async function failure(text: string, options: Partial<DataOptions> = {}): Promise<Error> {
  try {
    await load(text, options);
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected loadDataset to fail');
}

describe('loadDataset', slow, () => {
  it('detects each format from the first valid line', async () => {
    const cases: [string, string][] = [
      ['{"text":"Hello"}', 'text'],
      ['{"instruction":"Say hi","output":"Hi"}', 'alpaca'],
      ['{"prompt":"Q","completion":"A"}', 'prompt-completion'],
      ['{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}', 'messages'],
      ['{"input_ids":[1,2,3]}', 'tokenized'],
    ];
    for (const [line, format] of cases) {
      const d = await load(`\n${line}\n`);
      expect([d.format, d.formatOrigin, d.examples.length, d.examples[0].line]).toEqual([format, 'detected from line 2', 1, 2]);
    }
  });

  it('stops at the first bad line with file:line: reason', async () => {
    const e = await failure('{"text":"a"}\n{"text":"b"}\n{"text":7}\n{"oops"\n');
    expect(e).toBeInstanceOf(DatasetFormatError);
    expect(e.message).toBe('train.jsonl:3: "text" must be a string, got an integer');
  });

  it('names the line of each kind of problem', async () => {
    const cases: [string, string][] = [
      ['{"text":"a"}\n{"prompt":"p","completion":"c"}', 'train.jsonl:2: this line is in prompt-completion format but the dataset is text (detected from line 1)'],
      ['{"text":"a"}\n\n{"text":""}', 'train.jsonl:3: "text" is empty'],
      ['{"foo":1}', 'train.jsonl:1: cannot tell the dataset format from the fields {"foo"}; expected "text", "instruction"+"output", "prompt"+"completion", "messages" or "input_ids"'],
      ['{"input_ids":[1,999999]}', 'train.jsonl:1: "input_ids"[1] is 999999, outside the vocabulary 0..151668'],
      ['[1]', 'train.jsonl:1: expected a JSON object, got an array'],
      [`{"text":"${'x'.repeat(100)}"}`, 'train.jsonl:1: line is longer than 50 bytes (the line size limit)'],
    ];
    for (const [text, message] of cases) expect((await failure(text, { maxLineBytes: 50 })).message).toBe(message);
    expect((await failure('{"text":"a"}\n{"text":"b"}', { format: 'messages' })).message).toBe(
      'train.jsonl:1: this line is in text format but the dataset is messages (format chosen by the user)',
    );
  });

  it('skips bad lines when asked, counting all and listing the first', async () => {
    const lines = ['{"text":"ok"}', 'nope', '{"text":3}', '{"text":"fine"}', ...Array(30).fill('{"text":[]}')];
    const d = await load(lines.join('\n'), { onBadLine: 'skip', maxListedProblems: 3 });
    expect(d.examples.map((e) => e.line)).toEqual([1, 4]);
    expect(d.stats.badLines).toBe(32);
    expect(d.problems).toEqual([
      { line: 2, reason: expect.stringMatching(/^not valid JSON/) },
      { line: 3, reason: '"text" must be a string, got an integer' },
      { line: 5, reason: '"text" must be a string, got an array' },
    ]);
    expect(d.warnings.find((w) => w.code === 'bad_lines')?.message).toBe('32 bad lines were skipped (lines 2, 3, 5, 6, 7, …)');
  });

  it('warns about truncated and fully masked examples with line numbers, and drops the latter', async () => {
    const text = [
      '{"prompt":"Q","completion":" A"}',
      `{"prompt":"${'word '.repeat(40)}","completion":" late"}`, // prompt alone fills max length
      `{"prompt":"Q","completion":" ${'long '.repeat(40)}"}`,
    ].join('\n');
    const d = await load(text, { maxLength: 16 });
    expect(d.examples.map((e) => e.line)).toEqual([1, 3]);
    expect([d.stats.examples, d.stats.fullyMasked, d.stats.truncated, d.stats.maxLength]).toEqual([2, 1, 1, 16]);
    expect(d.warnings.map((w) => [w.code, w.count, w.lines])).toEqual([
      ['fully_masked', 1, [2]],
      ['truncated', 1, [3]],
    ]);
    expect(d.warnings[1].message).toBe('1 example longer than max_length 16 was truncated to the first 16 tokens (line 3)');
  });

  it('fails when nothing is left to train on', async () => {
    const e = await failure('{"messages":[{"role":"user","content":"Q"}]}\n{"messages":[{"role":"user","content":"R"}]}');
    expect(e).toBeInstanceOf(DatasetError);
    expect(e.message).toMatch(/^train\.jsonl: no examples left to train on: all 2 had no trained token/);
    expect((await failure('\n\n')).message).toBe('train.jsonl: contains no examples (every line is blank)');
    expect((await failure('x\ny', { onBadLine: 'skip' })).message).toMatch(/^train\.jsonl: no examples left to train on: all 2 non-blank lines are bad; line 1: not valid JSON/);
  });

  it('treats a chat template error as a bad line', async () => {
    const chatTemplate = "{% if messages|length > 1 %}{{ raise_exception('one message only') }}{% endif %}{{ messages[0].content }}";
    const strict = new TextTokenizer({ ...tokenizerFiles('llama2'), chatTemplate });
    const source = memoryStreamSource('{"messages":[{"role":"assistant","content":"A"}]}\n{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}\n', 'chat.jsonl');
    await expect(loadDataset(source, strict, {})).rejects.toThrow('chat.jsonl:2: chat template failed: one message only');
  });

  it('gathers statistics', async () => {
    const d = await load('{"text":"Hello world"}\n{"text":"Hello"}\n');
    expect(d.stats).toMatchObject({ examples: 2, tokens: 5, trainedTokens: 3, minLength: 2, maxLength: 3, meanLength: 2.5 });
    expect(d.stats.histogram[0]).toEqual({ from: 1, to: 16, count: 2 });
    expect(d.stats.histogram.at(-1)).toEqual({ from: 513, to: 1024, count: 0 });
  });

  it('splits train and eval by ratio with a seed', async () => {
    const d = await load(generateJsonl('text', 50, 4));
    const a = splitDataset(d.examples, 0.2, 9);
    expect([a.train.length, a.eval.length]).toEqual([40, 10]);
    expect(splitDataset(d.examples, 0.2, 9).eval.map((e) => e.line)).toEqual(a.eval.map((e) => e.line));
  });

  it('streams 10,000 examples through with the reader holding one chunk and one line', async () => {
    const text = generateJsonl('prompt-completion', 10_000, 5);
    const progress: number[] = [];
    const source = memoryStreamSource(text, 'big.jsonl', 64 * 1024);
    const d = await loadDataset(source, qwen(), { onProgress: (read) => progress.push(read) });
    expect(d.examples).toHaveLength(10_000);
    expect(d.reader.bytesRead).toBe(source.size);
    expect(progress.at(-1)).toBe(source.size);
    // The file is well over a megabyte; the reader's high-water mark is a chunk plus the longest line.
    expect(source.size).toBeGreaterThan(1_000_000);
    expect(d.reader.maxHeldBytes).toBeLessThanOrEqual(64 * 1024 + 4096);
    expect(d.stats.trainedTokens).toBeGreaterThan(0);
  });
});
