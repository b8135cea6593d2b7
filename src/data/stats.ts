import type { TokenizedExample } from './encode.ts';

// Dataset statistics and warnings, gathered one example at a time while the file streams, for the
// UI's dataset screen and `webtune data`. Counts are of examples kept for training unless named
// otherwise; lengths are after truncation.

export interface LengthBin {
  /** Inclusive token-length range. */
  from: number;
  to: number;
  count: number;
}

export interface DatasetStats {
  /** Examples kept for training. */
  examples: number;
  /** Bad lines skipped (only with onBadLine "skip"). */
  badLines: number;
  /** Examples dropped because no token was left to train (TRL drops them too, formats.md §6.2). */
  fullyMasked: number;
  /** Kept examples that were cut to max_length. */
  truncated: number;
  tokens: number;
  /** count(labels != -100): the loss targets. */
  trainedTokens: number;
  minLength: number;
  maxLength: number;
  meanLength: number;
  histogram: LengthBin[];
}

export type WarningCode = 'truncated' | 'fully_masked' | 'bad_lines' | 'boundary_mismatch' | 'no_end_of_turn' | 'no_eos';

export interface DataWarning {
  code: WarningCode;
  count: number;
  /** The first few lines concerned, 1-based. */
  lines: number[];
  message: string;
}

const exampleLines = 5;

/** Bins [1,16] [17,32] [33,64] … up to max_length, so the shape reads at a glance at any scale. */
export function lengthBins(maxLength: number): LengthBin[] {
  const bins: LengthBin[] = [];
  let from = 1;
  for (let to = 16; from <= maxLength; to *= 2) {
    bins.push({ from, to: Math.min(to, maxLength), count: 0 });
    from = to + 1;
  }
  return bins;
}

export class StatsCollector {
  private readonly stats: DatasetStats;
  private readonly tallies = new Map<WarningCode, { count: number; lines: number[] }>();

  constructor(private readonly maxLength: number) {
    this.stats = {
      examples: 0, badLines: 0, fullyMasked: 0, truncated: 0, tokens: 0, trainedTokens: 0,
      minLength: 0, maxLength: 0, meanLength: 0, histogram: lengthBins(maxLength),
    };
  }

  /** Records an encoded example; returns false when it trains nothing and must be dropped. */
  add(ex: TokenizedExample): boolean {
    if (ex.boundaryMismatch) this.note('boundary_mismatch', ex.line);
    if (ex.turnsWithoutEnd > 0) this.note('no_end_of_turn', ex.line);
    if (ex.trainedTokens === 0) {
      this.stats.fullyMasked++;
      this.note('fully_masked', ex.line);
      return false;
    }
    const s = this.stats;
    const n = ex.inputIds.length;
    if (ex.originalLength > n) {
      s.truncated++;
      this.note('truncated', ex.line);
    }
    s.minLength = s.examples === 0 ? n : Math.min(s.minLength, n);
    s.maxLength = Math.max(s.maxLength, n);
    s.examples++;
    s.tokens += n;
    s.trainedTokens += ex.trainedTokens;
    const bin = s.histogram.find((b) => n <= b.to);
    if (bin) bin.count++;
    return true;
  }

  badLine(line: number): void {
    this.stats.badLines++;
    this.note('bad_lines', line);
  }

  note(code: WarningCode, line: number): void {
    let t = this.tallies.get(code);
    if (!t) this.tallies.set(code, (t = { count: 0, lines: [] }));
    t.count++;
    if (t.lines.length < exampleLines && line > 0) t.lines.push(line);
  }

  result(): { stats: DatasetStats; warnings: DataWarning[] } {
    const s = this.stats;
    const stats = { ...s, meanLength: s.examples === 0 ? 0 : s.tokens / s.examples, histogram: s.histogram.map((b) => ({ ...b })) };
    const warnings = [...this.tallies].map(([code, t]) => ({ code, count: t.count, lines: [...t.lines], message: this.describe(code, t.count, t.lines) }));
    return { stats, warnings };
  }

  private describe(code: WarningCode, n: number, lines: number[]): string {
    const where = lines.length === 0 ? '' : ` (line${lines.length > 1 ? 's' : ''} ${lines.join(', ')}${n > lines.length ? ', …' : ''})`;
    const examples = `${n} example${n === 1 ? '' : 's'}`;
    switch (code) {
      case 'truncated':
        return `${examples} longer than max_length ${this.maxLength} ${n === 1 ? 'was' : 'were'} truncated to the first ${this.maxLength} tokens${where}`;
      case 'fully_masked':
        return `${examples} had no trained token left after masking and truncation and ${n === 1 ? 'was' : 'were'} dropped${where}`;
      case 'bad_lines':
        return `${n} bad line${n === 1 ? ' was' : 's were'} skipped${where}`;
      case 'boundary_mismatch':
        return `${examples}: a prompt/answer boundary falls inside a token, which is trained${where}`;
      case 'no_end_of_turn':
        return `${examples}: an assistant turn has no end-of-turn token after it, so the model does not learn to stop there${where}`;
      case 'no_eos':
        return 'the tokenizer has no eos_token: examples end without EOS, so the model does not learn to stop';
    }
  }
}
