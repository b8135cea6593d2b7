// The word tokenizations the metrics are defined over, each reproducing the Python reference
// character for character (the metrics are only comparable with published numbers if the tokens
// are the same):
//
//   rougeTokens    google-research `rouge_score` tokenize.tokenize(text, stemmer=None):
//                  lowercase, every run of characters outside [a-z0-9] becomes a space, split on
//                  whitespace, drop empty tokens. Non-ASCII letters are separators, so "café" →
//                  ["caf"] exactly as rouge-score does it.
//   tokenize13a    sacrebleu's default BLEU tokenizer (tokenizer_13a.py + tokenizer_re.py, the
//                  mteval-v13a.pl rules), applied after sacrebleu's `sent.rstrip()`.
//   pythonSplit    Python's `str.split()` with no argument, which both of them end with.

/**
 * Python's str.isspace() set (Unicode White_Space plus the ASCII separators \x1c–\x1f), which
 * `str.split()` and `str.rstrip()` use. It differs from JS `\s`: Python counts \x1c–\x1f and \x85
 * but not U+FEFF.
 */
const PY_SPACE = '\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const pySpaceRun = new RegExp(`[${PY_SPACE}]+`, 'g');
const pyTrailingSpace = new RegExp(`[${PY_SPACE}]+$`);

/** Python `text.split()`: runs of whitespace separate, leading/trailing whitespace gives no token. */
export function pythonSplit(text: string): string[] {
  return text.split(pySpaceRun).filter((t) => t !== '');
}

/** Python `text.rstrip()`. */
export function pythonRstrip(text: string): string {
  return text.replace(pyTrailingSpace, '');
}

/**
 * rouge-score's tokens. `stem` (optional) is applied, as rouge-score applies its Porter stemmer,
 * only to tokens longer than 3 characters; rouge-score's default is no stemming.
 */
export function rougeTokens(text: string, stem?: (token: string) => string): string[] {
  // lower() then [^a-z0-9]+ → " " then split: the tokens are exactly the maximal [a-z0-9] runs.
  const tokens = text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  if (!stem) return tokens;
  // rouge-score re-checks ^[a-z0-9]+$ after stemming; a stemmer that returns anything else drops the token.
  return tokens.map((t) => (t.length > 3 ? stem(t) : t)).filter((t) => /^[a-z0-9]+$/.test(t));
}

// tokenizer_re.py, in order. Class of the first rule: { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * +
// : ; < = > ? @ / — every ASCII symbol except ' , - . (handled next) and the alphanumerics.
const rules13a: [RegExp, string][] = [
  [/([{-~[-` -&(-+:-@/])/g, ' $1 '],
  // period and comma, unless preceded by a digit
  [/([^0-9])([.,])/g, '$1 $2 '],
  // period and comma, unless followed by a digit
  [/([.,])([^0-9])/g, ' $1 $2'],
  // dash preceded by a digit
  [/([0-9])(-)/g, '$1 $2 '],
];

/** sacrebleu's 13a tokenization of one segment, as the token list (BLEU splits its output on spaces). */
export function tokenize13a(segment: string): string[] {
  // BLEU._preprocess_segment strips the right end before the tokenizer sees the line.
  let line = pythonRstrip(segment);
  line = line
    .replaceAll('<skipped>', '')
    .replaceAll('-\n', '')
    .replaceAll('\n', ' ')
    .replaceAll('&quot;', '"')
    .replaceAll('&amp;', '&')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>');
  line = ` ${line} `;
  for (const [pattern, replacement] of rules13a) line = line.replace(pattern, replacement);
  return pythonSplit(line);
}

/** sacrebleu's `tokenize='none'`: the segment split on whitespace as it is. */
export function tokenizeNone(segment: string): string[] {
  return pythonSplit(pythonRstrip(segment));
}
