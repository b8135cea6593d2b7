// Types of the dataset half of the worker API (api.ts). Statistics and warnings are those of
// data/stats.ts, copied into plain records here so the UI needs no import from data/.

export type DatasetFormatName = 'text' | 'prompt-completion' | 'alpaca' | 'messages' | 'tokenized';

/** The settings a dataset is tokenized with (they are training settings too). */
export interface DatasetOptions {
  format: DatasetFormatName | 'auto';
  maxLength: number;
  lossOn: 'completion' | 'all';
}

export interface LengthBinView {
  from: number;
  to: number;
  count: number;
}

export interface DatasetStatsView {
  examples: number;
  badLines: number;
  fullyMasked: number;
  truncated: number;
  tokens: number;
  trainedTokens: number;
  minLength: number;
  maxLength: number;
  meanLength: number;
  histogram: LengthBinView[];
}

export interface DatasetWarningView {
  code: string;
  count: number;
  lines: number[];
  message: string;
}

export interface DatasetSummary {
  file: string;
  bytes: number;
  format: DatasetFormatName;
  /** e.g. "detected from line 1". */
  formatOrigin: string;
  options: DatasetOptions;
  /** Non-blank lines read. */
  lines: number;
  stats: DatasetStatsView;
  warnings: DatasetWarningView[];
}

export interface PreviewTokenView {
  piece: string;
  trained: boolean;
}

export interface PreviewRunView {
  text: string;
  trained: boolean;
}

export interface ExamplePreviewView {
  index: number;
  /** Kept examples in the dataset. */
  of: number;
  /** 1-based line of the file. */
  line: number;
  length: number;
  trainedTokens: number;
  truncated: boolean;
  /** The text cut into runs of trained / not-trained tokens. */
  runs: PreviewRunView[];
  /** The first tokens with their vocabulary pieces (at most 256). */
  tokens: PreviewTokenView[];
}
