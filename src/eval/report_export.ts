import { metricDefinitions, type EvalReport, type EvalSummary, type OutputScores, type SystemSummary } from './report.ts';

// An evaluation written out: per-example rows as CSV (RFC 4180) or the whole report as JSON, and
// the summary as a plain-text table for the terminal.
//
// CSV: one header line, then one line per example; fields holding a comma, a double quote, CR or
// LF are quoted with inner quotes doubled; lines end with CRLF (RFC 4180 §2). Numbers are written
// in full (JS shortest round-trip form). Cells are not defused against spreadsheet formulas
// ("=…"): that would change the model's text, and the file is data, not a sheet.

const scoreColumns: (keyof OutputScores)[] = ['rouge1', 'rouge2', 'rougeL', 'bleu', 'exactMatch'];
const columnNames: Record<keyof OutputScores, string> = { rouge1: 'rouge1', rouge2: 'rouge2', rougeL: 'rougeL', bleu: 'bleu', exactMatch: 'exact_match' };

/** One CSV field, quoted only when RFC 4180 requires it. */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The rows as CSV; the tuned columns are present only when the report has a tuned system. */
export function reportToCsv(report: EvalReport): string {
  const tuned = report.summary.tuned !== null;
  const systems = tuned ? (['base', 'tuned'] as const) : (['base'] as const);
  const header = ['index', 'line', 'prompt', 'reference'];
  for (const s of systems) header.push(`${s}_output`, ...scoreColumns.map((c) => `${s}_${columnNames[c]}`));
  const lines = [header.map(csvField).join(',')];
  for (const row of report.rows) {
    const fields: (string | number | null)[] = [row.index, row.line, row.prompt, row.reference];
    fields.push(row.baseOutput, ...scoreColumns.map((c) => row.base[c]));
    if (tuned) fields.push(row.tunedOutput, ...scoreColumns.map((c) => row.tuned![c]));
    lines.push(fields.map(csvField).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

/** The whole report, with the metric definitions, as indented JSON. */
export function reportToJson(report: EvalReport): string {
  return JSON.stringify({ metrics: metricDefinitions, summary: report.summary, rows: report.rows }, null, 2) + '\n';
}

/** Which file format a path asks for, by its extension. */
export function reportFormatOf(path: string): 'csv' | 'json' | null {
  const ext = /\.([^./\\]+)$/.exec(path)?.[1].toLowerCase();
  return ext === 'csv' ? 'csv' : ext === 'json' ? 'json' : null;
}

const tableMetrics: { name: string; value: (s: SystemSummary) => number }[] = [
  { name: 'ROUGE-1 F1', value: (s) => 100 * s.rouge1 },
  { name: 'ROUGE-2 F1', value: (s) => 100 * s.rouge2 },
  { name: 'ROUGE-L F1', value: (s) => 100 * s.rougeL },
  { name: 'BLEU-4 (corpus)', value: (s) => s.bleu.score },
  { name: 'Exact match %', value: (s) => 100 * s.exactMatch },
];

/**
 * The summary as an aligned plain-text table on one 0–100 scale, base and tuned side by side
 * with the difference; with no tuned system, base alone. E.g.
 *
 *   12 examples          base   tuned   change
 *   ROUGE-1 F1          21.40   48.93   +27.53
 */
export function formatSummaryTable(summary: EvalSummary): string {
  const tuned = summary.tuned;
  const head = [`${summary.examples} example${summary.examples === 1 ? '' : 's'}`, 'base', ...(tuned ? ['tuned', 'change'] : [])];
  const body = tableMetrics.map((m) => {
    const b = m.value(summary.base);
    if (!tuned) return [m.name, b.toFixed(2)];
    const t = m.value(tuned);
    const d = t - b;
    return [m.name, b.toFixed(2), t.toFixed(2), `${d >= 0 ? '+' : '-'}${Math.abs(d).toFixed(2)}`];
  });
  const rows = [head, ...body];
  const widths = head.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  // First column left-aligned (names), numbers right-aligned, three spaces between columns.
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   '));
  const b = summary.base.bleu;
  lines.push(`BLEU: sacrebleu nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp; base BP ${b.brevityPenalty.toFixed(3)}, ratio ${ratio(b.hypLength, b.refLength)}` + (tuned ? `; tuned BP ${tuned.bleu.brevityPenalty.toFixed(3)}, ratio ${ratio(tuned.bleu.hypLength, tuned.bleu.refLength)}` : ''));
  return lines.join('\n') + '\n';
}

function ratio(hyp: number, ref: number): string {
  return ref === 0 ? 'n/a' : (hyp / ref).toFixed(3);
}
