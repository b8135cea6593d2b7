import type { Remote } from 'comlink';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { EngineApi, ModelSource, SavedRun, SavedRunSummary, StepPoint, StorageUse, TrainCallbacks } from '../../../src/worker/api.ts';
import { settingsSchema } from '../../../src/worker/settings_schema.ts';
import { AppState } from '../../../src/ui/state/app_state.svelte.ts';
import { sameModel } from '../../../src/ui/state/resume_state.svelte.ts';

// Pausing, resuming a saved run (its model loaded first when needed), the interrupted-run notice and
// storage figures, with a fake engine driving the UI state by hand. The real worker and IndexedDB
// behind it are exercised by tests/e2e/resume.test.ts.

function memoryStorage() {
  const map = new Map<string, string>();
  return { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v) };
}

const step = (k: number, total = 8): StepPoint => ({ step: k, totalSteps: total, epoch: k / total, loss: 3 - k / 10, lr: 1e-4, gradNorm: 1, tokens: 100, tokensPerS: 50, elapsedS: 2 * k, skipped: false });

function summary(over: Partial<SavedRunSummary> = {}): SavedRunSummary {
  return {
    id: 'r1', name: 'sums on demo', createdAt: 0, updatedAt: 0, status: 'interrupted', model: 'webtune-demo-untrained', dataset: 'sums.jsonl',
    steps: 7, totalSteps: 20, finalLoss: null, finalEvalLoss: null, adapterBytes: 0, error: null,
    modelSource: { kind: 'demo' }, checkpoint: { step: 6, totalSteps: 20, savedAt: 0, bytes: 1000 }, resumeBlocker: null, mergedBytes: 0,
    storage: { record: 10, dataset: 20, checkpoint: 1000, adapter: 0, merged: 0, total: 1030 },
    ...over,
  };
}

function savedRun(over: Partial<SavedRunSummary> = {}): SavedRun {
  const s = summary(over);
  return { ...s, settings: {}, history: { steps: Array.from({ length: 7 }, (_, i) => step(i + 1, 20)), evals: [{ step: 4, evalLoss: 2 }, { step: 7, evalLoss: 1.9 }], events: [{ atS: 0, text: 'started' }] } };
}

const card = (loadedFrom: ModelSource) => ({ name: 'm', loadedFrom }) as never;

function fakeEngine(overrides: Partial<EngineApi> = {}) {
  const engine = {
    settingsSchema: async () => settingsSchema(),
    validateSettings: async () => [],
    listRuns: async () => ({ ok: true as const, runs: [] as SavedRunSummary[] }),
    storageUse: async () => ({ ok: true as const, storage: { usage: 4e7, quota: 2e9, persisted: false, runsBytes: 1.2e7 } as StorageUse }),
    loadDemoModel: vi.fn(async () => ({ ok: true as const, model: card({ kind: 'demo' }) })),
    downloadModel: vi.fn(async (repo: string, base: string) => ({ ok: true as const, model: card({ kind: 'hub', repo, base }) })),
    getRun: async (id: string) => ({ ok: true as const, run: savedRun({ id }) }),
    resumeRun: vi.fn<EngineApi['resumeRun']>(),
    pause: vi.fn(async () => {}),
    resume: vi.fn(async () => {}),
    stop: vi.fn(async () => {}),
    ...overrides,
  };
  return engine;
}

/** A train()/resumeRun() that stays pending until `finish`, handing its callbacks to the test. */
function pendingRun() {
  const run = { callbacks: {} as TrainCallbacks, finish: () => {} };
  const call = (_x: unknown, cb: TrainCallbacks) => {
    run.callbacks = cb;
    return new Promise<never>((resolve) => {
      run.finish = () => resolve({ ok: true, summary: { runId: 'r1', steps: 20, totalSteps: 20, stoppedAt: null } } as never);
    });
  };
  return { run, call };
}

describe('run control in the UI state', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  test('pause and resume: the status, the tab title, and elapsed time that stands still while paused', async () => {
    const { run, call } = pendingRun();
    const engine = fakeEngine({ train: call as never });
    const app = new AppState(engine as unknown as Remote<EngineApi>, memoryStorage());
    await app.init();
    const running = app.train.start({});
    run.callbacks.onPlan!({ runId: 'r1', totalSteps: 8 } as never);
    run.callbacks.onStep!(step(1));
    run.callbacks.onStep!(step(2));
    vi.advanceTimersByTime(10_000);
    expect(app.train.elapsedS).toBeCloseTo(10, 0);

    await app.train.pause();
    expect(engine.pause).toHaveBeenCalledOnce();
    expect(app.train.status).toBe('pausing');
    run.callbacks.onState!('paused');
    expect(app.train.status).toBe('paused');
    expect(app.train.active).toBe(true);
    expect(app.title).toBe('Paused · step 2/8 · webtune');
    vi.advanceTimersByTime(60_000);
    expect(app.train.elapsedS).toBeCloseTo(10, 0);

    await app.train.resume();
    expect(engine.resume).toHaveBeenCalledOnce();
    expect(app.train.status).toBe('resuming');
    run.callbacks.onState!('running');
    expect(app.train.status).toBe('running');
    vi.advanceTimersByTime(5_000);
    expect(app.train.elapsedS).toBeCloseTo(15, 0);
    expect(app.title).toBe('25% · step 2/8 · webtune');
    // The engine's clock leaves pauses out (step 3 at 4 s of training): the ETA is at that pace.
    run.callbacks.onStep!({ ...step(3), elapsedS: 4 });
    expect(app.train.etaS).toBeCloseTo((4 / 3) * 5, 1);
    run.finish();
    await running;
    expect(app.train.status).toBe('done');
  });

  test('resuming an interrupted demo-model run loads the demo model, then continues from the checkpoint with the earlier charts', async () => {
    const { run, call } = pendingRun();
    const engine = fakeEngine({ resumeRun: vi.fn(call as never), listRuns: async () => ({ ok: true as const, runs: [summary()] }) });
    const app = new AppState(engine as unknown as Remote<EngineApi>, memoryStorage());
    await app.init();
    expect(app.runs.interrupted?.id).toBe('r1');
    expect(app.runs.storage).toMatchObject({ runsBytes: 1.2e7, quota: 2e9 });

    // Scores of an earlier adapter would pass for the resumed run's.
    app.compare.evaluation.table = { rows: [] } as unknown as typeof app.compare.evaluation.table;
    const resuming = app.resume.resume('r1');
    await vi.waitFor(() => expect(engine.resumeRun).toHaveBeenCalled());
    expect(app.compare.evaluation.table).toBeNull();
    expect(engine.loadDemoModel).toHaveBeenCalledOnce();
    expect(engine.resumeRun).toHaveBeenCalledWith('r1', expect.anything());
    // The charts keep steps 1..6 (step 7 came after the checkpoint and is trained again) and the eval at 4.
    expect(app.train.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(app.train.evals.map((e) => e.step)).toEqual([4]);
    expect(app.train.resumedFrom).toMatchObject({ step: 6, name: 'sums on demo', elapsedS: 12 });
    expect(app.train.totalSteps).toBe(20);
    expect(app.train.stepsDone).toBe(6);
    run.callbacks.onStep!({ ...step(7, 20), elapsedS: 15 });
    expect(app.train.firstNewStep).toBe(7);
    expect(app.train.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // 3 s for the one step of this session, 13 steps to go.
    expect(app.train.etaS).toBeCloseTo(39);
    run.finish();
    await resuming;
    expect(app.train.status).toBe('done');
    expect(app.hasTunedAdapter).toBe(true);
  });

  test('the run is resumed on the model already loaded, and a Hub model is loaded from its repository and address', async () => {
    const { call } = pendingRun();
    const hub: ModelSource = { kind: 'hub', repo: 'org/tiny', base: 'http://127.0.0.1:9/' };
    const engine = fakeEngine({ resumeRun: vi.fn(call as never), getRun: async (id: string) => ({ ok: true as const, run: savedRun({ id, modelSource: hub }) }) });
    const app = new AppState(engine as unknown as Remote<EngineApi>, memoryStorage());
    await app.init();
    void app.resume.resume('r1');
    await vi.waitFor(() => expect(engine.resumeRun).toHaveBeenCalled());
    expect(engine.downloadModel).toHaveBeenCalledWith('org/tiny', 'http://127.0.0.1:9/', expect.anything());
    expect(sameModel(app.model.card, hub)).toBe(true);
    expect(sameModel(app.model.card, { kind: 'hub', repo: 'org/other', base: 'http://127.0.0.1:9/' })).toBe(false);
    expect(sameModel(app.model.card, { kind: 'demo' })).toBe(false);
  });

  test('a run on a picked folder asks for that folder by name and does not start', async () => {
    const engine = fakeEngine({ getRun: async (id: string) => ({ ok: true as const, run: savedRun({ id, modelSource: { kind: 'files', name: 'SmolLM2-135M' } }) }) });
    const app = new AppState(engine as unknown as Remote<EngineApi>, memoryStorage());
    await app.init();
    await app.resume.resume('r1');
    expect(app.resume.status).toMatchObject({ kind: 'need-folder', folder: 'SmolLM2-135M', runName: 'sums on demo' });
    expect(engine.resumeRun).not.toHaveBeenCalled();
    expect(engine.loadDemoModel).not.toHaveBeenCalled();
  });

  test('the interrupted-run notice: only a resumable interrupted run, and not once dismissed', async () => {
    const runs = [summary({ id: 'a', status: 'stopped' }), summary({ id: 'b', resumeBlocker: 'no_checkpoint', checkpoint: null }), summary({ id: 'c' })];
    const app = new AppState(fakeEngine({ listRuns: async () => ({ ok: true as const, runs }) }) as unknown as Remote<EngineApi>, memoryStorage());
    await app.init();
    expect(app.runs.interrupted?.id).toBe('c');
    app.runs.dismiss('c');
    expect(app.runs.interrupted).toBeNull();
  });

  test('saved runs still list when the engine cannot tell storage use', async () => {
    const engine = fakeEngine({ listRuns: async () => ({ ok: true as const, runs: [summary()] }), storageUse: async () => ({ ok: false as const, error: { name: 'E', code: 'not_ready', message: 'no' } }) });
    const app = new AppState(engine as unknown as Remote<EngineApi>, memoryStorage());
    await app.init();
    expect(app.runs.runs).toHaveLength(1);
    expect(app.runs.storage).toBeNull();
    expect(app.runs.error).toBeNull();
  });
});
