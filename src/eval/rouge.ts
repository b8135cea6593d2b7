import { porterStem } from './porter.ts';
import { rougeTokens } from './tokenize_text.ts';

// ROUGE (Lin 2004) as google-research `rouge_score` computes it with RougeScorer(types) and its
// defaults (rouge_scorer.py), which replicate ROUGE-1.5.5 `-e data -n 2`:
//
//   tokens      rougeTokens(): lowercase, [a-z0-9] runs; no stemming unless useStemmer (then
//               NLTK's Porter stemmer on tokens longer than 3 letters, porter.ts)
//   ROUGE-N     overlap = Σ_g min(count_ref(g), count_hyp(g)) over the n-grams g;
//               P = overlap / max(#hyp n-grams, 1), R = overlap / max(#ref n-grams, 1)
//   ROUGE-L     LCS length of the whole token sequences (newlines are ordinary separators — this
//               is rouge-score's `rougeL`, not the summary-level `rougeLsum`);
//               P = LCS / #hyp tokens, R = LCS / #ref tokens, 0 when either side has no tokens
//   F           2PR / (P + R), 0 when P + R = 0 (scoring.fmeasure)
//
// Argument order is (reference, hypothesis), rouge-score's score(target, prediction).

export interface RougeScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

export interface RougeScores {
  rouge1: RougeScore;
  rouge2: RougeScore;
  rougeL: RougeScore;
}

export interface RougeOptions {
  /** rouge-score's use_stemmer: Porter-stem tokens longer than 3 letters. Off by default, as there. */
  useStemmer?: boolean;
}

function score(precision: number, recall: number): RougeScore {
  const fmeasure = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, fmeasure };
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  // rouge tokens are [a-z0-9]+, so a space cannot occur inside one and the joined keys are unique.
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(' ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** ROUGE-N over already tokenized texts. */
export function rougeNTokens(reference: readonly string[], hypothesis: readonly string[], n: number): RougeScore {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`ROUGE-N needs a positive integer n, got ${n}`);
  const ref = ngramCounts(reference, n);
  const hyp = ngramCounts(hypothesis, n);
  let overlap = 0;
  for (const [gram, k] of ref) overlap += Math.min(k, hyp.get(gram) ?? 0);
  const refTotal = Math.max(reference.length - n + 1, 0);
  const hypTotal = Math.max(hypothesis.length - n + 1, 0);
  return score(overlap / Math.max(hypTotal, 1), overlap / Math.max(refTotal, 1));
}

/** Length of the longest common subsequence, O(|a|·|b|) time and O(|b|) memory. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Uint32Array(b.length + 1);
  let row = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    const ai = a[i - 1];
    for (let j = 1; j <= b.length; j++) {
      row[j] = ai === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]);
    }
    [prev, row] = [row, prev];
  }
  return prev[b.length];
}

/** ROUGE-L (sentence-level LCS over the whole text) over already tokenized texts. */
export function rougeLTokens(reference: readonly string[], hypothesis: readonly string[]): RougeScore {
  if (reference.length === 0 || hypothesis.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const lcs = lcsLength(reference, hypothesis);
  return score(lcs / hypothesis.length, lcs / reference.length);
}

/** ROUGE-1, ROUGE-2 and ROUGE-L of a hypothesis against its reference. */
export function rouge(reference: string, hypothesis: string, options: RougeOptions = {}): RougeScores {
  const stem = options.useStemmer ? porterStem : undefined;
  const ref = rougeTokens(reference, stem);
  const hyp = rougeTokens(hypothesis, stem);
  return { rouge1: rougeNTokens(ref, hyp, 1), rouge2: rougeNTokens(ref, hyp, 2), rougeL: rougeLTokens(ref, hyp) };
}
