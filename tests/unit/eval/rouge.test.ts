import { describe, expect, it } from 'vitest';
import { lcsLength, rouge, rougeLTokens, rougeNTokens, type RougeScore } from '../../../src/eval/rouge.ts';
import { rougeTokens } from '../../../src/eval/tokenize_text.ts';

// Known values from google-research rouge-score's test suite (github.com/google-research/
// google-research, rouge/rouge_scorer_test.py), whose "ground truth" for the last cases comes from
// manual runs of the Perl ROUGE-1.5.5. Their `scorer.score(target, prediction)` is our
// `rouge(reference, hypothesis)`; use_stemmer=True is `{ useStemmer: true }`. The rougeLsum cases
// are left out: webtune's ROUGE-L is the sentence-level rougeL.

function expectScore(got: RougeScore, precision: number, recall: number, fmeasure: number, places = 7): void {
  expect(got.precision).toBeCloseTo(precision, places);
  expect(got.recall).toBeCloseTo(recall, places);
  expect(got.fmeasure).toBeCloseTo(fmeasure, places);
}

describe('ROUGE (rouge-score rouge_scorer_test.py)', () => {
  it('testRouge1: "testing one two" vs "testing" → P 1, R 1/3, F 1/2', () => {
    expectScore(rouge('testing one two', 'testing').rouge1, 1, 1 / 3, 1 / 2);
  });

  it('testRouge2: "testing one two" vs "testing one" → P 1, R 1/2, F 2/3', () => {
    expectScore(rouge('testing one two', 'testing one').rouge2, 1, 1 / 2, 2 / 3);
  });

  it('testRougeLConsecutive and NonConsecutive: P 1, R 2/3, F 4/5', () => {
    expectScore(rouge('testing one two', 'testing one').rougeL, 1, 2 / 3, 4 / 5);
    expectScore(rouge('testing one two', 'testing two').rougeL, 1, 2 / 3, 4 / 5);
  });

  it('testMultipleRougeTypes: rouge1 and rougeL of "testing one" are both P 1, R 2/3, F 4/5', () => {
    const r = rouge('testing one two', 'testing one');
    expectScore(r.rouge1, 1, 2 / 3, 4 / 5);
    expectScore(r.rougeL, 1, 2 / 3, 4 / 5);
  });

  it('testRougeEmpty: an empty prediction scores 0 on every type', () => {
    const r = rouge('testing one two', '');
    for (const s of [r.rouge1, r.rouge2, r.rougeL]) expectScore(s, 0, 0, 0);
  });

  it('testLcsTable: LCS of [1,2,3,4,5] and [2,5,3,4] is 3; with [8,9] it is 0', () => {
    expect(lcsLength(['1', '2', '3', '4', '5'], ['2', '5', '3', '4'])).toBe(3);
    expect(lcsLength(['1', '2', '3', '4', '5'], ['8', '9'])).toBe(0);
  });

  // rouge/testdata/target.txt and prediction.txt, lines 1 and 2: random strings that exercise the
  // tokenizer (apostrophes, commas, dots and dashes inside words).
  const targets = [
    "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n",
    "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n",
  ];
  const predictions = [
    "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n",
    "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n",
  ];

  it('testRouge1AgainstRouge155 (5 places)', () => {
    expectScore(rouge(targets[0], predictions[0]).rouge1, 0.6875, 0.40741, 0.51163, 5);
    expectScore(rouge(targets[1], predictions[1]).rouge1, 0.65385, 0.40476, 0.5, 5);
  });

  it('testRouge1AgainstRouge155WithStemming (5 places): stemming changes line 2 only', () => {
    expectScore(rouge(targets[0], predictions[0], { useStemmer: true }).rouge1, 0.6875, 0.40741, 0.51163, 5);
    expectScore(rouge(targets[1], predictions[1], { useStemmer: true }).rouge1, 0.69231, 0.42857, 0.52941, 5);
  });

  it('testRouge2AgainstRouge155WithStemming (5 places)', () => {
    expectScore(rouge(targets[0], predictions[0], { useStemmer: true }).rouge2, 0.53333, 0.30769, 0.39024, 5);
    expectScore(rouge(targets[1], predictions[1], { useStemmer: true }).rouge2, 0.48, 0.29268, 0.36364, 5);
  });

  it('testRouge2AgainstRouge155 (5 places)', () => {
    expectScore(rouge(targets[0], predictions[0]).rouge2, 0.53333, 0.30769, 0.39024, 5);
    expectScore(rouge(targets[1], predictions[1]).rouge2, 0.48, 0.29268, 0.36364, 5);
  });

  it('testRougeLAgainstRouge155 (5 places)', () => {
    expectScore(rouge(targets[0], predictions[0]).rougeL, 0.6875, 0.40741, 0.51163, 5);
    expectScore(rouge(targets[1], predictions[1]).rougeL, 0.65385, 0.40476, 0.5, 5);
  });
});

describe('ROUGE tokens and edge cases', () => {
  it('lowercases, keeps [a-z0-9] runs, and splits on everything else (non-ASCII letters included)', () => {
    expect(rougeTokens("The café's 3.5-inch\tU.S. naïve résumé—OK")).toEqual(['the', 'caf', 's', '3', '5', 'inch', 'u', 's', 'na', 've', 'r', 'sum', 'ok']);
    expect(rougeTokens('/ ... !!')).toEqual([]);
  });

  it('applies a stemmer only to tokens longer than 3 characters', () => {
    expect(rougeTokens('cats dogs running ran', (t) => t.replace(/(s|ning)$/, ''))).toEqual(['cat', 'dog', 'run', 'ran']);
  });

  it('identical texts score 1 on all three; an empty reference or one of only punctuation scores 0', () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    const same = rouge(text, text);
    for (const s of [same.rouge1, same.rouge2, same.rougeL]) expectScore(s, 1, 1, 1);
    for (const ref of ['', '...']) {
      const r = rouge(ref, text);
      for (const s of [r.rouge1, r.rouge2, r.rougeL]) expect(s.fmeasure).toBe(0);
    }
    expect(rouge('', '').rougeL.fmeasure).toBe(0);
  });

  it('ROUGE-L treats a newline as any other separator (sentence-level over the whole text, not rougeLsum)', () => {
    const lines = rouge('w1 w2 w3 w4 w5', 'w5 w4\nw1 w2 w6 w3\nw5');
    expect(lines).toEqual(rouge('w1 w2 w3 w4 w5', 'w5 w4 w1 w2 w6 w3 w5'));
    expectScore(lines.rougeL, 4 / 7, 4 / 5, (2 * (4 / 7) * (4 / 5)) / (4 / 7 + 4 / 5), 12);
  });

  it('ROUGE-N clips each n-gram by its count in the reference; ROUGE-2 of one-word texts is 0', () => {
    expectScore(rougeNTokens(['the', 'cat'], ['the', 'the', 'the'], 1), 1 / 3, 1 / 2, 0.4, 12);
    expect(rougeNTokens(['yes'], ['yes'], 2).fmeasure).toBe(0);
    expect(rougeLTokens(['a', 'b', 'c'], ['c', 'b', 'a']).fmeasure).toBeCloseTo(1 / 3, 12);
    expect(() => rougeNTokens(['a'], ['a'], 0)).toThrow(RangeError);
  });
});
