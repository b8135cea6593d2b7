import { describe, expect, test } from 'vitest';
import { memoryKeyValue, StorageQuotaError, type KeyValue } from '../../../src/storage/key_value.ts';
import { RunStore, type NewRun } from '../../../src/storage/run_store.ts';
import { checkpointFiles, parseCheckpoint, type Checkpoint } from '../../../src/train/checkpoint.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../../src/train/config.ts';

// Checkpoints, dataset copies and sizes in the run store (issue #7): a checkpoint replaces the
// previous one together with the record in one transaction, so a write that fails at any point
// leaves a record and a checkpoint that agree; a full quota names sizes and what to delete;
// deleting a run removes every key it has, the merged model's chunks included.

const run = (name: string): NewRun => ({ name, status: 'running', model: 'demo', modelSource: { kind: 'demo' }, dataset: 'd.jsonl', steps: 0, totalSteps: 10, finalLoss: null, finalEvalLoss: null, settings: {} });

function clock(start = 1000) {
  let t = start;
  return () => t++;
}

/** A checkpoint whose numbers all depend on its step, as real files (train/checkpoint.ts). */
function checkpointAt(step: number): Checkpoint {
  const fill = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => step * 100 + k + i / 8);
  return {
    state: { step, applied: step, config: { ...DEFAULT_TRAIN_CONFIG, targetModules: [...DEFAULT_TRAIN_CONFIG.targetModules] }, history: { steps: [], evals: [] } },
    lora: new Map([['model.layers.0.self_attn.q_proj', { A: fill(6, 1), B: fill(4, 2) }]]),
    moments: { m: [fill(6, 3), fill(4, 4)], v: [fill(6, 5), fill(4, 6)] },
  };
}

const filesOf = (c: Checkpoint) => Object.fromEntries(checkpointFiles(c));

/**
 * IndexedDB-like: each setMany is one transaction that aborts whole when it reaches the
 * `failAt`-th put counted over all calls (a crash or quota error in the middle of a save).
 */
function failingKeyValue(failAt: number, error: () => Error = () => new Error('transaction aborted')): KeyValue & { puts: number } {
  const inner = memoryKeyValue();
  const kv = {
    puts: 0,
    get: inner.get,
    keys: inner.keys,
    delMany: inner.delMany,
    setMany: async (entries: [string, unknown][]) => {
      for (let i = 0; i < entries.length; i++) {
        kv.puts++;
        if (kv.puts === failAt) throw error();
      }
      await inner.setMany(entries);
    },
  };
  return kv;
}

describe('RunStore checkpoints', () => {
  test('a checkpoint round-trips through the store and parses back to the same numbers', async () => {
    const store = new RunStore(memoryKeyValue(), clock());
    const r = await store.create(run('a'), {});
    const c = checkpointAt(3);
    const saved = await store.saveCheckpoint(r.id, { step: 3, totalSteps: 10, files: filesOf(c) }, { steps: 3 });
    const bytes = [...checkpointFiles(c).values()].reduce((n, f) => n + f.byteLength, 0);
    expect(saved.checkpoint).toEqual({ step: 3, totalSteps: 10, savedAt: saved.updatedAt, bytes });
    const back = await parseCheckpoint(new Map(Object.entries((await store.checkpoint(r.id))!.files)), 'test');
    expect(back.state.step).toBe(3);
    expect(back.lora.get('model.layers.0.self_attn.q_proj')!.B).toEqual(c.lora.get('model.layers.0.self_attn.q_proj')!.B);
    expect(back.moments.v[1]).toEqual(c.moments.v[1]);
  });

  test('a save that fails at any put leaves the previous checkpoint and a record that agrees with it', async () => {
    // Count the puts of one save, then fail at each of them in turn.
    const probe = failingKeyValue(Infinity);
    const probeStore = new RunStore<{ n: number }>(probe, clock());
    const p = await probeStore.create(run('p'), { n: 0 });
    await probeStore.saveCheckpoint(p.id, { step: 2, totalSteps: 10, files: filesOf(checkpointAt(2)) }, { steps: 2 }, { n: 2 });
    const before = probe.puts;
    await probeStore.saveCheckpoint(p.id, { step: 4, totalSteps: 10, files: filesOf(checkpointAt(4)) }, { steps: 4 }, { n: 4 });
    const putsPerSave = probe.puts - before;
    expect(putsPerSave).toBeGreaterThanOrEqual(2);

    for (let fail = 1; fail <= putsPerSave; fail++) {
      const kv = failingKeyValue(Infinity);
      const store = new RunStore<{ n: number }>(kv, clock());
      const r = await store.create(run('a'), { n: 0 });
      await store.saveCheckpoint(r.id, { step: 2, totalSteps: 10, files: filesOf(checkpointAt(2)) }, { steps: 2 }, { n: 2 });
      const failAt = kv.puts + fail;
      const flaky = failingKeyValue(failAt);
      // Move the stored state into the failing store, then save the next checkpoint through it.
      for (const k of await kv.keys()) await flaky.setMany([[k, await kv.get(k)]]);
      flaky.puts = kv.puts;
      const failing = new RunStore<{ n: number }>(flaky, clock(5000));
      await expect(failing.saveCheckpoint(r.id, { step: 4, totalSteps: 10, files: filesOf(checkpointAt(4)) }, { steps: 4 }, { n: 4 })).rejects.toThrow('transaction aborted');
      const record = await failing.record(r.id);
      const stored = (await failing.checkpoint(r.id))!;
      const parsed = await parseCheckpoint(new Map(Object.entries(stored.files)), 'test');
      expect({ record: record.checkpoint?.step, stored: stored.step, parsed: parsed.state.step, steps: record.steps, history: await failing.history(r.id) }).toEqual({ record: 2, stored: 2, parsed: 2, steps: 2, history: { n: 2 } });
    }
  });

  test('a full quota is a StorageQuotaError naming the sizes and the largest runs; the previous checkpoint stays', async () => {
    const inner = memoryKeyValue();
    let full = false;
    const kv: KeyValue = {
      get: inner.get,
      keys: inner.keys,
      delMany: inner.delMany,
      setMany: async (entries) => {
        if (full) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        return inner.setMany(entries);
      },
    };
    const store = new RunStore(kv, clock());
    const big = await store.create(run('big old run'), {});
    await store.saveDataset(big.id, new Blob([new Uint8Array(50_000)]));
    const r = await store.create(run('current'), {});
    await store.saveCheckpoint(r.id, { step: 1, totalSteps: 10, files: filesOf(checkpointAt(1)) });
    full = true;
    const files = filesOf(checkpointAt(2));
    const bytes = Object.values(files).reduce((n, f) => n + f.byteLength, 0);
    const error = await store.saveCheckpoint(r.id, { step: 2, totalSteps: 10, files }).catch((e) => e);
    expect(error).toBeInstanceOf(StorageQuotaError);
    expect(error.code).toBe('storage_quota');
    expect(error.message).toContain(`checkpoint of "current" at step 2 (${bytes} bytes`);
    // What to delete: the largest run first, and what takes its space.
    expect(error.message).toMatch(/largest saved runs: "big old run" 5\d\.\d kB, mostly its dataset copy; "current"/);
    expect((await store.checkpoint(r.id))!.step).toBe(1);
    expect((await store.record(r.id)).checkpoint?.step).toBe(1);
  });

  test('delete removes every key of the run, merged chunks included, and no key of another run', async () => {
    const kv = memoryKeyValue();
    const store = new RunStore(kv, clock());
    const a = await store.create(run('a'), {}, 'run-a');
    const b = await store.create(run('b'), {}, 'run-a2');
    for (const id of [a.id, b.id]) {
      await store.saveDataset(id, new Blob(['{"text":"x"}\n']));
      await store.saveCheckpoint(id, { step: 1, totalSteps: 10, files: filesOf(checkpointAt(1)) });
      await store.saveAdapter(id, new Uint8Array(10));
      await kv.setMany([
        [`merged:${id}:777:0`, new Blob(['chunk 0'])],
        [`merged:${id}:777:1`, new Blob(['chunk 1'])],
        [`mergedmeta:${id}`, { fileName: 'm.zip', bytes: 14, chunks: 2, savedAt: 777 }],
      ]);
    }
    const keysOfB = (await kv.keys()).filter((k) => k.includes(b.id)).sort();
    await store.delete(a.id);
    expect((await kv.keys()).sort()).toEqual(keysOfB);
    expect(keysOfB).toHaveLength(8);
  });

  test('sizes by part: record and history as JSON, dataset, checkpoint, adapter, merged model', async () => {
    const kv = memoryKeyValue();
    const store = new RunStore<{ steps: number[] }>(kv, clock());
    const r = await store.create(run('a'), { steps: [] });
    await store.saveDataset(r.id, new File(['0123456789'], 'd.jsonl'));
    await store.update(r.id, {}, { steps: [1, 2, 3] });
    const files = filesOf(checkpointAt(1));
    await store.saveCheckpoint(r.id, { step: 1, totalSteps: 10, files });
    await store.saveAdapter(r.id, new Uint8Array(123));
    await kv.setMany([[`mergedmeta:${r.id}`, { fileName: 'm.zip', bytes: 4567, chunks: 1, savedAt: 1 }]]);
    const record = await store.record(r.id);
    expect(record).toMatchObject({ datasetBytes: 10, historyBytes: JSON.stringify({ steps: [1, 2, 3] }).length, adapterBytes: 123 });
    expect(record.checkpoint!.bytes).toBe(Object.values(files).reduce((n, f) => n + f.byteLength, 0));
    expect((await store.mergedBytes()).get(r.id)).toBe(4567);
    expect(await store.dataset(r.id)).toBeInstanceOf(Blob);
    expect(await (await store.dataset(r.id))!.text()).toBe('0123456789');
  });

  test('records saved before checkpoints existed read with empty parts', async () => {
    const kv = memoryKeyValue();
    await kv.setMany([['run:old', { id: 'old', name: 'old', createdAt: 1, updatedAt: 1, status: 'running', model: 'm', dataset: 'd', steps: 3, totalSteps: 9, finalLoss: 1, finalEvalLoss: null, adapterBytes: 0, error: null, settings: {} }]]);
    const [record] = await new RunStore(kv).list();
    expect(record).toMatchObject({ checkpoint: null, datasetBytes: 0, historyBytes: 0, modelSource: { kind: 'files', name: 'm' } });
  });
});
