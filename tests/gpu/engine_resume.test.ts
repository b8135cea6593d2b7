import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { tinyModel } from '../fixtures/tiny_model.ts';
import type { GpuContext } from '../../src/engine/device.ts';
import { memoryKeyValue, type KeyValue } from '../../src/storage/key_value.ts';
import type { Outcome, SavedRunSummary, StepPoint, TrainCallbacks, TrainSummary } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';

// The engine's run control end to end on the demo model (Node, SwiftShader), against an
// uninterrupted run with the same settings (6 steps, a checkpoint every 2):
// - pause after step 1 (a checkpoint, onState 'paused'), resume, then the tab "crashes" after
//   step 3 (the store stops taking writes, as a closed tab's would);
// - a new Engine over the same store (a reload) lists the run as interrupted at its step-2
//   checkpoint; resumeRun refuses while another model (or none) is loaded, naming the model;
// - with the demo loaded, resumeRun goes on from step 3 and is stopped after step 4 (a checkpoint
//   on stop), and resumeRun again finishes it: every step's loss, lr and grad norm equal the
//   uninterrupted run's, in one saved run whose history is that run's;
// - a store whose quota is full at the second checkpoint: the run trains on, says so, keeps the first.

const SETTINGS = { epochs: 2, batchSize: 2, gradAccum: 1, maxLength: 32, loraR: 4, loraAlpha: 8, lr: 1e-3, warmupSteps: 1, checkpointEvery: 2, seed: 7 };
const STEPS = 6;
const DATASET = Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `Q: ${i} + 1?\nA:`, completion: ` ${i + 1}.` })).join('\n') + '\n';
const DATASET_OPTIONS = { format: 'auto', maxLength: 32, lossOn: 'completion' } as const;

const demoDir = new URL('../../public/demo-model/', import.meta.url);
const demoTokenizer = async () => ({ tokenizerJson: readFileSync(new URL('tokenizer.json', demoDir), 'utf8'), tokenizerConfig: readFileSync(new URL('tokenizer_config.json', demoDir), 'utf8') });

/** A KeyValue that can be made to drop every write, as a tab that closed mid-run leaves its store. */
function crashableKeyValue(inner: KeyValue): KeyValue & { crashed: boolean } {
  const kv = {
    crashed: false,
    get: inner.get,
    keys: inner.keys,
    setMany: async (entries: [string, unknown][]) => (kv.crashed ? undefined : inner.setMany(entries)),
    delMany: async (keys: string[]) => (kv.crashed ? undefined : inner.delMany(keys)),
  };
  return kv;
}

function ok<T extends object>(out: Outcome<T>): T {
  if (!out.ok) throw new Error(`${out.error.code}: ${out.error.message}`);
  return out;
}

const numbers = (steps: StepPoint[]) => steps.map((s) => ({ step: s.step, loss: s.loss, lr: s.lr, gradNorm: s.gradNorm }));

describeGpu('Engine: pause, stop, resume a saved run', () => {
  let gpu: GpuContext;
  const store = memoryKeyValue();
  let whole: StepPoint[] = [];

  const engineOn = (storage: KeyValue) => new Engine({ acquire: async () => gpu, demoTokenizer, storage });
  const loadDemoAndData = async (engine: Engine) => {
    ok(await engine.loadDemoModel());
    ok(await engine.loadDataset(new File([DATASET], 'plus-one.jsonl'), DATASET_OPTIONS));
  };

  beforeAll(async () => {
    gpu = (await gpuRuntime()).gpu;
    // The uninterrupted run, in a store of its own.
    const engine = engineOn(memoryKeyValue());
    await loadDemoAndData(engine);
    const steps: StepPoint[] = [];
    const { summary } = ok(await engine.train(SETTINGS, { onStep: (s) => void steps.push(s) }));
    expect(summary).toMatchObject({ steps: STEPS, totalSteps: STEPS, stoppedAt: null });
    whole = steps;
  });

  it('pauses with a checkpoint, goes on, and after a crash and a reload resumes to the same losses', async () => {
    expect(numbers(whole).map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);

    // ── A run paused after step 1, resumed, and "crashed" after step 3. ──
    const kv = crashableKeyValue(store);
    const engine = engineOn(kv);
    await loadDemoAndData(engine);
    const states: string[] = [];
    const first: StepPoint[] = [];
    let atPause: SavedRunSummary | undefined;
    const callbacks: TrainCallbacks = {
      onStep: (s) => {
        first.push(s);
        if (s.step === 1) void engine.pause();
        if (s.step === 3) {
          kv.crashed = true;
          void engine.stop();
        }
      },
      onState: (state) => {
        states.push(state);
        if (state === 'paused') {
          void engine.listRuns().then((out) => {
            atPause = ok(out).runs[0];
            void engine.resume();
          });
        }
      },
    };
    const stopped = ok(await engine.train(SETTINGS, callbacks)).summary;
    expect(stopped).toMatchObject({ stoppedAt: 3, steps: 3 });
    expect(states).toEqual(['paused', 'running']);
    expect(atPause).toMatchObject({ status: 'running', resumeBlocker: 'running', checkpoint: { step: 1, totalSteps: STEPS } });
    expect(atPause!.storage.checkpoint).toBeGreaterThan(0);
    expect(atPause!.storage.dataset).toBe(DATASET.length);
    // Pausing (and checkpointing) changes no number.
    expect(numbers(first)).toEqual(numbers(whole.slice(0, 3)));

    // ── A reload: a new engine over what the store kept. ──
    const reloaded = engineOn(store);
    const [run] = ok(await reloaded.listRuns()).runs;
    expect(run).toMatchObject({ status: 'interrupted', steps: 2, resumeBlocker: null, checkpoint: { step: 2 }, modelSource: { kind: 'demo' } });
    expect(run.storage).toMatchObject({ dataset: DATASET.length, adapter: 0, merged: 0 });
    expect(run.storage.total).toBe(run.storage.record + run.storage.dataset + run.storage.checkpoint);
    expect(ok(await reloaded.storageUse()).storage).toEqual({ usage: null, quota: null, persisted: null, runsBytes: run.storage.total });

    const noModel = await reloaded.resumeRun(run.id, {});
    expect(noModel).toMatchObject({ ok: false, error: { code: 'wrong_model' } });
    const tiny = tinyModel({ tokenizer: true, hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, tieWordEmbeddings: true });
    ok(await reloaded.loadModelFiles([...tiny.files].map(([name, bytes]) => new File([new Uint8Array(bytes)], name))));
    const wrong = await reloaded.resumeRun(run.id, {});
    expect(wrong).toMatchObject({ ok: false, error: { code: 'wrong_model' } });
    if (!wrong.ok) expect(wrong.error.message).toMatch(/trained webtune-demo-untrained, but the loaded model is .*Load the demo model/);

    // ── Resume from step 2; stop after step 4. ──
    ok(await reloaded.loadDemoModel());
    const second: StepPoint[] = [];
    const resumed: Outcome<{ summary: TrainSummary }> = await reloaded.resumeRun(run.id, {
      onStep: (s) => {
        second.push(s);
        if (s.step === 4) void reloaded.stop();
      },
    });
    expect(ok(resumed).summary).toMatchObject({ runId: run.id, stoppedAt: 4, steps: 4 });
    expect(numbers(second)).toEqual(numbers(whole.slice(2, 4)));
    const afterStop = ok(await reloaded.getRun(run.id)).run;
    expect(afterStop).toMatchObject({ status: 'stopped', resumeBlocker: null, checkpoint: { step: 4 } });
    expect(afterStop.adapterBytes).toBeGreaterThan(0);

    // ── Resume from the stop's checkpoint to the end. ──
    const third: StepPoint[] = [];
    const finished = ok(await reloaded.resumeRun(run.id, { onStep: (s) => void third.push(s) })).summary;
    expect(finished).toMatchObject({ runId: run.id, stoppedAt: null, steps: STEPS, totalSteps: STEPS });
    expect(numbers(third)).toEqual(numbers(whole.slice(4)));

    const saved = ok(await reloaded.getRun(run.id)).run;
    expect(saved).toMatchObject({ status: 'completed', steps: STEPS, resumeBlocker: 'finished', checkpoint: null });
    expect(numbers(saved.history.steps)).toEqual(numbers(whole));
    const events = saved.history.events.map((e) => e.text);
    expect(events).toEqual(expect.arrayContaining(['paused after step 1', 'resumed from step 2', 'resumed from step 4', 'finished']));
    expect(ok(await reloaded.listRuns()).runs).toHaveLength(1);
    expect(ok(await reloaded.runAdapter(run.id)).bytes.byteLength).toBe(finished.adapterBytes);
    // A finished run cannot be resumed.
    expect(await reloaded.resumeRun(run.id, {})).toMatchObject({ ok: false, error: { code: 'run_finished' } });
  });

  it('a full quota at a checkpoint is an event: the run trains on and keeps the checkpoint before', async () => {
    const inner = memoryKeyValue();
    let checkpoints = 0;
    const kv: KeyValue = {
      get: inner.get,
      keys: inner.keys,
      delMany: inner.delMany,
      setMany: async (entries) => {
        if (entries.some(([k]) => k.startsWith('checkpoint:')) && ++checkpoints > 1) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        return inner.setMany(entries);
      },
    };
    const engine = engineOn(kv);
    await loadDemoAndData(engine);
    const events: string[] = [];
    const steps: StepPoint[] = [];
    const out = await engine.train({ ...SETTINGS, checkpointEvery: 1 }, {
      onEvent: (e) => void events.push(e.text),
      onStep: (s) => {
        steps.push(s);
        if (s.step === 3) void engine.stop();
      },
    });
    expect(ok(out).summary).toMatchObject({ stoppedAt: 3, steps: 3 });
    expect(numbers(steps)).toEqual(numbers(whole.slice(0, 3)));
    expect(events).toContain('step 1: checkpoint saved');
    expect(events.find((e) => e.startsWith('step 2: checkpoint not saved'))).toMatch(/storage quota is full/);
    expect(events).not.toContain('step 2: checkpoint saved');
    const [run] = ok(await engine.listRuns()).runs;
    expect(run).toMatchObject({ status: 'stopped', steps: 3, checkpoint: { step: 1 }, resumeBlocker: null });
  });
});
