import { loadDataset, type LoadedDataset } from '../data/pipeline.ts';
import { previewExample } from '../data/preview.ts';
import { blobStreamSource } from '../data/stream_source.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import { InputError } from '../errors.ts';
import type { DatasetOptions, DatasetSummary, ExamplePreviewView, ProgressCallback } from './api.ts';

// The dataset as the engine keeps it: the user's File (so training can read it again when its
// settings change the tokenization) and its examples tokenized for the loaded model.

export interface DatasetSession {
  file: Blob;
  name: string;
  options: DatasetOptions;
  loaded: LoadedDataset;
  summary: DatasetSummary;
  tokenizer: TextTokenizer;
}

/** Tokens listed one by one in a preview; the runs of text always cover the whole example. */
const PREVIEW_TOKENS = 256;

export async function loadDatasetSession(file: Blob, name: string, tokenizer: TextTokenizer, options: DatasetOptions, onProgress?: ProgressCallback): Promise<DatasetSession> {
  const loaded = await loadDataset(blobStreamSource(file, name), tokenizer, {
    format: options.format,
    maxLength: options.maxLength,
    lossOn: options.lossOn,
    onBadLine: 'stop',
    onProgress: (done, total) => onProgress?.({ stage: 'Reading and tokenizing', done, total }),
  });
  const s = loaded.stats;
  const summary: DatasetSummary = {
    file: name,
    bytes: file.size,
    format: loaded.format,
    formatOrigin: loaded.formatOrigin,
    options: { ...options },
    lines: loaded.reader.lines,
    stats: { ...s, histogram: s.histogram.map((b) => ({ ...b })) },
    warnings: loaded.warnings.map((w) => ({ code: w.code, count: w.count, lines: [...w.lines], message: w.message })),
  };
  return { file, name, options: { ...options }, loaded, summary, tokenizer };
}

/** True when the session was tokenized with these options (else training reads the file again). */
export function sameOptions(a: DatasetOptions, b: DatasetOptions): boolean {
  return a.format === b.format && a.maxLength === b.maxLength && a.lossOn === b.lossOn;
}

export function previewView(session: DatasetSession, index: number): ExamplePreviewView {
  const examples = session.loaded.examples;
  if (!Number.isInteger(index) || index < 0 || index >= examples.length) {
    throw new InputError('bad_example_index', `There is no example ${index + 1}: the dataset has ${examples.length} examples to train on.`);
  }
  const p = previewExample(session.tokenizer, examples[index]);
  return {
    index,
    of: examples.length,
    line: p.line,
    length: p.length,
    trainedTokens: p.trainedTokens,
    truncated: p.truncated,
    runs: p.runs.map((r) => ({ text: r.text, trained: r.trained })),
    tokens: p.tokens.slice(0, PREVIEW_TOKENS).map((t) => ({ piece: t.piece, trained: t.trained })),
  };
}
