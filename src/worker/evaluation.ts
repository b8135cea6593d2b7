import { splitDataset } from '../data/pipeline.ts';
import { blobStreamSource } from '../data/stream_source.ts';
import { InputError } from '../errors.ts';
import { buildEvalReport, encodeEvalPrompts, evalExampleOf, metricDefinitions, noReferenceReason, referencesAtLines, reportToCsv, reportToJson, type EvalExample, type SystemSummary } from '../eval/index.ts';
import type { TrainConfig } from '../train/config.ts';
import type { EvalScores, EvalTable, EvalTableRow, EvaluateRequest, ProgressCallback } from './api.ts';
import type { DatasetSession } from './dataset_session.ts';
import { MAX_NEW_TOKENS, type GenerationSession } from './generation.ts';

// The app's eval table (issue #7): the last run's held-out examples — the split training made,
// splitDataset with the run's evalSplit and seed — each answered by the base and by the tuned
// model (one GenerationSession: the same NF4 base with the LoRA pairs off, then on), scored
// against the reference by eval/report.ts exactly as `webtune eval` does (prompts and examples
// through eval/eval_prompts.ts, shared with the CLI). A run without an eval split is evaluated on
// its first examples, with a warning that they were trained on.

/** What evaluation needs of the last run. */
export interface LastRunData {
  dataset: DatasetSession;
  config: Pick<TrainConfig, 'evalSplit' | 'seed'>;
}

export interface EvaluationInputs {
  session: GenerationSession;
  run: LastRunData;
  request: EvaluateRequest;
  /** Checked after each example: a stop ends the table with the rows done. */
  stop: AbortSignal;
  onProgress: ProgressCallback;
  onRow: (row: EvalTableRow) => void;
}

export const DEFAULT_EVAL_LIMIT = 20;

export async function evaluateRun(x: EvaluationInputs): Promise<EvalTable> {
  const { dataset, config } = x.run;
  const request = checkRequest(x.request);
  const reason = noReferenceReason(dataset.loaded.format);
  if (reason !== null) throw new InputError('no_references', `${dataset.name} cannot be scored: ${reason}.`);

  const all = dataset.loaded.examples;
  const held = config.evalSplit ? splitDataset(all, config.evalSplit, config.seed).eval : [];
  const pool = held.length ? held : all;
  const chosen = pool.slice(0, request.limit);
  const some = chosen.length < pool.length ? `the first ${chosen.length} of ` : '';
  const source = held.length ? `${some}the ${pool.length} held-out examples of ${dataset.name}` : `${some}the ${pool.length} examples of ${dataset.name}`;
  const warning = held.length ? null : `The run had no eval split, so these ${chosen.length} examples were also trained on: the tuned scores flatter the model. Set an eval split to measure on unseen examples.`;

  x.onProgress({ stage: `Reading the references of ${source}`, done: 0, total: chosen.length });
  const refs = await referencesAtLines(blobStreamSource(dataset.file, dataset.name), dataset.loaded.format, chosen.map((e) => e.line));
  const prompts = encodeEvalPrompts(dataset.tokenizer, refs);
  const examples: EvalExample[] = [];
  const rows: EvalTableRow[] = [];
  const context = x.session.model.card.contextLength;
  const never = new AbortController().signal;
  for (const [i, ref] of refs.entries()) {
    x.onProgress({ stage: `Example ${i + 1} of ${refs.length} (line ${ref.line})`, done: i, total: refs.length });
    const ids = prompts[i];
    // A prompt near the context limit gets what room is left (training's max length bounds it).
    const maxNewTokens = Math.min(request.maxNewTokens, context - ids.length);
    if (maxNewTokens < 1) throw new InputError('bad_eval_request', `${dataset.name} line ${ref.line}: the prompt (${ids.length} tokens) fills the model's context of ${context}; nothing can be generated.`);
    const options = { maxNewTokens, temperature: request.temperature, seed: request.seed };
    // The current example always finishes (stopEvaluating ends the table after it).
    const base = await x.session.generateIds(ids, { ...options, adapter: false }, never);
    const tuned = await x.session.generateIds(ids, { ...options, adapter: true }, never);
    const example = evalExampleOf(ref, base.text, tuned.text);
    examples.push(example);
    // Per-example scores do not depend on the other examples: this is the final report's row i.
    const row = tableRow({ ...buildEvalReport([example]).rows[0], index: i });
    rows.push(row);
    x.onRow(row);
    if (x.stop.aborted) break;
  }
  x.onProgress({ stage: 'Scored', done: rows.length, total: refs.length });

  const report = buildEvalReport(examples);
  return {
    source: rows.length < refs.length ? `${source} (stopped after ${rows.length})` : source,
    warning,
    examples: rows.length,
    summary: { base: scores(report.summary.base), tuned: report.summary.tuned ? scores(report.summary.tuned) : null },
    rows: report.rows.map(tableRow),
    definitions: { ...metricDefinitions },
    csv: reportToCsv(report),
    json: reportToJson(report),
  };
}

function checkRequest(r: EvaluateRequest): Required<EvaluateRequest> {
  const limit = r.limit ?? DEFAULT_EVAL_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new InputError('bad_eval_request', `Examples must be a whole number of at least 1, got ${limit}.`);
  if (!Number.isInteger(r.maxNewTokens) || r.maxNewTokens < 1 || r.maxNewTokens > MAX_NEW_TOKENS) {
    throw new InputError('bad_eval_request', `New tokens must be a whole number from 1 to ${MAX_NEW_TOKENS}, got ${r.maxNewTokens}.`);
  }
  if (!(r.temperature >= 0 && Number.isFinite(r.temperature))) throw new InputError('bad_eval_request', `Temperature must be 0 (greedy) or more, got ${r.temperature}.`);
  if (!Number.isInteger(r.seed)) throw new InputError('bad_eval_request', `The seed must be a whole number, got ${r.seed}.`);
  return { limit, maxNewTokens: r.maxNewTokens, temperature: r.temperature, seed: r.seed };
}

function scores(s: SystemSummary): EvalScores {
  return { rouge1: s.rouge1, rouge2: s.rouge2, rougeL: s.rougeL, bleu: s.bleu.score, exactMatch: s.exactMatch };
}

/** eval/report.ts's row as the API's plain record (copied field by field: no extra keys cross). */
function tableRow(r: ReturnType<typeof buildEvalReport>['rows'][number]): EvalTableRow {
  const plain = (s: EvalScores): EvalScores => ({ rouge1: s.rouge1, rouge2: s.rouge2, rougeL: s.rougeL, bleu: s.bleu, exactMatch: s.exactMatch });
  return { index: r.index, line: r.line, prompt: r.prompt, reference: r.reference, baseOutput: r.baseOutput, tunedOutput: r.tunedOutput, base: plain(r.base), tuned: r.tuned ? plain(r.tuned) : null };
}
