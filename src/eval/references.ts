import { alpacaPrompt } from '../data/alpaca.ts';
import type { ChatRenderer } from '../data/chat_template.ts';
import { DatasetError, DatasetFormatError, LineProblem } from '../data/errors.ts';
import type { ChatMessage, DatasetFormat, Example } from '../data/formats.ts';
import { readExamples } from '../data/example_stream.ts';
import type { StreamSource } from '../data/stream_source.ts';

// What to prompt the model with, and the answer to score its output against, for each example
// of an eval set (issue #6). The prompt is the one the model was trained to continue (encode.ts):
//
//   alpaca             text: alpacaPrompt(instruction, input)        reference: output
//   prompt-completion  text: prompt                                  reference: completion
//   messages           chat: every turn before the last assistant    reference: that turn's content
//                      turn (later turns are ignored)
//   text, tokenized    no reference answer in the data: refused with a DatasetError
//
// The reference is the answer as written; EOS and chat end-of-turn tokens are not part of it.

export type EvalPrompt = { kind: 'text'; text: string } | { kind: 'chat'; messages: ChatMessage[] };

export interface EvalReference {
  /** 1-based line of the source file (0 when the example did not come from a file). */
  line: number;
  prompt: EvalPrompt;
  reference: string;
}

export const referenceFormats: readonly DatasetFormat[] = ['alpaca', 'prompt-completion', 'messages'];

/** Why a format cannot give references, or null when it can. */
export function noReferenceReason(format: DatasetFormat): string | null {
  switch (format) {
    case 'text':
      return 'a "text" dataset has no reference answers to score against; use Alpaca (instruction/output), prompt/completion or messages for evaluation';
    case 'tokenized':
      return 'a pre-tokenized dataset has no prompt/answer split as text to score against; use Alpaca (instruction/output), prompt/completion or messages for evaluation';
    default:
      return null;
  }
}

/** The prompt and reference of one parsed example; LineProblem when it has none. */
export function referenceOf(example: Example, line = 0): EvalReference {
  switch (example.format) {
    case 'alpaca':
      return { line, prompt: { kind: 'text', text: alpacaPrompt(example.instruction, example.input) }, reference: example.output };
    case 'prompt-completion':
      return { line, prompt: { kind: 'text', text: example.prompt }, reference: example.completion };
    case 'messages': {
      const last = example.messages.findLastIndex((m) => m.role === 'assistant');
      if (last < 0) throw new LineProblem('the conversation has no assistant turn to use as the reference answer');
      if (last === 0) throw new LineProblem('the conversation opens with the assistant turn, so there is no prompt before the reference answer');
      const reference = example.messages[last].content;
      if (reference.trim() === '') throw new LineProblem(`the last assistant turn (messages[${last}]) has no text to score against (tool calls only)`);
      return { line, prompt: { kind: 'chat', messages: example.messages.slice(0, last) }, reference };
    }
    case 'text':
    case 'tokenized':
      throw new LineProblem(noReferenceReason(example.format)!);
  }
}

/**
 * The text to tokenize for generation, and whether the tokenizer adds its special tokens (BOS):
 * plain prompts are encoded like training's prompt + completion (with BOS), chat prompts are the
 * template rendered with add_generation_prompt, which writes its own special tokens.
 */
export function renderPrompt(prompt: EvalPrompt, chat: ChatRenderer): { text: string; addSpecialTokens: boolean } {
  if (prompt.kind === 'text') return { text: prompt.text, addSpecialTokens: true };
  return { text: chat.render(prompt.messages, true), addSpecialTokens: false };
}

/** The prompt as one readable string for reports: the text itself, or "role: content" per turn. */
export function displayPrompt(prompt: EvalPrompt): string {
  if (prompt.kind === 'text') return prompt.text;
  return prompt.messages.map((m) => `${m.role}: ${m.content}`).join('\n');
}

export interface ReferenceOptions {
  /** "auto": detected from the first valid line. */
  format: DatasetFormat | 'auto';
  /** Stop after this many usable examples (Infinity: all). */
  maxExamples: number;
  /** "stop": throw DatasetFormatError at the first bad line. "skip": count, list and go on. */
  onBadLine: 'stop' | 'skip';
  maxLineBytes?: number;
}

export interface LoadedReferences {
  file: string;
  format: DatasetFormat;
  references: EvalReference[];
  /** Skipped lines with reasons (onBadLine "skip"). */
  problems: { line: number; reason: string }[];
}

/** Streams an eval JSONL file into references, reading no further than maxExamples needs. */
export async function loadReferences(source: StreamSource, options: Partial<ReferenceOptions> = {}): Promise<LoadedReferences> {
  const opts: ReferenceOptions = { format: 'auto', maxExamples: Infinity, onBadLine: 'stop', ...options };
  if (!(opts.maxExamples >= 1)) throw new DatasetError(source.name, `max examples must be at least 1, got ${opts.maxExamples}`);
  let format: DatasetFormat | null = opts.format === 'auto' ? null : opts.format;
  const checkFormat = (f: DatasetFormat): void => {
    const reason = noReferenceReason(f);
    if (reason !== null) throw new DatasetError(source.name, reason);
  };
  if (format !== null) checkFormat(format);
  const references: EvalReference[] = [];
  const problems: { line: number; reason: string }[] = [];
  const bad = (line: number, reason: string): void => {
    if (opts.onBadLine === 'stop') throw new DatasetFormatError(source.name, line, reason);
    problems.push({ line, reason });
  };

  // The vocabulary size only bounds token ids of the tokenized format, which never gets here.
  const lines = readExamples(source, {
    format,
    maxLineBytes: opts.maxLineBytes,
    vocabSize: Number.MAX_SAFE_INTEGER,
    onBadLine: bad,
    onDetected: (f) => {
      checkFormat(f);
      format = f;
    },
  });
  for await (const { line, example } of lines) {
    try {
      references.push(referenceOf(example, line));
    } catch (e) {
      if (!(e instanceof LineProblem)) throw e;
      bad(line, e.reason);
      continue;
    }
    if (references.length >= opts.maxExamples) break;
  }
  if (references.length === 0) {
    const first = problems[0];
    throw new DatasetError(source.name, first ? `no usable eval examples: all ${problems.length} lines were bad; line ${first.line}: ${first.reason}` : 'contains no examples (every line is blank)');
  }
  return { file: source.name, format: format!, references, problems };
}

/**
 * The references of the examples at these 1-based lines of `source` (a training run's eval split,
 * found by TokenizedExample.line), in the order given; reads no further than the last of them.
 */
export async function referencesAtLines(source: StreamSource, format: DatasetFormat, lines: readonly number[]): Promise<EvalReference[]> {
  const reason = noReferenceReason(format);
  if (reason !== null) throw new DatasetError(source.name, reason);
  const wanted = new Set(lines);
  const last = Math.max(0, ...lines);
  const found = new Map<number, EvalReference>();
  const parsed = readExamples(source, {
    format,
    vocabSize: Number.MAX_SAFE_INTEGER,
    onBadLine: (line, why) => {
      if (wanted.has(line)) throw new DatasetFormatError(source.name, line, why);
    },
  });
  for await (const { line, example } of parsed) {
    if (wanted.has(line)) {
      try {
        found.set(line, referenceOf(example, line));
      } catch (e) {
        if (e instanceof LineProblem) throw new DatasetFormatError(source.name, line, e.reason);
        throw e;
      }
    }
    if (line >= last) break;
  }
  return lines.map((line) => {
    const ref = found.get(line);
    if (!ref) throw new DatasetError(source.name, `line ${line} is no longer an example; the file changed since it was loaded — load it again`);
    return ref;
  });
}
