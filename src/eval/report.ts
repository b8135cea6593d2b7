import { bleuStats, bleuFromStats, corpusBleuDefaults, sentenceBleuDefaults, sumBleuStats, type BleuScore, type BleuStats } from './bleu.ts';
import { exactMatch } from './exact_match.ts';
import { rouge } from './rouge.ts';

// Base versus fine-tuned, measured (issue #6): every example's outputs scored against its
// reference, and a summary per system.
//
//   per output   ROUGE-1/2/L F1 (0–1, rouge.ts), sentence BLEU (0–100, sacrebleu.sentence_bleu
//                defaults: 13a, exp smoothing, effective order), exact match (0 or 1, SQuAD
//                normalization)
//   per system   the mean of each per-output ROUGE F1 and of exact match over the examples, and
//                corpus BLEU (0–100, sacrebleu.corpus_bleu defaults) over all outputs at once —
//                corpus BLEU is not the mean of sentence BLEUs
//
// The tuned system is optional: `webtune eval` without an adapter scores the base model alone.

export interface EvalExample {
  prompt: string;
  reference: string;
  baseOutput: string;
  /** null or absent when no adapter was evaluated; then it must be absent for every example. */
  tunedOutput?: string | null;
  /** 1-based line of the eval file, when the example came from one. */
  line?: number;
}

export interface OutputScores {
  rouge1: number;
  rouge2: number;
  rougeL: number;
  /** Sentence BLEU, 0–100. */
  bleu: number;
  exactMatch: 0 | 1;
}

export interface EvalRow {
  /** 0-based position in the eval set. */
  index: number;
  line: number | null;
  prompt: string;
  reference: string;
  baseOutput: string;
  tunedOutput: string | null;
  base: OutputScores;
  tuned: OutputScores | null;
}

export interface SystemSummary {
  /** Mean F1, 0–1. */
  rouge1: number;
  rouge2: number;
  rougeL: number;
  /** Fraction of exact matches, 0–1. */
  exactMatch: number;
  /** Corpus BLEU with its statistics (score 0–100). */
  bleu: BleuScore;
}

export interface EvalSummary {
  examples: number;
  base: SystemSummary;
  tuned: SystemSummary | null;
}

export interface EvalReport {
  summary: EvalSummary;
  rows: EvalRow[];
}

/** The metrics' definitions, in the words a report carries with its numbers. */
export const metricDefinitions = {
  rouge:
    'ROUGE-1, ROUGE-2, ROUGE-L F1 as google-research rouge-score RougeScorer computes them by default (lowercase, [a-z0-9] tokens, no stemming; rougeL = LCS over the whole text, not rougeLsum); summary = mean over examples',
  bleu:
    'BLEU-4 as sacrebleu 2.x computes it (nrefs:1|case:mixed|tok:13a|smooth:exp): summary = corpus BLEU (eff:no), per example = sentence BLEU (eff:yes), both 0-100',
  exactMatch: 'exact match after SQuAD v1.1 normalize_answer (lowercase, strip ASCII punctuation and the articles a/an/the, collapse whitespace); summary = fraction of examples',
} as const;

/** The scores of one output, and its BLEU statistics for the corpus score. */
export function scoreOutput(reference: string, output: string): OutputScores & { bleuStats: BleuStats } {
  const r = rouge(reference, output);
  const stats = bleuStats(output, reference, sentenceBleuDefaults);
  return {
    rouge1: r.rouge1.fmeasure,
    rouge2: r.rouge2.fmeasure,
    rougeL: r.rougeL.fmeasure,
    bleu: bleuFromStats(stats, sentenceBleuDefaults).score,
    exactMatch: exactMatch(reference, output),
    bleuStats: stats,
  };
}

function summarize(scored: (OutputScores & { bleuStats: BleuStats })[]): SystemSummary {
  const mean = (pick: (s: OutputScores) => number): number => scored.reduce((sum, s) => sum + pick(s), 0) / scored.length;
  return {
    rouge1: mean((s) => s.rouge1),
    rouge2: mean((s) => s.rouge2),
    rougeL: mean((s) => s.rougeL),
    exactMatch: mean((s) => s.exactMatch),
    bleu: bleuFromStats(sumBleuStats(scored.map((s) => s.bleuStats)), corpusBleuDefaults),
  };
}

function plainScores(s: OutputScores): OutputScores {
  return { rouge1: s.rouge1, rouge2: s.rouge2, rougeL: s.rougeL, bleu: s.bleu, exactMatch: s.exactMatch };
}

/** Scores every example and both systems. Throws RangeError on an empty set or a tuned output given for some examples only. */
export function buildEvalReport(examples: readonly EvalExample[]): EvalReport {
  if (examples.length === 0) throw new RangeError('an evaluation needs at least one example');
  const withTuned = examples.filter((e) => e.tunedOutput !== undefined && e.tunedOutput !== null).length;
  if (withTuned !== 0 && withTuned !== examples.length) {
    throw new RangeError(`${withTuned} of ${examples.length} examples have a tuned output; give one for every example or for none`);
  }
  const hasTuned = withTuned > 0;
  const base = examples.map((e) => scoreOutput(e.reference, e.baseOutput));
  const tuned = hasTuned ? examples.map((e) => scoreOutput(e.reference, e.tunedOutput!)) : null;
  const rows = examples.map(
    (e, i): EvalRow => ({
      index: i,
      line: e.line ?? null,
      prompt: e.prompt,
      reference: e.reference,
      baseOutput: e.baseOutput,
      tunedOutput: hasTuned ? e.tunedOutput! : null,
      base: plainScores(base[i]),
      tuned: tuned ? plainScores(tuned[i]) : null,
    }),
  );
  return { summary: { examples: examples.length, base: summarize(base), tuned: tuned ? summarize(tuned) : null }, rows };
}
