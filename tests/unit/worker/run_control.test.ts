import { describe, expect, test } from 'vitest';
import { memoryKeyValue, type KeyValue } from '../../../src/storage/key_value.ts';
import { RunStore } from '../../../src/storage/run_store.ts';
import type { Checkpoint } from '../../../src/train/checkpoint.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../../src/train/config.ts';
import type { StepMetrics, Trainer } from '../../../src/train/trainer.ts';
import type { ModelCard, RunHistory, TrainCallbacks } from '../../../src/worker/api.ts';
import { RunControl } from '../../../src/worker/run_control.ts';
import { stepGate } from '../../../src/worker/run_gate.ts';
import { RunRecorder } from '../../../src/worker/run_recorder.ts';

// Run control without a GPU: the gate between optimizer steps (pause → checkpoint → hold →
// resume; stop while paused; checkpoints by time), the recorder's checkpoint saves when the quota
// is full (the run goes on, the previous checkpoint stays), and resuming a saved run's record.

function checkpointAt(step: number, steps: StepMetrics[] = []): Checkpoint {
  return {
    state: { step, applied: step, config: { ...DEFAULT_TRAIN_CONFIG, targetModules: [...DEFAULT_TRAIN_CONFIG.targetModules] }, history: { steps, evals: [] } },
    lora: new Map([['m.q_proj', { A: new Float32Array([step, 1]), B: new Float32Array([2, step]) }]]),
    moments: { m: [new Float32Array([step])], v: [new Float32Array([step * 2])] },
  };
}

const metrics = (step: number): StepMetrics => ({ step, totalSteps: 6, epoch: step / 6, loss: 3 - step / 10, lr: 1e-4, gradNorm: 1, tokens: 10, elapsedS: step, skipped: false });

/** A KeyValue whose writes fail with the browser's quota error while `full` is set. */
function quotaKeyValue(): KeyValue & { full: boolean } {
  const inner = memoryKeyValue();
  const kv = {
    full: false,
    get: inner.get,
    keys: inner.keys,
    delMany: inner.delMany,
    setMany: async (entries: [string, unknown][]) => {
      if (kv.full) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return inner.setMany(entries);
    },
  };
  return kv;
}

async function recorderOn(kv: KeyValue, callbacks: TrainCallbacks = {}) {
  const store = new RunStore<RunHistory>(kv);
  const recorder = await RunRecorder.start(store, callbacks, { name: 'r', model: 'm', modelSource: { kind: 'demo' }, dataset: 'd.jsonl', settings: {} });
  recorder.plan({ totalSteps: 6, stepsPerEpoch: 6, trainExamples: 6, evalExamples: 0, memory: {}, model: { name: 'm' } as ModelCard });
  return { store, recorder };
}

/** Stands in for the Trainer: the gate reads only its step count and snapshots. */
function fakeTrainer() {
  const t = { completedSteps: 0, snapshots: 0, snapshot: async () => (t.snapshots++, checkpointAt(t.completedSteps)) };
  return t;
}

describe('run control', () => {
  test('pause: checkpoint, "paused", held until resume, then "running"; stop while paused ends the hold', async () => {
    const states: string[] = [];
    const { store, recorder } = await recorderOn(memoryKeyValue(), { onState: (s) => void states.push(s) });
    const control = new RunControl();
    const trainer = fakeTrainer();
    const gate = stepGate(() => trainer as unknown as Trainer, control, recorder, Infinity);

    trainer.completedSteps = 2;
    await gate(3); // nothing asked: no checkpoint, no hold
    expect(trainer.snapshots).toBe(0);

    control.pause();
    let passed = false;
    const held = gate(3).then(() => (passed = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(passed).toBe(false);
    expect(states).toEqual(['paused']);
    expect(control.paused).toBe(true);
    expect((await store.record(recorder.record.id)).checkpoint?.step).toBe(2);
    control.resume();
    await held;
    expect(states).toEqual(['paused', 'running']);
    expect(recorder.history.events.map((e) => e.text)).toEqual(expect.arrayContaining(['step 2: checkpoint saved (paused)', 'paused after step 2', 'running again from step 3']));

    // Paused again at the same step: the stored checkpoint is that step's, so none is written.
    control.pause();
    const again = gate(3);
    await new Promise((r) => setTimeout(r, 20));
    control.stop();
    await again;
    expect(control.signal.aborted).toBe(true);
    expect(trainer.snapshots).toBe(1);
    expect(states).toEqual(['paused', 'running', 'paused']);
  });

  test('a checkpoint by time once the interval has passed, never twice for one step', async () => {
    const { store, recorder } = await recorderOn(memoryKeyValue());
    const trainer = fakeTrainer();
    const gate = stepGate(() => trainer as unknown as Trainer, new RunControl(), recorder, 0);
    trainer.completedSteps = 1;
    await gate(2);
    await gate(2);
    expect(trainer.snapshots).toBe(1);
    trainer.completedSteps = 2;
    await gate(3);
    expect((await store.record(recorder.record.id)).checkpoint?.step).toBe(2);
  });

  test('a full quota: the checkpoint is reported not saved, the previous one stays, and the run goes on', async () => {
    const kv = quotaKeyValue();
    const events: string[] = [];
    const { store, recorder } = await recorderOn(kv, { onEvent: (e) => void events.push(e.text) });
    recorder.step(metrics(1));
    expect(await recorder.checkpoint(checkpointAt(1))).toBe(true);
    kv.full = true;
    recorder.step(metrics(2));
    expect(await recorder.checkpoint(checkpointAt(2))).toBe(false);
    expect(events.find((e) => e.startsWith('step 2: checkpoint not saved'))).toMatch(/storage quota is full.*Delete saved runs/);
    expect((await store.checkpoint(recorder.record.id))!.step).toBe(1);
    expect(recorder.lastCheckpointStep).toBe(1);
    kv.full = false;
    recorder.step(metrics(3));
    expect(await recorder.checkpoint(checkpointAt(3))).toBe(true);
    expect((await store.record(recorder.record.id)).checkpoint?.step).toBe(3);
  });

  test('resuming a saved run cuts its history back to the checkpoint and marks it running again', async () => {
    const kv = memoryKeyValue();
    const { store, recorder } = await recorderOn(kv);
    for (let k = 1; k <= 5; k++) recorder.step(metrics(k));
    recorder.eval({ step: 2, evalLoss: 2.5 });
    recorder.eval({ step: 4, evalLoss: 2.4 });
    const steps = [1, 2, 3].map(metrics);
    await recorder.checkpoint({ ...checkpointAt(3, steps), state: { ...checkpointAt(3, steps).state, history: { steps, evals: [{ step: 2, evalLoss: 2.5 }] } } });
    await store.update(recorder.record.id, { status: 'stopped' }, recorder.history);

    const record = await store.record(recorder.record.id);
    const saved = await store.history(record.id);
    const stored = checkpointAt(3, steps);
    stored.state.history.evals = [{ step: 2, evalLoss: 2.5 }];
    const resumed = await RunRecorder.resume(store, {}, record, stored, saved);
    expect(resumed.history.steps.map((s) => s.step)).toEqual([1, 2, 3]);
    expect(resumed.history.steps[1].tokensPerS).toBe(10);
    expect(resumed.history.evals).toEqual([{ step: 2, evalLoss: 2.5 }]);
    expect(resumed.history.events.at(-1)!.text).toBe('resumed from step 3');
    expect(await store.record(record.id)).toMatchObject({ status: 'running', steps: 3, error: null });
    expect((await store.history(record.id))!.steps).toHaveLength(3);
  });
});
