import { pythonSplit } from './tokenize_text.ts';

// Exact match after the answer normalization of the SQuAD v1.1 evaluation script
// (`normalize_answer` in evaluate-v1.1.py, also Hugging Face evaluate's "squad" metric), the
// one most published EM numbers use:
//
//   lower-case → delete ASCII punctuation (Python string.punctuation) → delete the words
//   "a", "an", "the" → collapse whitespace (' '.join(s.split()))
//
// So "The Eiffel Tower." matches "eiffel tower" and "  Paris\n" matches "paris", while any
// difference in the words themselves is a miss. Python's `\b` in the article rule is
// Unicode-aware; it is written here with explicit letter/number lookarounds to match.

/** Python's string.punctuation: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ */
const punctuation = /[!-/:-@[-`{-~]/g;
const articles = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;

/** SQuAD's normalize_answer. */
export function normalizeAnswer(text: string): string {
  const lowered = text.toLowerCase();
  const noPunctuation = lowered.replace(punctuation, '');
  const noArticles = noPunctuation.replace(articles, ' ');
  return pythonSplit(noArticles).join(' ');
}

/** 1 when the normalized hypothesis equals the normalized reference, else 0. Two empty answers match. */
export function exactMatch(reference: string, hypothesis: string): 0 | 1 {
  return normalizeAnswer(reference) === normalizeAnswer(hypothesis) ? 1 : 0;
}
