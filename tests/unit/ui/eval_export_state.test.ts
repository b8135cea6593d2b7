import type { Remote } from 'comlink';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { EngineApi, EvalScores, EvalTable, EvalTableRow, MergedExport, MergeRequest, Outcome } from '../../../src/worker/api.ts';
import { better, EvalState, formatScore } from '../../../src/ui/state/eval_state.svelte.ts';
import { AppState } from '../../../src/ui/state/app_state.svelte.ts';
import { ExportState } from '../../../src/ui/state/export_state.svelte.ts';

// The evaluation table's and the merged export's state driven by a fake engine: what they ask the
// engine for, rows streamed then replaced by the final table, stop and cancel, errors kept for the
// page, and the CSV handed to the browser as a download. (The real engine: tests/e2e/export_eval.test.ts.)

const scores = (x: number): EvalScores => ({ rouge1: x, rouge2: x, rougeL: x, bleu: 100 * x, exactMatch: x > 0.9 ? 1 : 0 });
const row = (index: number): EvalTableRow => ({ index, line: index + 1, prompt: `p${index}`, reference: 'r', baseOutput: 'b', tunedOutput: 't', base: scores(0.1), tuned: scores(0.5) });
const table: EvalTable = {
  source: 'the 2 held-out examples of d.jsonl',
  warning: null,
  examples: 2,
  summary: { base: scores(0.1), tuned: scores(0.5) },
  rows: [row(0), row(1)],
  definitions: { rouge: 'r', bleu: 'b', exactMatch: 'e' },
  csv: 'index,prompt\n0,p0\n1,p1\n',
  json: '{}',
};
const notReady = { ok: false as const, error: { name: 'InputError', code: 'busy', message: 'Training is running.' } };

function engineOf(parts: Partial<EngineApi>): Remote<EngineApi> {
  return parts as unknown as Remote<EngineApi>;
}

/** A promise and the function that settles it, to hold the engine mid-call. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

afterEach(() => vi.unstubAllGlobals());

describe('EvalState', () => {
  test('asks for greedy scores with the chosen limit, streams rows, then shows the final table', async () => {
    const done = deferred<Outcome<{ table: EvalTable }>>();
    const evaluate = vi.fn((_req, onProgress, onRow) => {
      onProgress({ stage: 'Scoring', done: 1, total: 2 });
      onRow(row(0));
      onRow(row(0));
      return done.promise;
    }) as unknown as EngineApi['evaluate'];
    const state = new EvalState(engineOf({ evaluate }));
    state.limit = 5;
    state.maxNewTokens = 12;
    const running = state.run();
    expect(state.running).toBe(true);
    expect(vi.mocked(evaluate).mock.calls[0][0]).toEqual({ limit: 5, maxNewTokens: 12, temperature: 0, seed: 0 });
    expect(state.rows.map((r) => r.index)).toEqual([0]);
    expect(state.progress).toEqual({ stage: 'Scoring', done: 1, total: 2 });
    done.resolve({ ok: true, table });
    await running;
    expect(state.status).toBe('done');
    expect(state.rows).toHaveLength(2);
    expect(state.table?.summary.tuned?.rougeL).toBe(0.5);

    // An emptied number field (null) asks for the defaults.
    (state as { limit: number | null }).limit = null;
    await state.run();
    expect(vi.mocked(evaluate).mock.calls[1][0]).toMatchObject({ limit: 20, maxNewTokens: 12 });
  });

  test('stop asks the engine once; an error is kept for the page', async () => {
    const stopEvaluating = vi.fn(async () => {});
    const done = deferred<Outcome<{ table: EvalTable }>>();
    const state = new EvalState(engineOf({ evaluate: () => done.promise, stopEvaluating }));
    const running = state.run();
    await state.stop();
    await state.stop();
    expect(state.status).toBe('stopping');
    expect(stopEvaluating).toHaveBeenCalledTimes(1);
    done.resolve(notReady);
    await running;
    expect(state.status).toBe('failed');
    expect(state.error?.code).toBe('busy');
  });

  test('Download CSV hands the table’s CSV to the browser as a file', async () => {
    const clicked: { download: string; href: string }[] = [];
    const blobs: Blob[] = [];
    vi.stubGlobal('document', {
      createElement: () => ({ style: {}, click() { clicked.push(this as never); }, remove() {} }),
      body: { append() {} },
    });
    vi.stubGlobal('URL', { createObjectURL: (b: Blob) => (blobs.push(b), 'blob:x'), revokeObjectURL() {} });
    const state = new EvalState(engineOf({ evaluate: async () => ({ ok: true as const, table }) }));
    await state.run();
    state.downloadCsv();
    expect(clicked.map((a) => a.download)).toEqual(['webtune-eval.csv']);
    expect(await blobs[0].text()).toBe(table.csv);
  });

  test('the better system and the number formats', () => {
    expect(better(0.1, 0.5)).toBe('tuned');
    expect(better(0.5, 0.1)).toBe('base');
    expect(better(0.5, 0.5)).toBeNull();
    expect(better(0.5, undefined)).toBeNull();
    expect(formatScore(0.66666, 'fraction')).toBe('0.667');
    expect(formatScore(23.456, 'bleu')).toBe('23.5');
    expect(formatScore(0.5, 'percent')).toBe('50%');
    expect(formatScore(undefined, 'bleu')).toBe('—');
  });
});

describe('ExportState', () => {
  const merged: MergedExport = { name: 'm.zip', files: ['config.json', 'model.safetensors'], bytes: 10, merged: 4, copied: 3, source: 'full-precision', file: null, kept: true, keptNote: null };

  test('a .zip download asks for full precision and 2 GB shards by default, then reports what was written', async () => {
    const exportMerged = vi.fn(async (_req: MergeRequest, onProgress?: (p: { stage: string; done: number; total: number }) => void) => {
      onProgress?.({ stage: 'Merging', done: 1, total: 7 });
      return { ok: true as const, merged };
    });
    const finished = vi.fn();
    const state = new ExportState(engineOf({ exportMerged: exportMerged as unknown as EngineApi['exportMerged'] }), finished);
    expect(state.canPickFolder).toBe(false);
    await state.download();
    expect(exportMerged.mock.calls[0][0]).toEqual({ fromNf4: false, maxShardSize: 2e9, target: { kind: 'download' } });
    expect(state.status).toBe('done');
    expect(state.result).toEqual(merged);
    expect(finished).toHaveBeenCalledTimes(1);
  });

  test('cancel ends as cancelled, not as an error; other failures are errors', async () => {
    const done = deferred<Outcome<{ merged: MergedExport }>>();
    const cancelMerge = vi.fn(async () => {});
    const state = new ExportState(engineOf({ exportMerged: () => done.promise, cancelMerge }));
    state.fromNf4 = true;
    const running = state.download();
    await state.cancel();
    expect(cancelMerge).toHaveBeenCalledTimes(1);
    done.resolve({ ok: false, error: { name: 'E', code: 'cancelled', message: 'Cancelled.' } });
    await running;
    expect(state.status).toBe('cancelled');
    expect(state.error).toBeNull();
    expect(state.cancelNote).toBe('Cancelled.');

    const failing = new ExportState(engineOf({ exportMerged: async () => notReady }));
    await failing.download();
    expect(failing.status).toBe('failed');
    expect(failing.error?.code).toBe('busy');
  });
});

describe('AppState', () => {
  test('training waits while the scores or a merged export are being made (one GPU job at a time)', async () => {
    const scoring = deferred<Outcome<{ table: EvalTable }>>();
    const merging = deferred<Outcome<{ merged: MergedExport }>>();
    const listRuns = async () => ({ ok: true as const, runs: [] });
    const app = new AppState(engineOf({ evaluate: () => scoring.promise, exportMerged: () => merging.promise, listRuns }));
    const evaluated = app.compare.evaluation.run();
    const exported = app.exports.download();
    expect(app.compare.busy).toBe(true);
    expect(app.blockers).toEqual(expect.arrayContaining(['Wait for the answers or the scores (step 5) to finish.', 'Wait for the merged export (step 6) to finish.']));
    scoring.resolve(notReady);
    merging.resolve(notReady);
    await Promise.all([evaluated, exported]);
    expect(app.blockers.filter((b) => b.startsWith('Wait'))).toEqual([]);
    expect(app.compare.evaluation.status).toBe('failed');
    expect(app.exports.status).toBe('failed');
  });

  test('a new run forgets the last scores and merged export (they were of the previous adapter)', async () => {
    const listRuns = async () => ({ ok: true as const, runs: [] });
    const app = new AppState(engineOf({ evaluate: async () => ({ ok: true as const, table }), listRuns }));
    await app.compare.evaluation.run();
    expect(app.compare.evaluation.table).not.toBeNull();
    Object.defineProperty(app, 'blockers', { get: () => [] });
    const start = vi.spyOn(app.train, 'start').mockResolvedValue();
    await app.startTraining();
    expect(start).toHaveBeenCalledTimes(1);
    expect(app.compare.evaluation.table).toBeNull();
    expect(app.compare.evaluation.rows).toEqual([]);
    expect(app.exports.status).toBe('idle');
  });
});
