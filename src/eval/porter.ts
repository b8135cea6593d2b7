// The Porter stemmer (M. F. Porter, "An algorithm for suffix stripping", 1980) in NLTK's default
// NLTK_EXTENSIONS mode — nltk.stem.porter.PorterStemmer(), which rouge-score uses for
// use_stemmer=True. Words are lowercase [a-z] strings (rougeTokens gives [a-z0-9]; digits count
// as consonants, as in NLTK). NLTK's departures from the paper, all kept here:
//   - a pool of irregular forms (skies → sky, dying → die, news → news …);
//   - words of ≤ 2 letters are returned as they are;
//   - 1a: a 4-letter "-ies" becomes "-ie"; 1b: "-ied" → "-ie" (4 letters) or "-i";
//   - *o also holds for a 2-letter vowel-consonant stem;
//   - 1c: y → i only after a consonant that is not the word's first letter;
//   - 2: "-alli" → "-al" then step 2 again, "-bli" → "-ble" (not "-abli"), "-fulli" → "-ful",
//     "-logi" → "-log" when the word less "ogi" has m > 0.
// Each step applies the first rule whose suffix matches, and if that rule's condition fails the
// word is left alone (later rules of the step are not tried) — NLTK's _apply_rule_list.

const irregular: Record<string, string> = {
  sky: 'sky', skies: 'sky', dying: 'die', lying: 'lie', tying: 'tie', news: 'news',
  innings: 'inning', inning: 'inning', outings: 'outing', outing: 'outing',
  cannings: 'canning', canning: 'canning', howe: 'howe', proceed: 'proceed', exceed: 'exceed', succeed: 'succeed',
};

/** Per letter, whether it is a consonant: not a vowel, and a y only at the start or after a vowel. */
function consonants(word: string): boolean[] {
  const flags: boolean[] = [];
  for (let i = 0; i < word.length; i++) {
    const ch = word[i];
    flags.push('aeiou'.includes(ch) ? false : ch === 'y' ? i === 0 || !flags[i - 1] : true);
  }
  return flags;
}

/** m in [C](VC)^m[V]: the number of vowel→consonant transitions. */
function measure(stem: string): number {
  const c = consonants(stem);
  let m = 0;
  for (let i = 1; i < c.length; i++) if (!c[i - 1] && c[i]) m++;
  return m;
}

const positive = (stem: string): boolean => measure(stem) > 0;
const aboveOne = (stem: string): boolean => measure(stem) > 1;
const hasVowel = (stem: string): boolean => consonants(stem).some((c) => !c);

function endsDoubleConsonant(word: string): boolean {
  return word.length >= 2 && word[word.length - 1] === word[word.length - 2] && consonants(word)[word.length - 1];
}

/** *o: ends consonant-vowel-consonant, the last not w, x or y; or (NLTK) is a 2-letter vowel-consonant stem. */
function endsCvc(word: string): boolean {
  const c = consonants(word);
  const n = word.length;
  if (n >= 3 && c[n - 3] && !c[n - 2] && c[n - 1] && !'wxy'.includes(word[n - 1])) return true;
  return n === 2 && !c[0] && c[1];
}

type Rule = [suffix: string, replacement: string, condition: ((stem: string) => boolean) | null];

function applyFirst(word: string, rules: readonly Rule[]): string {
  for (const [suffix, replacement, condition] of rules) {
    if (!word.endsWith(suffix)) continue;
    const stem = word.slice(0, word.length - suffix.length);
    return condition === null || condition(stem) ? stem + replacement : word;
  }
  return word;
}

function step1a(word: string): string {
  if (word.endsWith('ies') && word.length === 4) return word.slice(0, -3) + 'ie';
  return applyFirst(word, [
    ['sses', 'ss', null],
    ['ies', 'i', null],
    ['ss', 'ss', null],
    ['s', '', null],
  ]);
}

function step1b(word: string): string {
  if (word.endsWith('ied')) return word.slice(0, -3) + (word.length === 4 ? 'ie' : 'i');
  if (word.endsWith('eed')) {
    const stem = word.slice(0, -3);
    return measure(stem) > 0 ? stem + 'ee' : word;
  }
  let stem: string | null = null;
  for (const suffix of ['ed', 'ing']) {
    if (word.endsWith(suffix) && hasVowel(word.slice(0, -suffix.length))) {
      stem = word.slice(0, -suffix.length);
      break;
    }
  }
  if (stem === null) return word;
  for (const [suffix, replacement] of [['at', 'ate'], ['bl', 'ble'], ['iz', 'ize']]) if (stem.endsWith(suffix)) return stem.slice(0, -suffix.length) + replacement;
  if (endsDoubleConsonant(stem)) return 'lsz'.includes(stem[stem.length - 1]) ? stem : stem.slice(0, -1);
  return measure(stem) === 1 && endsCvc(stem) ? stem + 'e' : stem;
}

function step1c(word: string): string {
  return applyFirst(word, [['y', 'i', (stem) => stem.length > 1 && consonants(stem)[stem.length - 1]]]);
}

function step2(word: string): string {
  if (word.endsWith('alli') && positive(word.slice(0, -4))) return step2(word.slice(0, -4) + 'al');
  return applyFirst(word, [
    ['ational', 'ate', positive],
    ['tional', 'tion', positive],
    ['enci', 'ence', positive],
    ['anci', 'ance', positive],
    ['izer', 'ize', positive],
    ['bli', 'ble', positive],
    ['alli', 'al', positive],
    ['entli', 'ent', positive],
    ['eli', 'e', positive],
    ['ousli', 'ous', positive],
    ['ization', 'ize', positive],
    ['ation', 'ate', positive],
    ['ator', 'ate', positive],
    ['alism', 'al', positive],
    ['iveness', 'ive', positive],
    ['fulness', 'ful', positive],
    ['ousness', 'ous', positive],
    ['aliti', 'al', positive],
    ['iviti', 'ive', positive],
    ['biliti', 'ble', positive],
    ['fulli', 'ful', positive],
    ['logi', 'log', () => positive(word.slice(0, -3))],
  ]);
}

function step3(word: string): string {
  return applyFirst(word, [
    ['icate', 'ic', positive],
    ['ative', '', positive],
    ['alize', 'al', positive],
    ['iciti', 'ic', positive],
    ['ical', 'ic', positive],
    ['ful', '', positive],
    ['ness', '', positive],
  ]);
}

function step4(word: string): string {
  const suffixes = ['al', 'ance', 'ence', 'er', 'ic', 'able', 'ible', 'ant', 'ement', 'ment', 'ent', 'ion', 'ou', 'ism', 'ate', 'iti', 'ous', 'ive', 'ize'];
  return applyFirst(
    word,
    suffixes.map((s): Rule => [s, '', s === 'ion' ? (stem) => aboveOne(stem) && 'st'.includes(stem[stem.length - 1]) : aboveOne]),
  );
}

function step5(word: string): string {
  if (word.endsWith('e')) {
    const stem = word.slice(0, -1);
    const m = measure(stem);
    if (m > 1 || (m === 1 && !endsCvc(stem))) word = stem;
  }
  return applyFirst(word, [['ll', 'l', () => measure(word.slice(0, -1)) > 1]]);
}

/** nltk PorterStemmer().stem(word) for a lowercase word. */
export function porterStem(word: string): string {
  const w = word.toLowerCase();
  if (Object.hasOwn(irregular, w)) return irregular[w];
  if (w.length <= 2) return w;
  return step5(step4(step3(step2(step1c(step1b(step1a(w)))))));
}
