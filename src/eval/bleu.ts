import { tokenize13a, tokenizeNone } from './tokenize_text.ts';

// BLEU (Papineni et al. 2002) exactly as sacrebleu 2.x computes it (sacrebleu/metrics/bleu.py),
// with the same tokenization, smoothing and statistics:
//
//   per segment: hypothesis and reference(s) tokenized (13a by default), n-grams n = 1..4
//     counted, matches clipped by the reference count; c = hypothesis length, r = reference length.
//   corpus: the counts summed over segments, then
//     p_n = 100·matches_n / total_n                     (smoothed as below when matches_n = 0)
//     BP  = exp(1 − r/c) if c < r (0 when c = 0), else 1
//     BLEU = BP · exp( Σ_{n ≤ N'} log p_n / N' )         on the 0–100 scale, log 0 := −9999999999
//   N' = 4, or with effectiveOrder the highest n whose total_n > 0 (sentence-level BLEU).
//   No match at all, for any n, gives 0 straight away (sacrebleu #141).
//
// Smoothing (Chen & Cherry 2014, as sacrebleu names them), applied to an n with total_n > 0:
//   exp    (default; NIST / mteval-v13a, "method 3"): the k-th order with no match gets
//          p_n = 100 / (2^k · total_n)
//   floor  ("method 1"): p_n = 100·value / total_n for an order with no match (value 0.1 default)
//   add-k  ("method 2"): matches_n += value and total_n += value for every n ≥ 2 (value 1 default)
//   none   no smoothing: one order with no match makes the score 0.
//
// corpusBleu's defaults are sacrebleu.corpus_bleu's (13a, exp, no effective order);
// sentenceBleu's are sacrebleu.sentence_bleu's (13a, exp, effective order on).

export type BleuSmoothing = 'exp' | 'floor' | 'add-k' | 'none';
export type BleuTokenizer = '13a' | 'none';

export interface BleuOptions {
  tokenize: BleuTokenizer;
  smoothMethod: BleuSmoothing;
  /** For floor and add-k; null takes sacrebleu's default (0.1 and 1). */
  smoothValue: number | null;
  effectiveOrder: boolean;
  /** Lowercase both sides before tokenizing (sacrebleu `lowercase=True`). */
  lowercase: boolean;
  maxNgramOrder: number;
}

export const corpusBleuDefaults: BleuOptions = { tokenize: '13a', smoothMethod: 'exp', smoothValue: null, effectiveOrder: false, lowercase: false, maxNgramOrder: 4 };
export const sentenceBleuDefaults: BleuOptions = { ...corpusBleuDefaults, effectiveOrder: true };

const smoothDefaults: Record<BleuSmoothing, number> = { exp: 0, floor: 0.1, 'add-k': 1, none: 0 };

/** What one segment contributes: lengths, and per order n (index n − 1) matched and total n-grams. */
export interface BleuStats {
  hypLength: number;
  refLength: number;
  matches: number[];
  totals: number[];
}

export interface BleuScore extends BleuStats {
  /** 0–100. */
  score: number;
  /** p_n after smoothing, 0–100, index n − 1. */
  precisions: number[];
  brevityPenalty: number;
}

/** Per order n (index n − 1), the count of each n-gram of `tokens`, keyed by its tokens joined with a space. */
function ngramCounts(tokens: readonly string[], maxOrder: number): Map<string, number>[] {
  const counts: Map<string, number>[] = [];
  for (let n = 1; n <= maxOrder; n++) {
    const order = new Map<string, number>();
    // Both tokenizers split on whitespace, so no token holds a space and the keys cannot collide.
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = tokens.slice(i, i + n).join(' ');
      order.set(key, (order.get(key) ?? 0) + 1);
    }
    counts.push(order);
  }
  return counts;
}

function tokensOf(text: string, options: BleuOptions): string[] {
  const t = options.lowercase ? text.toLowerCase() : text;
  return options.tokenize === '13a' ? tokenize13a(t) : tokenizeNone(t);
}

/** BLEU._get_closest_ref_len: the reference length closest to c, the shorter one on a tie. */
function closestRefLength(c: number, lengths: readonly number[]): number {
  let best = lengths[0];
  for (const r of lengths) {
    const d = Math.abs(c - r);
    const bestD = Math.abs(c - best);
    if (d < bestD || (d === bestD && r < best)) best = r;
  }
  return best;
}

/**
 * sacrebleu's sufficient statistics of one hypothesis against its reference(s). With several
 * references an n-gram's clip count is its largest count in any one of them and r is the closest
 * reference length. Empty references are dropped as sacrebleu drops them; if every one is empty
 * the segment has a reference of no tokens (sacrebleu would refuse it; see corpusBleu).
 */
export function bleuStats(hypothesis: string, references: string | readonly string[], options: Partial<BleuOptions> = {}): BleuStats {
  const opts = { ...corpusBleuDefaults, ...options };
  const order = opts.maxNgramOrder;
  const given = typeof references === 'string' ? [references] : references;
  const nonEmpty = given.filter((r) => r !== '');
  const refs = (nonEmpty.length > 0 ? nonEmpty : ['']).map((r) => tokensOf(r, opts));
  const refCounts = ngramCounts(refs[0], order);
  for (const ref of refs.slice(1)) {
    ngramCounts(ref, order).forEach((counts, n) => {
      for (const [gram, k] of counts) refCounts[n].set(gram, Math.max(k, refCounts[n].get(gram) ?? 0));
    });
  }
  const hyp = tokensOf(hypothesis, opts);
  const matches = new Array<number>(order).fill(0);
  const totals = new Array<number>(order).fill(0);
  ngramCounts(hyp, order).forEach((counts, n) => {
    for (const [gram, k] of counts) {
      totals[n] += k;
      matches[n] += Math.min(k, refCounts[n].get(gram) ?? 0);
    }
  });
  const refLength = closestRefLength(hyp.length, refs.map((r) => r.length));
  return { hypLength: hyp.length, refLength, matches, totals };
}

/** sacrebleu's log: log(0) is −9999999999 rather than −∞, so a zero precision gives a score of 0 without NaN. */
function bleuLog(x: number): number {
  return x === 0 ? -9999999999 : Math.log(x);
}

/** BLEU.compute_bleu: the score from summed statistics. */
export function bleuFromStats(stats: BleuStats, options: Partial<BleuOptions> = {}): BleuScore {
  const opts = { ...corpusBleuDefaults, ...options };
  const order = opts.maxNgramOrder;
  const value = opts.smoothValue ?? smoothDefaults[opts.smoothMethod];
  const { hypLength: c, refLength: r } = stats;
  const matches = stats.matches.slice();
  const totals = stats.totals.slice();
  if (matches.length !== order || totals.length !== order) throw new RangeError(`BLEU statistics need ${order} orders, got ${matches.length} and ${totals.length}`);
  const brevityPenalty = c < r ? (c > 0 ? Math.exp(1 - r / c) : 0) : 1;
  const precisions = new Array<number>(order).fill(0);
  const result = (score: number): BleuScore => ({ score, hypLength: c, refLength: r, matches, totals, precisions, brevityPenalty });
  if (!matches.some((m) => m > 0)) return result(0);

  let smoothExp = 1;
  let effOrder = order;
  for (let n = 1; n <= order; n++) {
    if (opts.smoothMethod === 'add-k' && n > 1) {
      matches[n - 1] += value;
      totals[n - 1] += value;
    }
    if (totals[n - 1] === 0) break;
    if (opts.effectiveOrder) effOrder = n;
    if (matches[n - 1] === 0) {
      if (opts.smoothMethod === 'exp') {
        smoothExp *= 2;
        precisions[n - 1] = 100 / (smoothExp * totals[n - 1]);
      } else if (opts.smoothMethod === 'floor') {
        precisions[n - 1] = (100 * value) / totals[n - 1];
      }
    } else {
      precisions[n - 1] = (100 * matches[n - 1]) / totals[n - 1];
    }
  }
  let logSum = 0;
  for (let n = 0; n < effOrder; n++) logSum += bleuLog(precisions[n]);
  return result(brevityPenalty * Math.exp(logSum / effOrder));
}

/** Adds segment statistics (the corpus total). */
export function sumBleuStats(all: readonly BleuStats[], maxNgramOrder = 4): BleuStats {
  const sum: BleuStats = { hypLength: 0, refLength: 0, matches: new Array<number>(maxNgramOrder).fill(0), totals: new Array<number>(maxNgramOrder).fill(0) };
  for (const s of all) {
    sum.hypLength += s.hypLength;
    sum.refLength += s.refLength;
    for (let n = 0; n < maxNgramOrder; n++) {
      sum.matches[n] += s.matches[n];
      sum.totals[n] += s.totals[n];
    }
  }
  return sum;
}

/**
 * Corpus BLEU: references[i] is the reference (or the references) of hypotheses[i] — sacrebleu's
 * corpus_bleu(hyps, [refs]) with one reference, corpus_bleu(hyps, zip(*references)) with several,
 * its streams transposed to one list per segment. An empty
 * hypothesis counts (length 0); an empty reference counts as a reference of no tokens — sacrebleu
 * refuses "" outright, but a whitespace-only reference it accepts gives the same statistics.
 */
export function corpusBleu(hypotheses: readonly string[], references: readonly (string | readonly string[])[], options: Partial<BleuOptions> = {}): BleuScore {
  if (hypotheses.length !== references.length) throw new RangeError(`corpus BLEU needs one reference per hypothesis: ${hypotheses.length} hypotheses, ${references.length} references`);
  const opts = { ...corpusBleuDefaults, ...options };
  const stats = hypotheses.map((h, i) => bleuStats(h, references[i], opts));
  return bleuFromStats(sumBleuStats(stats, opts.maxNgramOrder), opts);
}

/** Sentence BLEU (sacrebleu.sentence_bleu(hyp, refs)): exp smoothing and effective order unless told otherwise. */
export function sentenceBleu(hypothesis: string, reference: string | readonly string[], options: Partial<BleuOptions> = {}): BleuScore {
  const opts = { ...sentenceBleuDefaults, ...options };
  return bleuFromStats(bleuStats(hypothesis, reference, opts), opts);
}
