import { describe, expect, it } from 'vitest';
import { corpusBleu, sentenceBleu } from '../../../src/eval/bleu.ts';
import { exactMatch } from '../../../src/eval/exact_match.ts';
import { buildEvalReport, type EvalExample } from '../../../src/eval/report.ts';
import { csvField, formatSummaryTable, reportFormatOf, reportToCsv, reportToJson } from '../../../src/eval/report_export.ts';
import { rouge } from '../../../src/eval/rouge.ts';

const examples: EvalExample[] = [
  { prompt: 'Capital of France?', reference: 'Paris is the capital of France.', baseOutput: 'I think it is Lyon, a city.', tunedOutput: 'Paris is the capital of France.', line: 1 },
  { prompt: 'Say "hi", politely', reference: 'Hello, nice to meet you!', baseOutput: 'hi', tunedOutput: 'Hello there, nice to meet you.', line: 3 },
  { prompt: 'Two lines?', reference: 'one\ntwo', baseOutput: 'three, four\r\nfive', tunedOutput: 'one two', line: 4 },
];

/** A small RFC 4180 reader, to check the CSV round-trips exactly. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') field += text[++i];
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') (row.push(field), (field = ''));
    else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      (row = []), (field = ''), i++;
    } else field += ch;
  }
  return rows;
}

describe('buildEvalReport', () => {
  const report = buildEvalReport(examples);

  it('scores each output with ROUGE F1, sentence BLEU and exact match against its reference', () => {
    const row = report.rows[1];
    const r = rouge(row.reference, row.tunedOutput!);
    expect(row.tuned).toEqual({
      rouge1: r.rouge1.fmeasure,
      rouge2: r.rouge2.fmeasure,
      rougeL: r.rougeL.fmeasure,
      bleu: sentenceBleu(row.tunedOutput!, row.reference).score,
      exactMatch: exactMatch(row.reference, row.tunedOutput!),
    });
    expect(report.rows[0].tuned).toMatchObject({ rouge1: 1, rouge2: 1, rougeL: 1, exactMatch: 1 });
    expect(report.rows[0].tuned!.bleu).toBeCloseTo(100, 10);
    expect(report.rows.map((r) => [r.index, r.line])).toEqual([
      [0, 1],
      [1, 3],
      [2, 4],
    ]);
  });

  it('summarizes each system: means of ROUGE F1 and EM, corpus BLEU over all outputs (not a mean of sentence BLEUs)', () => {
    const tuned = report.summary.tuned!;
    const mean = (f: (i: number) => number) => (f(0) + f(1) + f(2)) / 3;
    expect(tuned.rougeL).toBeCloseTo(mean((i) => report.rows[i].tuned!.rougeL), 14);
    expect(tuned.exactMatch).toBeCloseTo(2 / 3, 14);
    expect(tuned.bleu.score).toBe(corpusBleu(examples.map((e) => e.tunedOutput!), examples.map((e) => e.reference)).score);
    expect(report.summary.base.bleu.score).toBe(corpusBleu(examples.map((e) => e.baseOutput), examples.map((e) => e.reference)).score);
    expect(tuned.bleu.score).not.toBeCloseTo(mean((i) => report.rows[i].tuned!.bleu), 3);
    expect(report.summary.examples).toBe(3);
    expect(tuned.rougeL).toBeGreaterThan(report.summary.base.rougeL);
  });

  it('scores the base alone when no tuned outputs are given', () => {
    const baseOnly = buildEvalReport(examples.map(({ tunedOutput: _, ...e }) => e));
    expect(baseOnly.summary.tuned).toBeNull();
    expect(baseOnly.rows[0].tuned).toBeNull();
    expect(baseOnly.rows[0].tunedOutput).toBeNull();
    expect(baseOnly.summary.base).toEqual(report.summary.base);
  });

  it('refuses an empty set and tuned outputs for only some examples', () => {
    expect(() => buildEvalReport([])).toThrow(/at least one example/);
    expect(() => buildEvalReport([examples[0], { ...examples[1], tunedOutput: null }])).toThrow(/1 of 2 examples have a tuned output/);
  });

  it('empty outputs and references score 0 without NaN', () => {
    const r = buildEvalReport([{ prompt: 'p', reference: 'ref', baseOutput: '', tunedOutput: 'ref' }, { prompt: 'p', reference: '', baseOutput: 'x', tunedOutput: '' }]);
    const s = r.summary.base;
    expect([s.rouge1, s.rouge2, s.rougeL, s.exactMatch, s.bleu.score]).toEqual([0, 0, 0, 0, 0]);
    expect(r.summary.tuned!.exactMatch).toBe(1);
  });
});

describe('exports', () => {
  const report = buildEvalReport(examples);

  it('CSV follows RFC 4180: CRLF lines, quotes only where needed, inner quotes doubled, and round-trips', () => {
    const csv = reportToCsv(report);
    expect(csv.endsWith('\r\n')).toBe(true);
    const rows = parseCsv(csv);
    expect(rows[0]).toEqual([
      'index', 'line', 'prompt', 'reference',
      'base_output', 'base_rouge1', 'base_rouge2', 'base_rougeL', 'base_bleu', 'base_exact_match',
      'tuned_output', 'tuned_rouge1', 'tuned_rouge2', 'tuned_rougeL', 'tuned_bleu', 'tuned_exact_match',
    ]);
    expect(rows.length).toBe(4);
    expect(rows[2].slice(0, 5)).toEqual(['1', '3', 'Say "hi", politely', 'Hello, nice to meet you!', 'hi']);
    expect(rows[3][4]).toBe('three, four\r\nfive');
    expect(Number(rows[1][11])).toBe(report.rows[0].tuned!.rouge1);
    expect(csv).toContain('"Say ""hi"", politely"');
    expect(csvField('plain')).toBe('plain');
    expect(csvField(null)).toBe('');
  });

  it('CSV without a tuned system has base columns only', () => {
    const baseOnly = buildEvalReport(examples.map(({ tunedOutput: _, ...e }) => e));
    expect(parseCsv(reportToCsv(baseOnly))[0].length).toBe(10);
  });

  it('JSON carries the metric definitions, the summary and the rows', () => {
    const parsed = JSON.parse(reportToJson(report));
    expect(Object.keys(parsed)).toEqual(['metrics', 'summary', 'rows']);
    expect(parsed.metrics.bleu).toMatch(/sacrebleu/);
    expect(parsed.summary.tuned.bleu.score).toBe(report.summary.tuned!.bleu.score);
    expect(parsed.rows[2].baseOutput).toBe('three, four\r\nfive');
  });

  it('picks the export format from the extension', () => {
    expect(['out.CSV', 'a/b.json', 'x.txt', 'noext', 'dir.csv/file'].map(reportFormatOf)).toEqual(['csv', 'json', null, null, null]);
  });

  it('formats the summary as an aligned table on one 0–100 scale, with the change when tuned', () => {
    const table = formatSummaryTable(report.summary);
    const lines = table.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^3 examples\s+base\s+tuned\s+change$/);
    const t = report.summary.tuned!;
    const b = report.summary.base;
    const rougeL = lines.find((l) => l.startsWith('ROUGE-L F1'))!;
    expect(rougeL.split(/\s{2,}/).slice(1)).toEqual([(100 * b.rougeL).toFixed(2), (100 * t.rougeL).toFixed(2), `+${(100 * (t.rougeL - b.rougeL)).toFixed(2)}`]);
    expect(lines.find((l) => l.startsWith('BLEU-4 (corpus)'))).toContain(t.bleu.score.toFixed(2));
    expect(lines.find((l) => l.startsWith('Exact match %'))).toContain('66.67');
    expect(new Set(lines.slice(0, 6).map((l) => l.length)).size).toBe(1);
    expect(lines[6]).toMatch(/^BLEU: sacrebleu nrefs:1\|case:mixed\|eff:no\|tok:13a\|smooth:exp; base BP/);
    const baseOnly = formatSummaryTable(buildEvalReport([{ prompt: 'p', reference: 'r', baseOutput: 'r' }]).summary);
    expect(baseOnly.split('\n')[0]).toMatch(/^1 example\s+base$/);
  });
});
