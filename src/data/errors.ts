import { InputError } from '../errors.ts';

// Errors for datasets the user hands us. The message is the one line the CLI prints after
// `webtune: error: `, so it starts with `<file>:<line>:` like a compiler diagnostic.

/** One bad line of a JSONL dataset; `line` is 1-based and counts blank lines. */
export class DatasetFormatError extends InputError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super('bad_dataset', `${file}:${line}: ${reason}`);
  }
}

/** A dataset that is readable but unusable as a whole (nothing left to train on, bad options). */
export class DatasetError extends InputError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super('bad_dataset', `${file}: ${reason}`);
  }
}

/**
 * What is wrong with one example, before we know (or when the code does not know) which file and
 * line it came from. The reader turns it into a DatasetFormatError or a skipped-line entry.
 */
export class LineProblem extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'LineProblem';
  }
}

/** A tokenizer.json / tokenizer_config.json we cannot use. */
export class TokenizerError extends InputError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super('bad_tokenizer', `${file}: ${reason}`);
  }
}
