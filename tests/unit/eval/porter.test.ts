import { describe, expect, it } from 'vitest';
import { porterStem } from '../../../src/eval/porter.ts';
import { rouge } from '../../../src/eval/rouge.ts';

// Expected stems are the output of nltk 3.10 PorterStemmer() (NLTK_EXTENSIONS, what rouge-score
// uses) on the examples of Porter's paper and on NLTK's own extensions. porter.ts was also run
// against nltk on 44 610 words (the Llama-2 and Qwen3 vocabularies' [a-z0-9] words plus random
// letter strings) with no difference; that cross-check is not part of the suite (it needs nltk).

describe('porterStem (nltk NLTK_EXTENSIONS)', () => {
  it.each([
    // step 1a, 1b, 1c (paper examples; "ties" is NLTK's 4-letter -ies rule)
    ['caresses', 'caress'], ['ponies', 'poni'], ['ties', 'tie'], ['agreed', 'agre'], ['plastered', 'plaster'],
    ['motoring', 'motor'], ['conflated', 'conflat'], ['troubled', 'troubl'], ['sized', 'size'], ['hopping', 'hop'],
    ['tanned', 'tan'], ['falling', 'fall'], ['hissing', 'hiss'], ['fizzed', 'fizz'], ['failing', 'fail'],
    ['filing', 'file'], ['happy', 'happi'], ['enjoy', 'enjoy'], ['spied', 'spi'], ['syzygy', 'syzygi'],
    // steps 2–5
    ['relational', 'relat'], ['conditional', 'condit'], ['rational', 'ration'], ['digitizer', 'digit'],
    ['vietnamization', 'vietnam'], ['predication', 'predic'], ['operator', 'oper'], ['hopefulness', 'hope'],
    ['triplicate', 'triplic'], ['formative', 'form'], ['electrical', 'electr'], ['goodness', 'good'],
    ['revival', 'reviv'], ['allowance', 'allow'], ['adjustable', 'adjust'], ['replacement', 'replac'],
    ['adoption', 'adopt'], ['communism', 'commun'], ['effective', 'effect'], ['bowdlerize', 'bowdler'],
    ['probate', 'probat'], ['rate', 'rate'], ['cease', 'ceas'], ['controll', 'control'], ['roll', 'roll'],
    // NLTK extensions: irregular forms, -alli, -logi, y runs
    ['sky', 'sky'], ['skies', 'sky'], ['dying', 'die'], ['news', 'news'], ['generalli', 'gener'],
    ['radicalli', 'radic'], ['archaeology', 'archaeolog'], ['logically', 'logic'], ['fully', 'fulli'], ['yyyy', 'yyyi'],
  ])('%s → %s', (word, stem) => {
    expect(porterStem(word)).toBe(stem);
  });

  it('leaves words of two letters alone', () => {
    expect(['as', 'is', 'yy'].map(porterStem)).toEqual(['as', 'is', 'yy']);
  });
});

describe('ROUGE with the stemmer (rouge-score README call)', () => {
  // RougeScorer(['rouge1', 'rougeL'], use_stemmer=True).score('The quick brown fox jumps over the
  // lazy dog', 'The quick brown dog jumps on the log.'): jumps → jump, lazy → lazi.
  const r = rouge('The quick brown fox jumps over the lazy dog', 'The quick brown dog jumps on the log.', { useStemmer: true });
  it('rouge1 P 0.75, R 0.6667, F 0.70588', () => {
    expect([r.rouge1.precision, r.rouge1.recall]).toEqual([6 / 8, 6 / 9]);
    expect(r.rouge1.fmeasure).toBeCloseTo(0.7058823529411765, 15);
  });
  it('rougeL P 0.625, R 0.5556, F 0.58824', () => {
    expect([r.rougeL.precision, r.rougeL.recall]).toEqual([5 / 8, 5 / 9]);
    expect(r.rougeL.fmeasure).toBeCloseTo(0.5882352941176471, 15);
  });
});
