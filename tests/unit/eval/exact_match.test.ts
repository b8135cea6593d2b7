import { describe, expect, it } from 'vitest';
import { exactMatch, normalizeAnswer } from '../../../src/eval/exact_match.ts';

// SQuAD v1.1's normalize_answer: lower → remove string.punctuation → remove \b(a|an|the)\b →
// ' '.join(split()). The expected strings are what that Python function returns for each input.

describe('normalizeAnswer (SQuAD v1.1)', () => {
  it.each([
    ['The Eiffel Tower!', 'eiffel tower'],
    ['  an   apple\n', 'apple'],
    ['A', ''],
    ['Theatre and the arts', 'theatre and arts'],
    ["Don't-stop (now)", 'dontstop now'],
    ['3.14', '314'],
    ['the_the', 'thethe'],
    ['Another thesis, a theme', 'another thesis theme'],
    ['Ça va, the café?', 'ça va café'],
    ['the\u00a0end', 'end'],
    ['«Hello» — world', '«hello» — world'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeAnswer(input)).toBe(expected);
  });
});

describe('exactMatch', () => {
  it('is 1 for answers equal after normalization and 0 otherwise', () => {
    expect(exactMatch('The Eiffel Tower.', 'eiffel tower')).toBe(1);
    expect(exactMatch('Paris', 'Paris, France')).toBe(0);
    expect(exactMatch('42', ' 42\n')).toBe(1);
  });

  it('identical texts match; an empty output matches only an empty (or article-only) reference', () => {
    expect(exactMatch('Any text at all.', 'Any text at all.')).toBe(1);
    expect(exactMatch('Paris', '')).toBe(0);
    expect(exactMatch('', '')).toBe(1);
    expect(exactMatch('The.', '')).toBe(1);
  });
});
