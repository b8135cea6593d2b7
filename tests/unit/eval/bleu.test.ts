import { describe, expect, it } from 'vitest';
import { bleuFromStats, bleuStats, corpusBleu, sentenceBleu, type BleuOptions, type BleuSmoothing } from '../../../src/eval/bleu.ts';
import { tokenize13a } from '../../../src/eval/tokenize_text.ts';

// Known values from sacrebleu's own test suite (github.com/mjpost/sacrebleu, test/test_bleu.py and
// test/test_sentence_bleu.py), reproduced to the tolerance those tests use (1e-8 and 1e-3). The
// `intl` and `char` tokenizer cases are left out: webtune implements 13a and none only. Every
// value was also rerun on sacrebleu 2.6.0, which differs from the suite in one place (below).
// sacrebleu's refs are streams (refs[stream][segment]); ours are per segment, so they are transposed.

/** sacrebleu.compat.raw_corpus_bleu(hyps, [refs], smooth_value): tokenize none, floor, effective order. */
function rawCorpusBleu(hyps: string[], refs: string[], smoothValue = 0.1): number {
  return corpusBleu(hyps, refs, { tokenize: 'none', smoothMethod: 'floor', smoothValue, effectiveOrder: true }).score / 100;
}

// test_bleu.py: the README example, two reference streams.
const refStreams = [
  ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
  ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
];
const readmeRefs = refStreams[0].map((_, i) => refStreams.map((s) => s[i]));
const readmeHyps = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];

describe('corpus BLEU (sacrebleu test_bleu.py)', () => {
  it('README example: 48.530827 with the defaults (13a, exp), with tokenize 13a and with smooth none', () => {
    expect(Math.abs(corpusBleu(readmeHyps, readmeRefs).score - 48.530827)).toBeLessThan(1e-6);
    expect(Math.abs(corpusBleu(readmeHyps, readmeRefs, { tokenize: '13a' }).score - 48.530827)).toBeLessThan(1e-6);
    expect(Math.abs(corpusBleu(readmeHyps, readmeRefs, { smoothMethod: 'none' }).score - 48.530827)).toBeLessThan(1e-6);
  });

  it('README example with tokenize none: 49.1919566', () => {
    expect(Math.abs(corpusBleu(readmeHyps, readmeRefs, { tokenize: 'none' }).score - 49.1919566)).toBeLessThan(1e-6);
  });

  it('empty hypotheses are kept and score 0.0', () => {
    expect(corpusBleu(['', '', ''], readmeRefs).score).toBe(0);
  });

  it.each([
    // The suite lists 0.003799178428257963, from before sacrebleu's early stop when nothing
    // matches (issue #141, in 2.x): sacrebleu 2.6.0 gives 0.0 here, and so do we.
    [['this is a test', 'another test'], ['ref1', 'ref2'], 0.0],
    [['this is a test'], ['this is a test'], 1.0],
    [['this is a fest'], ['this is a test'], 0.223606797749979],
  ])('raw_corpus_bleu(%j, %j, .01) = %f', (hyps, refs, expected) => {
    expect(Math.abs(rawCorpusBleu(hyps, refs, 0.01) - expected)).toBeLessThan(1e-8);
  });

  it.each([
    ['test', 'a test', 0.3678794411714425],
    ['a test', 'a test', 1.0],
    ['a little test', 'a test', 0.03218297948685433],
  ])('effective order: raw_corpus_bleu([%j], [[%j]], .01) = %f', (hyp, ref, expected) => {
    expect(Math.abs(rawCorpusBleu([hyp], [ref], 0.01) - expected)).toBeLessThan(1e-8);
  });

  it('statistics of "am I am a character sequence" against "I am a symbol string sequence a a"', () => {
    const s = bleuStats('am I am a character sequence', 'I am a symbol string sequence a a', { tokenize: 'none' });
    expect([s.matches, s.totals]).toEqual([
      [4, 2, 1, 0],
      [6, 5, 4, 3],
    ]);
    // test_offset: floor with value 0 gives 0; sacrebleu's default floor 0.1 gives 0.1555722182.
    const opts: Partial<BleuOptions> = { tokenize: 'none', smoothMethod: 'floor', effectiveOrder: true };
    expect(corpusBleu(['am I am a character sequence'], ['I am a symbol string sequence a a'], { ...opts, smoothValue: 0 }).score).toBe(0);
    const withFloor = corpusBleu(['am I am a character sequence'], ['I am a symbol string sequence a a'], opts).score / 100;
    expect(Math.abs(withFloor - 0.1555722182)).toBeLessThan(1e-8);
  });

  it('compute_bleu([9,7,5,3], [10,8,6,4], 11, 11) = 0.8375922397 (smooth none)', () => {
    const score = bleuFromStats({ matches: [9, 7, 5, 3], totals: [10, 8, 6, 4], hypLength: 11, refLength: 11 }, { smoothMethod: 'none' }).score / 100;
    expect(Math.abs(score - 0.8375922397)).toBeLessThan(1e-8);
  });

  it.each([
    [[0, 0, 0, 0], [4, 4, 2, 1], 0, 1, 0.0],
    [[0, 0, 0, 0], [10, 11, 12, 0], 14, 10, 0.0],
    [[0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.0],
    [[6, 5, 4, 0], [6, 5, 4, 3], 6, 6, 0.0],
    [[0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.1],
    [[0, 0, 0, 0], [0, 0, 0, 0], 1, 5, 0.01],
  ])('degenerate statistics %j / %j (c %i, r %i, floor %f) score exactly 0', (matches, totals, c, r, floor) => {
    expect(bleuFromStats({ matches, totals, hypLength: c, refLength: r }, { smoothMethod: 'floor', smoothValue: floor }).score).toBe(0);
  });
});

describe('sentence BLEU (sacrebleu test_sentence_bleu.py, issue #98 example)', () => {
  const ref = 'producţia de zahăr brut se exprimă în zahăr alb;';
  const sys = 'Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;';
  it.each([
    ['exp', null, '13a', 8.493],
    ['none', null, '13a', 0.0],
    ['floor', null, '13a', 4.51688],
    ['floor', 0.1, '13a', 4.51688],
    ['floor', 0.5, '13a', 10.1],
    ['add-k', null, '13a', 14.882],
    ['add-k', 1, '13a', 14.882],
    ['add-k', 2, '13a', 21.389],
    ['exp', null, 'none', 7.347],
  ] as [BleuSmoothing, number | null, '13a' | 'none', number][])('smooth %s (%s), tokenize %s: %f', (smoothMethod, smoothValue, tokenize, expected) => {
    expect(Math.abs(sentenceBleu(sys, ref, { smoothMethod, smoothValue, tokenize }).score - expected)).toBeLessThan(1e-3);
  });

  it.each(['exp', 'none', 'floor', 'add-k'] as BleuSmoothing[])('no match at all (issue #141) is 0 with smooth %s', (smoothMethod) => {
    expect(sentenceBleu('this is a cat', 'okay thanks', { smoothMethod }).score).toBe(0);
  });

  it('defaults are sacrebleu.sentence_bleu: exp smoothing and effective order', () => {
    expect(Math.abs(sentenceBleu(sys, ref).score - 8.493)).toBeLessThan(1e-3);
    // Effective order: a two-token exact answer is 100, not 0 for missing 3- and 4-grams.
    expect(sentenceBleu('Paris.', 'Paris.').score).toBeCloseTo(100, 10);
    expect(corpusBleu(['Paris.'], ['Paris.']).score).toBe(0);
  });
});

describe('13a tokenization', () => {
  // Expected tokens: sacrebleu 2.6.0, Tokenizer13a()(s.rstrip()).split() — what BLEU counts.
  it.each([
    ['Hello, world. 3.5 and 1,000 items; 5-6 pages (e.g., x/y)!', ['Hello', ',', 'world', '.', '3.5', 'and', '1,000', 'items', ';', '5', '-', '6', 'pages', '(', 'e', '.', 'g', '.', ',', 'x', '/', 'y', ')', '!']],
    ['A &quot;quote&quot; &amp; &lt;tag&gt; <skipped> done', ['A', '"', 'quote', '"', '&', '<', 'tag', '>', 'done']],
    ['hyphen-\nated line\nbreak-', ['hyphenated', 'line', 'break-']],
    // Python's whitespace: \x1c and \x85 split, U+FEFF does not.
    ['a\x1cb\x85c\u00a0d\ufeffe\u3000f', ['a', 'b', 'c', 'd\ufeffe', 'f']],
    ["don't stop... it's 9.", ["don't", 'stop', '.', '.', '.', "it's", '9', '.']],
    ['end.  \n', ['end', '.']],
  ])('%j', (text, tokens) => {
    expect(tokenize13a(text)).toEqual(tokens);
  });
});

describe('edge cases', () => {
  it('identical texts score 100', () => {
    const text = 'The quick brown fox jumps over the lazy dog, twice: 3.5 times!';
    expect(corpusBleu([text, text], [text, text]).score).toBeCloseTo(100, 10);
    expect(sentenceBleu(text, text).score).toBeCloseTo(100, 10);
  });

  it('an empty hypothesis scores 0 with brevity penalty 0; an empty reference scores 0', () => {
    const empty = sentenceBleu('', 'a reference answer');
    expect([empty.score, empty.brevityPenalty, empty.hypLength]).toEqual([0, 0, 0]);
    const noRef = sentenceBleu('an answer', '');
    expect([noRef.score, noRef.refLength]).toEqual([0, 0]);
    expect(sentenceBleu('', '').score).toBe(0);
  });

  it('brevity penalty is exp(1 − r/c) for a short hypothesis and 1 otherwise', () => {
    const short = sentenceBleu('the cat sat', 'the cat sat on the mat');
    expect(short.brevityPenalty).toBeCloseTo(Math.exp(1 - 6 / 3), 12);
    expect(sentenceBleu('the cat sat on the mat today', 'the cat sat on the mat').brevityPenalty).toBe(1);
  });

  it('refuses mismatched corpus lengths', () => {
    expect(() => corpusBleu(['a'], [])).toThrow(/one reference per hypothesis/);
  });
});
