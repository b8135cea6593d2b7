import { LineProblem } from './errors.ts';
import { describeJson } from './jsonl.ts';

// The five example formats a dataset line may take (formats.md §6.1, plus Alpaca and
// pre-tokenized). The format is detected from the first valid line (or set by the user) and
// every later line must have the same one; extra fields are ignored, as datasets often carry
// ids or metadata columns.

export type DatasetFormat = 'text' | 'alpaca' | 'prompt-completion' | 'messages' | 'tokenized';

export const datasetFormats: readonly DatasetFormat[] = ['text', 'alpaca', 'prompt-completion', 'messages', 'tokenized'];

/** One chat turn. Fields besides role and content (tool_calls, reasoning_content …) go to the template as they are. */
export interface ChatMessage {
  role: string;
  content: string;
  [field: string]: unknown;
}

export type Example =
  | { format: 'text'; text: string }
  | { format: 'alpaca'; instruction: string; input: string; output: string }
  | { format: 'prompt-completion'; prompt: string; completion: string }
  | { format: 'messages'; messages: ChatMessage[] }
  /** `labels` aligned with inputIds, not shifted, -100 = not trained; null = train every token. */
  | { format: 'tokenized'; inputIds: number[]; labels: number[] | null };

/** Key sets that identify each format, in detection priority order. */
const signatures: { format: DatasetFormat; keys: string[] }[] = [
  { format: 'tokenized', keys: ['input_ids'] },
  { format: 'messages', keys: ['messages'] },
  { format: 'alpaca', keys: ['instruction', 'output'] },
  { format: 'prompt-completion', keys: ['prompt', 'completion'] },
  { format: 'text', keys: ['text'] },
];

/** The format an object looks like from its keys, or null when it matches none. */
export function detectFormat(value: Record<string, unknown>): DatasetFormat | null {
  for (const s of signatures) if (s.keys.every((k) => k in value)) return s.format;
  return null;
}

export function describeUnknownFormat(value: Record<string, unknown>): string {
  const keys = Object.keys(value).slice(0, 8).map((k) => JSON.stringify(k));
  return (
    `cannot tell the dataset format from the fields {${keys.join(', ')}}; expected "text", ` +
    `"instruction"+"output", "prompt"+"completion", "messages" or "input_ids"`
  );
}

/**
 * Checks one line against `format` and returns it typed, or throws LineProblem naming the field.
 * `origin` says where the format came from ("detected from line 1"), for mismatch messages.
 */
export function parseExample(value: Record<string, unknown>, format: DatasetFormat, vocabSize: number, origin: string): Example {
  const required = signatures.find((s) => s.format === format)!.keys;
  const missing = required.find((k) => !(k in value));
  if (missing !== undefined) {
    const other = detectFormat(value);
    if (other !== null && other !== format) {
      throw new LineProblem(`this line is in ${other} format but the dataset is ${format} (${origin})`);
    }
    throw new LineProblem(`missing field "${missing}"`);
  }
  switch (format) {
    case 'text':
      return { format, text: nonEmptyString(value, 'text') };
    case 'alpaca': {
      const input = value.input === undefined || value.input === null ? '' : stringField(value.input, '"input"');
      return { format, instruction: nonEmptyString(value, 'instruction'), input, output: nonEmptyString(value, 'output') };
    }
    case 'prompt-completion':
      return { format, prompt: nonEmptyString(value, 'prompt'), completion: nonEmptyString(value, 'completion') };
    case 'messages':
      return { format, messages: parseMessages(value.messages) };
    case 'tokenized':
      return parseTokenized(value, vocabSize);
  }
}

function stringField(v: unknown, name: string): string {
  if (typeof v !== 'string') throw new LineProblem(`${name} must be a string, got ${describeJson(v)}`);
  return v;
}

function nonEmptyString(value: Record<string, unknown>, key: string): string {
  const s = stringField(value[key], `"${key}"`);
  if (s.trim() === '') throw new LineProblem(`"${key}" is empty`);
  return s;
}

function parseMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v)) throw new LineProblem(`"messages" must be an array, got ${describeJson(v)}`);
  if (v.length === 0) throw new LineProblem('"messages" is empty');
  return v.map((m: unknown, i) => {
    const name = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new LineProblem(`${name} must be an object, got ${describeJson(m)}`);
    const msg = m as Record<string, unknown>;
    if (!('role' in msg)) throw new LineProblem(`${name} is missing field "role"`);
    const role = stringField(msg.role, `${name}.role`);
    if (role.trim() === '') throw new LineProblem(`${name}.role is empty`);
    // An assistant turn that only calls tools may have no text; every other turn needs some.
    const hasToolCalls = Array.isArray(msg.tool_calls) && msg.tool_calls.length > 0;
    if (!('content' in msg) || msg.content === null) {
      if (!hasToolCalls) throw new LineProblem(`${name} is missing field "content"`);
      return { ...msg, role, content: '' };
    }
    const content = stringField(msg.content, `${name}.content`);
    if (content.trim() === '' && !hasToolCalls) throw new LineProblem(`${name}.content is empty`);
    return { ...msg, role, content };
  });
}

function parseTokenized(value: Record<string, unknown>, vocabSize: number): Example {
  const inputIds = intArray(value.input_ids, 'input_ids');
  if (inputIds.length === 0) throw new LineProblem('"input_ids" is empty');
  inputIds.forEach((id, i) => {
    if (id < 0 || id >= vocabSize) throw new LineProblem(`"input_ids"[${i}] is ${id}, outside the vocabulary 0..${vocabSize - 1}`);
  });
  if (value.labels === undefined || value.labels === null) return { format: 'tokenized', inputIds, labels: null };
  const labels = intArray(value.labels, 'labels');
  if (labels.length !== inputIds.length) {
    throw new LineProblem(`"labels" has ${labels.length} entries but "input_ids" has ${inputIds.length}; they must align (labels are not shifted)`);
  }
  labels.forEach((id, i) => {
    if (id !== -100 && (id < 0 || id >= vocabSize)) throw new LineProblem(`"labels"[${i}] is ${id}; use -100 (not trained) or a token id 0..${vocabSize - 1}`);
  });
  return { format: 'tokenized', inputIds, labels };
}

function intArray(v: unknown, key: string): number[] {
  if (!Array.isArray(v)) throw new LineProblem(`"${key}" must be an array of integers, got ${describeJson(v)}`);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isInteger(v[i])) throw new LineProblem(`"${key}"[${i}] must be an integer, got ${describeJson(v[i])}`);
  }
  return v as number[];
}
