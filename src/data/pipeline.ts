import { ExampleEncoder, type LossOn, type TokenizedExample } from './encode.ts';
import { DatasetError, DatasetFormatError, LineProblem } from './errors.ts';
import { datasetFormats, type DatasetFormat } from './formats.ts';
import { readExamples } from './example_stream.ts';
import { defaultMaxLineBytes, newJsonlStats, type JsonlStats } from './jsonl.ts';
import { splitTrainEval } from './split.ts';
import { StatsCollector, type DataWarning, type DatasetStats } from './stats.ts';
import type { StreamSource } from './stream_source.ts';
import type { TextTokenizer } from './tokenizer.ts';

// The whole dataset path in one call: stream the JSONL file, detect (or check) the format, encode
// and mask every example, drop the ones that train nothing, and gather statistics and warnings.
// Only the encoded examples are kept (two Int32Arrays each); the file's text never is.

export interface DataOptions {
  /** "auto": detected from the first valid line. */
  format: DatasetFormat | 'auto';
  maxLength: number;
  lossOn: LossOn;
  /** "stop": throw DatasetFormatError at the first bad line. "skip": count, list and go on. */
  onBadLine: 'stop' | 'skip';
  maxLineBytes: number;
  /** How many skipped lines are listed with their reasons (all are counted). */
  maxListedProblems: number;
  onProgress?: (bytesRead: number, totalBytes: number) => void;
}

export const defaultDataOptions: DataOptions = {
  format: 'auto',
  maxLength: 1024,
  lossOn: 'completion',
  onBadLine: 'stop',
  maxLineBytes: defaultMaxLineBytes,
  maxListedProblems: 20,
};

export interface LineIssue {
  line: number;
  reason: string;
}

export interface LoadedDataset {
  file: string;
  format: DatasetFormat;
  /** Where the format came from, e.g. "detected from line 1". */
  formatOrigin: string;
  /** In file order. */
  examples: TokenizedExample[];
  stats: DatasetStats;
  warnings: DataWarning[];
  /** The first skipped lines with reasons (onBadLine "skip"); stats.badLines counts them all. */
  problems: LineIssue[];
  reader: JsonlStats;
}

export async function loadDataset(source: StreamSource, tokenizer: TextTokenizer, options: Partial<DataOptions> = {}): Promise<LoadedDataset> {
  const opts = { ...defaultDataOptions, ...options };
  if (!Number.isInteger(opts.maxLength) || opts.maxLength < 2) throw new DatasetError(source.name, `max length must be an integer of at least 2, got ${opts.maxLength}`);
  if (opts.format !== 'auto' && !datasetFormats.includes(opts.format)) throw new DatasetError(source.name, `unknown format "${opts.format}"`);
  const encoder = new ExampleEncoder(tokenizer, { maxLength: opts.maxLength, lossOn: opts.lossOn });
  const collector = new StatsCollector(opts.maxLength);
  const examples: TokenizedExample[] = [];
  const problems: LineIssue[] = [];
  const reader = newJsonlStats();
  let format: DatasetFormat | null = opts.format === 'auto' ? null : opts.format;
  let formatOrigin = format === null ? '' : 'format chosen by the user';

  const bad = (line: number, reason: string): void => {
    if (opts.onBadLine === 'stop') throw new DatasetFormatError(source.name, line, reason);
    collector.badLine(line);
    if (problems.length < opts.maxListedProblems) problems.push({ line, reason });
  };

  const lines = readExamples(
    source,
    {
      format,
      maxLineBytes: opts.maxLineBytes,
      vocabSize: tokenizer.vocabSize,
      onBadLine: bad,
      onDetected: (f, origin) => {
        format = f;
        formatOrigin = origin;
      },
      onProgress: opts.onProgress,
    },
    reader,
  );
  for await (const { line, example: parsed } of lines) {
    let example: TokenizedExample;
    try {
      example = encoder.encode(parsed, line);
    } catch (e) {
      if (!(e instanceof LineProblem)) throw e;
      bad(line, e.reason);
      continue;
    }
    if (collector.add(example)) examples.push(example);
  }

  if (format !== null && format !== 'messages' && format !== 'tokenized' && tokenizer.eosId === null) collector.note('no_eos', 0);
  const { stats, warnings } = collector.result();
  if (examples.length === 0) throw new DatasetError(source.name, emptyReason(stats, problems));
  return { file: source.name, format: format!, formatOrigin, examples, stats, warnings, problems, reader };
}

/** Why nothing is left to train on, in one line. */
function emptyReason(stats: DatasetStats, problems: LineIssue[]): string {
  if (stats.fullyMasked > 0) {
    return `no examples left to train on: all ${stats.fullyMasked} had no trained token (a prompt with no answer, or an answer cut off by max length)`;
  }
  if (stats.badLines > 0) {
    const first = problems[0];
    return `no examples left to train on: all ${stats.badLines} non-blank lines are bad; line ${first.line}: ${first.reason}`;
  }
  return 'contains no examples (every line is blank)';
}

/** Holds out `ratio` of the examples for evaluation, chosen by `seed` (see split.ts). */
export function splitDataset(examples: TokenizedExample[], ratio: number, seed: number): { train: TokenizedExample[]; eval: TokenizedExample[] } {
  const { train, eval: held } = splitTrainEval(examples.length, ratio, seed);
  return { train: train.map((i) => examples[i]), eval: held.map((i) => examples[i]) };
}
