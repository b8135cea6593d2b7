import { describe, expect, test } from 'vitest';
import { memoryKeyValue } from '../../../src/storage/key_value.ts';
import { RunStore, type NewRun } from '../../../src/storage/run_store.ts';
import type { RunHistory } from '../../../src/worker/api.ts';
import { lockManagerRunLocks, memoryRunLocks } from '../../../src/worker/run_locks.ts';
import { RunsApi } from '../../../src/worker/runs_api.ts';
import { savedRunToResume } from '../../../src/worker/saved_run_resume.ts';

// One run trains in one tab at a time (worker/run_locks.ts): a record marked running whose lock
// another tab holds is listed as running there, not interrupted, and cannot be resumed or deleted
// here; once that tab lets go (it ends or closes), the run is interrupted and resumable again.

const newRun: NewRun = { name: 'sums on demo', status: 'running', model: 'demo', modelSource: { kind: 'demo' }, dataset: 'sums.jsonl', steps: 3, totalSteps: 10, finalLoss: null, finalEvalLoss: null, settings: {} };

async function savedRunningRun() {
  const store = new RunStore<RunHistory>(memoryKeyValue());
  const { id } = await store.create(newRun, { steps: [], evals: [], events: [] });
  await store.saveDataset(id, new Blob(['{"prompt":"a","completion":"b"}\n']));
  await store.saveCheckpoint(id, { step: 2, totalSteps: 10, files: { 'trainer_state.json': new Uint8Array([123, 125]) } });
  return { store, id };
}

describe('runs training in another tab', () => {
  test('listed as running while another tab holds the lock, interrupted and resumable once it lets go', async () => {
    const { store, id } = await savedRunningRun();
    const locks = memoryRunLocks();
    const here = new RunsApi(store, () => null, locks);
    const otherTab = new RunsApi(store, () => null, locks);

    expect((await here.list()).runs[0]).toMatchObject({ status: 'interrupted', resumeBlocker: null });

    const held = await otherTab.claim(id, newRun.name);
    expect((await here.list()).runs[0]).toMatchObject({ status: 'running', resumeBlocker: 'running' });
    expect((await here.get(id)).run.status).toBe('running');
    expect(await here.isLive(id)).toBe(true);
    await expect(here.claim(id, newRun.name)).rejects.toMatchObject({ code: 'busy', message: expect.stringContaining('another tab') });
    await expect(here.delete(id)).rejects.toMatchObject({ code: 'busy' });
    await expect(savedRunToResume(store, id, undefined, await here.isLive(id))).rejects.toMatchObject({ code: 'busy' });

    held.release();
    expect((await here.list()).runs[0]).toMatchObject({ status: 'interrupted', resumeBlocker: null });
    const mine = await here.claim(id, newRun.name);
    mine.release();
    await here.delete(id);
    expect((await here.list()).runs).toEqual([]);
  });

  test('without Web Locks only the engine’s own run is live', async () => {
    const { store, id } = await savedRunningRun();
    let live: string | null = id;
    const api = new RunsApi(store, () => live, null);
    expect((await api.list()).runs[0]).toMatchObject({ status: 'running', resumeBlocker: 'running' });
    (await api.claim(id, newRun.name)).release();
    live = null;
    expect((await api.list()).runs[0].status).toBe('interrupted');
  });

  test('over a LockManager: ifAvailable refuses a held lock, release frees it, query names the held runs', async () => {
    const locks = lockManagerRunLocks(fakeLockManager());
    const first = await locks.acquire('r1');
    expect(first).not.toBeNull();
    expect(await locks.acquire('r1')).toBeNull();
    expect([...(await locks.held())]).toEqual(['r1']);
    first!.release();
    await Promise.resolve();
    expect([...(await locks.held())]).toEqual([]);
    const again = await locks.acquire('r1');
    expect(again).not.toBeNull();
    again!.release();
  });
});

/** The part of the Web Locks API run_locks.ts uses, exclusive locks only, as the spec describes it. */
function fakeLockManager(): LockManager {
  const held = new Set<string>();
  return {
    async request(name: string, options: LockOptions, callback: LockGrantedCallback<unknown>) {
      if (held.has(name)) {
        expect(options.ifAvailable).toBe(true);
        return callback(null);
      }
      held.add(name);
      try {
        return await callback({ name, mode: 'exclusive' } as Lock);
      } finally {
        held.delete(name);
      }
    },
    async query() {
      return { held: [...held, 'someone-else'].map((name) => ({ name, mode: 'exclusive' as const, clientId: 'c' })), pending: [] };
    },
  } as unknown as LockManager;
}
