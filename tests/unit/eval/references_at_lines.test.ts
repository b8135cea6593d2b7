import { describe, expect, it } from 'vitest';
import { DatasetError, DatasetFormatError } from '../../../src/data/errors.ts';
import { memoryStreamSource } from '../../../src/data/stream_source.ts';
import { referencesAtLines } from '../../../src/eval/references.ts';

// The references of a training run's held-out examples, found by their file lines: in the order
// asked, blank lines counted as lines, bad lines elsewhere ignored, and a line that is no longer an
// example (the file changed) named.

const rows = [
  JSON.stringify({ prompt: 'a?', completion: ' A' }),
  '',
  JSON.stringify({ prompt: 'b?', completion: ' B' }),
  '{not json',
  JSON.stringify({ messages: [{ role: 'user', content: 'c?' }, { role: 'assistant', content: 'C' }] }),
  JSON.stringify({ prompt: 'd?', completion: ' D' }),
];
const file = rows.join('\n') + '\n';

describe('referencesAtLines', () => {
  it('picks the lines asked for, in that order, skipping bad lines it was not asked for', async () => {
    const refs = await referencesAtLines(memoryStreamSource(file, 'd.jsonl', 7), 'prompt-completion', [6, 1, 3]);
    expect(refs.map((r) => [r.line, r.reference])).toEqual([
      [6, ' D'],
      [1, ' A'],
      [3, ' B'],
    ]);
    expect(refs[1].prompt).toEqual({ kind: 'text', text: 'a?' });
  });

  it('names a line that is not an example of the format, and refuses formats without references', async () => {
    await expect(referencesAtLines(memoryStreamSource(file, 'd.jsonl'), 'prompt-completion', [4])).rejects.toBeInstanceOf(DatasetFormatError);
    await expect(referencesAtLines(memoryStreamSource(file, 'd.jsonl'), 'prompt-completion', [2])).rejects.toThrow(/line 2 is no longer an example/);
    await expect(referencesAtLines(memoryStreamSource(file, 'd.jsonl'), 'text', [1])).rejects.toBeInstanceOf(DatasetError);
  });
});
