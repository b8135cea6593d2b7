import { describe, expect, it } from 'vitest';
import { LineProblem } from '../../../src/data/errors.ts';
import { alpacaPrompt } from '../../../src/data/alpaca.ts';
import { describeUnknownFormat, detectFormat, parseExample, type DatasetFormat } from '../../../src/data/formats.ts';

const origin = 'detected from line 1';
const parse = (value: Record<string, unknown>, format: DatasetFormat) => parseExample(value, format, 100, origin);
const problem = (value: Record<string, unknown>, format: DatasetFormat): string => {
  try {
    parse(value, format);
  } catch (e) {
    if (e instanceof LineProblem) return e.reason;
    throw e;
  }
  throw new Error('expected a LineProblem');
};

describe('detectFormat', () => {
  it('recognises each format from its keys, ignoring extra fields', () => {
    expect(detectFormat({ text: 'a', id: 3 })).toBe('text');
    expect(detectFormat({ instruction: 'a', output: 'b' })).toBe('alpaca');
    expect(detectFormat({ instruction: 'a', input: '', output: 'b' })).toBe('alpaca');
    expect(detectFormat({ prompt: 'a', completion: 'b' })).toBe('prompt-completion');
    expect(detectFormat({ messages: [] })).toBe('messages');
    expect(detectFormat({ input_ids: [1], labels: [1] })).toBe('tokenized');
    expect(detectFormat({ question: 'a', answer: 'b' })).toBeNull();
  });

  it('explains an object it cannot place', () => {
    expect(describeUnknownFormat({ question: 'a', answer: 'b' })).toBe(
      'cannot tell the dataset format from the fields {"question", "answer"}; expected "text", "instruction"+"output", "prompt"+"completion", "messages" or "input_ids"',
    );
  });
});

describe('parseExample', () => {
  it('returns each format typed', () => {
    expect(parse({ text: 'hi', meta: 1 }, 'text')).toEqual({ format: 'text', text: 'hi' });
    expect(parse({ instruction: 'i', output: 'o' }, 'alpaca')).toEqual({ format: 'alpaca', instruction: 'i', input: '', output: 'o' });
    expect(parse({ instruction: 'i', input: null, output: 'o' }, 'alpaca')).toMatchObject({ input: '' });
    expect(parse({ prompt: 'p', completion: 'c' }, 'prompt-completion')).toEqual({ format: 'prompt-completion', prompt: 'p', completion: 'c' });
    expect(parse({ messages: [{ role: 'user', content: 'q', name: 'x' }] }, 'messages')).toEqual({ format: 'messages', messages: [{ role: 'user', content: 'q', name: 'x' }] });
    expect(parse({ input_ids: [1, 2, 99] }, 'tokenized')).toEqual({ format: 'tokenized', inputIds: [1, 2, 99], labels: null });
    expect(parse({ input_ids: [1, 2], labels: [-100, 2] }, 'tokenized')).toEqual({ format: 'tokenized', inputIds: [1, 2], labels: [-100, 2] });
  });

  it('allows an assistant turn with tool calls and no text', () => {
    const msg = { role: 'assistant', content: null, tool_calls: [{ function: { name: 'f', arguments: {} } }] };
    expect(parse({ messages: [msg] }, 'messages')).toMatchObject({ messages: [{ role: 'assistant', content: '' }] });
  });

  it('names the missing, empty or mistyped field', () => {
    expect(problem({ txt: 'a' }, 'text')).toBe('missing field "text"');
    expect(problem({ text: '  ' }, 'text')).toBe('"text" is empty');
    expect(problem({ text: 5 }, 'text')).toBe('"text" must be a string, got an integer');
    expect(problem({ instruction: 'a' }, 'alpaca')).toBe('missing field "output"');
    expect(problem({ instruction: 'a', output: '' }, 'alpaca')).toBe('"output" is empty');
    expect(problem({ instruction: 'a', input: 3, output: 'b' }, 'alpaca')).toBe('"input" must be a string, got an integer');
    expect(problem({ prompt: 'a', completion: ['b'] }, 'prompt-completion')).toBe('"completion" must be a string, got an array');
    expect(problem({ prompt: 'a' }, 'prompt-completion')).toBe('missing field "completion"');
  });

  it('says when a line is in another format than the dataset', () => {
    expect(problem({ prompt: 'a', completion: 'b' }, 'text')).toBe('this line is in prompt-completion format but the dataset is text (detected from line 1)');
    expect(problem({ text: 'a' }, 'messages')).toBe('this line is in text format but the dataset is messages (detected from line 1)');
  });

  it('checks every message', () => {
    expect(problem({ messages: {} }, 'messages')).toBe('"messages" must be an array, got an object');
    expect(problem({ messages: [] }, 'messages')).toBe('"messages" is empty');
    expect(problem({ messages: ['hi'] }, 'messages')).toBe('messages[0] must be an object, got a string');
    expect(problem({ messages: [{ content: 'a' }] }, 'messages')).toBe('messages[0] is missing field "role"');
    expect(problem({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant' }] }, 'messages')).toBe('messages[1] is missing field "content"');
    expect(problem({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: '' }] }, 'messages')).toBe('messages[1].content is empty');
    expect(problem({ messages: [{ role: '', content: 'a' }] }, 'messages')).toBe('messages[0].role is empty');
    expect(problem({ messages: [{ role: 'user', content: [{ type: 'text' }] }] }, 'messages')).toBe('messages[0].content must be a string, got an array');
  });

  it('checks token ids against the vocabulary and labels against input_ids', () => {
    expect(problem({ input_ids: [] }, 'tokenized')).toBe('"input_ids" is empty');
    expect(problem({ input_ids: 'abc' }, 'tokenized')).toBe('"input_ids" must be an array of integers, got a string');
    expect(problem({ input_ids: [1, 2.5] }, 'tokenized')).toBe('"input_ids"[1] must be an integer, got a number');
    expect(problem({ input_ids: [1, 100] }, 'tokenized')).toBe('"input_ids"[1] is 100, outside the vocabulary 0..99');
    expect(problem({ input_ids: [1, -1] }, 'tokenized')).toBe('"input_ids"[1] is -1, outside the vocabulary 0..99');
    expect(problem({ input_ids: [1, 2], labels: [1] }, 'tokenized')).toBe('"labels" has 1 entries but "input_ids" has 2; they must align (labels are not shifted)');
    expect(problem({ input_ids: [1, 2], labels: [1, -1] }, 'tokenized')).toBe('"labels"[1] is -1; use -100 (not trained) or a token id 0..99');
    expect(problem({ input_ids: [1, 2], labels: [1, '2'] }, 'tokenized')).toBe('"labels"[1] must be an integer, got a string');
  });
});

describe('alpacaPrompt', () => {
  it('is the Stanford Alpaca prompt, with and without input', () => {
    expect(alpacaPrompt('Name a color.', '')).toBe(
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nName a color.\n\n### Response:\n',
    );
    expect(alpacaPrompt('Translate.', 'Bonjour')).toBe(
      'Below is an instruction that describes a task, paired with an input that provides further context. ' +
        'Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nTranslate.\n\n### Input:\nBonjour\n\n### Response:\n',
    );
  });

  it('inserts user text literally', () => {
    expect(alpacaPrompt('Say {input} and $&', 'x')).toContain('### Instruction:\nSay {input} and $&\n\n### Input:\nx\n');
  });
});
