import type { Remote } from 'comlink';
import * as Comlink from 'comlink';
import type { EngineApi, EvalScores, EvalTable, EvalTableRow, Progress, WireError } from '../../worker/api.ts';
import { download, settle } from './wire.ts';

export type EvalStatus = 'idle' | 'running' | 'stopping' | 'done' | 'failed';

/** The temperature "greedy" turns off: a mild sampling temperature, seeded so a rerun repeats. */
const SAMPLING_TEMPERATURE = 0.7;
const DEFAULT_LIMIT = 20;
const DEFAULT_MAX_NEW = 32;

/** The summary's metrics, in the order the table shows them; `percent` ones are fractions shown as %. */
export const SUMMARY_METRICS: { key: keyof EvalScores; label: string; kind: 'fraction' | 'bleu' | 'percent' }[] = [
  { key: 'rouge1', label: 'ROUGE-1', kind: 'fraction' },
  { key: 'rouge2', label: 'ROUGE-2', kind: 'fraction' },
  { key: 'rougeL', label: 'ROUGE-L', kind: 'fraction' },
  { key: 'bleu', label: 'BLEU', kind: 'bleu' },
  { key: 'exactMatch', label: 'Exact match', kind: 'percent' },
];

/**
 * The Compare screen's evaluation table: the eval split of the last run's dataset answered by the
 * base and the fine-tuned model, each answer scored against its reference (ROUGE, BLEU, exact
 * match). Rows stream in as the engine scores them; the final table replaces them.
 */
export class EvalState {
  /** At most this many examples of the eval split. */
  limit = $state(DEFAULT_LIMIT);
  maxNewTokens = $state(DEFAULT_MAX_NEW);
  greedy = $state(true);
  status: EvalStatus = $state('idle');
  progress: Progress | null = $state.raw(null);
  rows: EvalTableRow[] = $state.raw([]);
  table: EvalTable | null = $state.raw(null);
  error: WireError | null = $state.raw(null);

  constructor(private readonly engine: Remote<EngineApi>) {}

  get running(): boolean {
    return this.status === 'running' || this.status === 'stopping';
  }

  async run(): Promise<void> {
    if (this.running) return;
    this.status = 'running';
    this.progress = null;
    this.rows = [];
    this.table = null;
    this.error = null;
    const onProgress = Comlink.proxy((p: Progress) => {
      if (this.running) this.progress = p;
    });
    const onRow = Comlink.proxy((row: EvalTableRow) => {
      // Rows come over their own message channel: one may land after the final table.
      if (this.running && !this.rows.some((r) => r.index === row.index)) this.rows = [...this.rows, row];
    });
    const request = {
      limit: countOr(this.limit, DEFAULT_LIMIT),
      maxNewTokens: countOr(this.maxNewTokens, DEFAULT_MAX_NEW),
      temperature: this.greedy ? 0 : SAMPLING_TEMPERATURE,
      seed: 0,
    };
    const out = await settle(this.engine.evaluate(request, onProgress, onRow));
    if (out.ok) {
      this.table = out.table;
      this.rows = out.table.rows;
      this.status = 'done';
    } else {
      this.error = out.error;
      this.status = 'failed';
    }
  }

  /** Forgets the last table (a new run makes a new adapter). */
  clear(): void {
    if (this.running) return;
    this.status = 'idle';
    this.progress = null;
    this.rows = [];
    this.table = null;
    this.error = null;
  }

  /** Stops after the current example; `run()` then ends with the rows done so far. */
  async stop(): Promise<void> {
    if (this.status !== 'running') return;
    this.status = 'stopping';
    await this.engine.stopEvaluating();
  }

  downloadCsv(): void {
    if (this.table) download(new Blob([this.table.csv], { type: 'text/csv' }), 'webtune-eval.csv');
  }

  downloadJson(): void {
    if (this.table) download(new Blob([this.table.json], { type: 'application/json' }), 'webtune-eval.json');
  }
}

/** A whole number of at least 1 from a number field; an emptied field (null) gives the default. */
function countOr(value: number | null, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 1 ? Math.round(value) : fallback;
}

/** Which system scored higher on a metric; null when equal or when there is no tuned system. */
export function better(base: number, tuned: number | undefined): 'base' | 'tuned' | null {
  if (tuned === undefined || !Number.isFinite(base) || !Number.isFinite(tuned) || Math.abs(base - tuned) < 1e-9) return null;
  return tuned > base ? 'tuned' : 'base';
}

/** A score as the table shows it: ROUGE 0–1 with 3 decimals, BLEU 0–100 with 1, exact match in %. */
export function formatScore(value: number | undefined, kind: 'fraction' | 'bleu' | 'percent'): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  if (kind === 'bleu') return value.toFixed(1);
  if (kind === 'percent') return `${Math.round(value * 100)}%`;
  return value.toFixed(3);
}
