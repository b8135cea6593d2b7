import { describe, expect, test } from 'vitest';
import { memoryKeyValue, StorageQuotaError, type KeyValue } from '../../../src/storage/key_value.ts';
import { RunNotFoundError, RunStore, type NewRun } from '../../../src/storage/run_store.ts';

// Saved runs over a Map that copies like IndexedDB (the real IndexedDB is exercised by the e2e
// test, which reloads the page and finds the run): ordering, the three keys of a run, atomic
// adapter saves, rename rules, delete, and a full quota leaving earlier runs untouched.

const run = (name: string): NewRun => ({ name, status: 'running', model: 'demo', modelSource: { kind: 'demo' }, dataset: 'd.jsonl', steps: 0, totalSteps: 10, finalLoss: null, finalEvalLoss: null, settings: { lr: 2e-4 } });

function clock(start = 1000) {
  let t = start;
  return () => t++;
}

describe('RunStore', () => {
  test('lists runs newest first, with history and adapter kept apart from the record', async () => {
    const kv = memoryKeyValue();
    const store = new RunStore<{ steps: number[] }>(kv, clock());
    const a = await store.create(run('a'), { steps: [] }, 'id-a');
    const b = await store.create(run('b'), { steps: [] }, 'id-b');
    expect((await store.list()).map((r) => r.name)).toEqual(['b', 'a']);
    expect(a.adapterBytes).toBe(0);

    await store.update(b.id, { steps: 2, finalLoss: 1.5 }, { steps: [1, 2] });
    expect(await store.history(b.id)).toEqual({ steps: [1, 2] });
    const zip = new Uint8Array([1, 2, 3, 4, 5]);
    const saved = await store.saveAdapter(b.id, zip, { status: 'completed' });
    expect(saved).toMatchObject({ status: 'completed', adapterBytes: 5, steps: 2, finalLoss: 1.5 });
    expect(await store.adapter(b.id)).toEqual(zip);
    expect(await store.adapter(a.id)).toBeUndefined();
    expect((await store.record(b.id)).updatedAt).toBeGreaterThan(b.createdAt);
    expect(kv.size).toBe(5);
  });

  test('values are copies: changing what was saved or read changes nothing stored', async () => {
    const store = new RunStore<{ steps: number[] }>(memoryKeyValue(), clock());
    const history = { steps: [1] };
    const r = await store.create(run('a'), history);
    history.steps.push(2);
    expect(await store.history(r.id)).toEqual({ steps: [1] });
  });

  test('rename trims, refuses empty and overlong names, and keeps everything else', async () => {
    const store = new RunStore(memoryKeyValue(), clock());
    const r = await store.create(run('first'), {});
    expect((await store.rename(r.id, '  second  ')).name).toBe('second');
    await expect(store.rename(r.id, '   ')).rejects.toMatchObject({ code: 'bad_run_name' });
    await expect(store.rename(r.id, 'x'.repeat(121))).rejects.toMatchObject({ code: 'bad_run_name', message: expect.stringContaining('121') });
    expect(await store.record(r.id)).toMatchObject({ name: 'second', settings: { lr: 2e-4 } });
  });

  test('delete removes all three keys; a missing run is a RunNotFoundError', async () => {
    const kv = memoryKeyValue();
    const store = new RunStore(kv, clock());
    const r = await store.create(run('a'), {});
    await store.saveAdapter(r.id, new Uint8Array(8));
    await store.delete(r.id);
    expect(kv.size).toBe(0);
    expect(await store.list()).toEqual([]);
    await expect(store.delete(r.id)).rejects.toBeInstanceOf(RunNotFoundError);
    await expect(store.rename('nope', 'x')).rejects.toMatchObject({ code: 'run_not_found' });
  });

  test('a full quota is a StorageQuotaError and leaves the earlier state whole', async () => {
    const inner = memoryKeyValue();
    let full = false;
    const kv: KeyValue = {
      ...inner,
      keys: () => inner.keys(),
      get: (k) => inner.get(k),
      delMany: (k) => inner.delMany(k),
      setMany: async (entries) => {
        if (full) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        return inner.setMany(entries);
      },
    };
    const store = new RunStore(kv, clock());
    const r = await store.create(run('kept'), { steps: [1] });
    full = true;
    const error = await store.saveAdapter(r.id, new Uint8Array(1000)).catch((e) => e);
    expect(error).toBeInstanceOf(StorageQuotaError);
    expect(error.code).toBe('storage_quota');
    expect(error.message).toContain('1000 bytes');
    expect(await store.adapter(r.id)).toBeUndefined();
    expect(await store.record(r.id)).toMatchObject({ name: 'kept', adapterBytes: 0 });
    expect(await store.history(r.id)).toEqual({ steps: [1] });
  });
});
