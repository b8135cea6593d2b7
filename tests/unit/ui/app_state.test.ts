import type { Remote } from 'comlink';
import { describe, expect, test, vi } from 'vitest';
import type { DatasetSummary, EngineApi, RunPlan, StepPoint, TrainCallbacks } from '../../../src/worker/api.ts';
import { checkSettings, settingsSchema } from '../../../src/worker/settings_schema.ts';
import { AppState } from '../../../src/ui/state/app_state.svelte.ts';

// The UI state classes driven by hand, with a fake engine: the settings form against the engine's
// real schema and validation, what blocks training, the run's progress figures and the tab title.
// (The real worker behind Comlink is exercised end to end by tests/e2e/workflow.test.ts.)

function memoryStorage() {
  const map = new Map<string, string>();
  return { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v), map };
}

const summary = { file: 'd.jsonl', options: { format: 'auto', maxLength: 1024, lossOn: 'completion' } } as DatasetSummary;

function fakeEngine(overrides: Partial<EngineApi> = {}): Remote<EngineApi> {
  const engine: Partial<EngineApi> = {
    settingsSchema: async () => settingsSchema(),
    validateSettings: async (input) => checkSettings(input).problems,
    listRuns: async () => ({ ok: true, runs: [] }),
    loadDemoModel: async () => ({ ok: true, model: { name: 'demo' } as never }),
    loadDataset: vi.fn(async () => ({ ok: true as const, dataset: summary })),
    previewExample: async () => ({ ok: false, error: { name: 'E', code: 'x', message: 'no' } }),
    ...overrides,
  };
  return engine as unknown as Remote<EngineApi>;
}

describe('AppState', () => {
  test('settings start from the defaults, take a preset, explain a bad value, and are remembered', async () => {
    const storage = memoryStorage();
    const app = new AppState(fakeEngine(), storage);
    await app.init();
    expect(app.settings.preset?.id).toBe('balanced');
    await app.settings.applyPreset('quick-demo');
    expect(app.settings.values.maxLength).toBe(256);
    expect(app.settings.preset?.id).toBe('quick-demo');

    const lr = app.settings.schema!.fields.find((f) => f.field === 'lr')!;
    await app.settings.setText(lr, 'fast');
    expect(app.settings.problems.lr).toBe('Learning rate must be a number above 0 and at most 1, got "fast"');
    expect(app.settings.ok).toBe(false);
    expect(app.settings.preset).toBeNull();
    await app.settings.setText(lr, '1e-4');
    expect(app.settings.values.lr).toBe(1e-4);
    expect(app.settings.ok).toBe(true);

    await app.settings.set('warmupSteps', 3);
    await app.settings.set('warmupRatio', 0.1);
    expect(Object.keys(app.settings.problems)).toEqual(['warmupRatio']);

    const again = new AppState(fakeEngine(), storage);
    await again.init();
    expect(again.settings.values).toMatchObject({ lr: 1e-4, maxLength: 256, warmupRatio: 0.1 });
    expect(again.settings.text.lr).toBe('0.0001');
  });

  test('training is blocked until a model, a dataset and valid settings are there', async () => {
    const engine = fakeEngine();
    const app = new AppState(engine, memoryStorage());
    await app.init();
    expect(app.blockers).toEqual(['Load a model (step 1).', 'Choose a dataset (step 2).']);
    await app.data.choose(new File(['{"text": "a"}'], 'd.jsonl'));
    expect(app.data.status.kind).toBe('waiting');
    expect(engine.loadDataset).not.toHaveBeenCalled();
    await app.model.loadDemo();
    app.modelChanged();
    await vi.waitFor(() => expect(app.data.status.kind).toBe('ready'));
    expect(app.blockers).toEqual([]);
  });

  test('a run reports progress, ETA and the tab title, and ends with its summary', async () => {
    let callbacks: TrainCallbacks = {};
    let finish: () => void = () => {};
    const engine = fakeEngine({
      train: (_settings, cb) => {
        callbacks = cb;
        return new Promise((resolve) => {
          finish = () => resolve({ ok: true, summary: { runId: 'r', steps: 2, totalSteps: 8, stoppedAt: 2 } as never });
        });
      },
      stop: async () => {},
    });
    const app = new AppState(engine, memoryStorage());
    await app.init();
    const running = app.train.start({});
    expect(app.title).toBe('Starting… · webtune');
    await app.model.loadDemo();
    expect(app.model.card?.precision).toBeUndefined();
    // The run loaded the base again unquantized: the card follows.
    callbacks.onPlan!({ totalSteps: 8, model: { name: 'demo', precision: 'f32' } } as RunPlan);
    expect(app.model.card).toMatchObject({ name: 'demo', precision: 'f32' });
    const step = (k: number): StepPoint => ({ step: k, totalSteps: 8, epoch: k / 8, loss: 3 - k, lr: 1e-4, gradNorm: 1, tokens: 100, tokensPerS: 50, elapsedS: 2 * k, skipped: false });
    callbacks.onStep!(step(1));
    callbacks.onStep!(step(2));
    expect(app.train.status).toBe('running');
    expect(app.train.fraction).toBe(0.25);
    expect(app.train.etaS).toBe(12);
    expect(app.title).toBe('25% · step 2/8 · webtune');
    await app.train.stop();
    expect(app.train.status).toBe('stopping');
    finish();
    await running;
    expect(app.train.status).toBe('done');
    expect(app.train.etaS).toBeNull();
    expect(app.title).toBe('webtune');
  });
});
