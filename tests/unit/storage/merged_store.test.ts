import { describe, expect, test } from 'vitest';
import { memoryKeyValue, StorageQuotaError, type KeyValue } from '../../../src/storage/key_value.ts';
import { MergedStore, type MergedMeta } from '../../../src/storage/merged_store.ts';

// The merged-model chunk store over a Map that copies like IndexedDB: chunk sizes and keys, the
// meta written last, the previous copy intact until a new meta replaces it, everything written
// deleted on a quota error or an abort, and the estimate check.

function clock(start = 1000) {
  let t = start;
  return () => t++;
}

/** A KeyValue whose setMany, once armed, throws the browser's quota error from its `failAt`-th call on (1-based). */
function quotaKeyValue(failAt: number): KeyValue & { calls: string[][]; armed: boolean } {
  const kv = memoryKeyValue();
  const out = {
    calls: [] as string[][],
    armed: true,
    get: kv.get,
    keys: kv.keys,
    delMany: kv.delMany,
    async setMany(entries: [string, unknown][]) {
      if (out.armed) {
        out.calls.push(entries.map(([k]) => k));
        if (out.calls.length >= failAt) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      }
      await kv.setMany(entries);
    },
  };
  return out;
}

const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

async function writeCopy(store: MergedStore, runId: string, data: Uint8Array, pieces: number[], chunkBytes: number) {
  const w = await store.writer(runId, `${runId}.zip`, chunkBytes);
  let at = 0;
  for (const p of pieces) {
    await w.write(data.subarray(at, at + p));
    at += p;
  }
  await w.write(data.subarray(at));
  await w.close();
}

describe('MergedStore', () => {
  test('stores fixed-size Blob chunks, then the meta last; file() re-assembles the bytes', async () => {
    const kv = memoryKeyValue();
    const order: string[] = [];
    const spy: KeyValue = { ...kv, get: kv.get, keys: kv.keys, delMany: kv.delMany, setMany: async (e) => (order.push(...e.map(([k]) => k)), kv.setMany(e)) };
    const store = new MergedStore(spy, async () => null, clock());
    const data = bytesOf(25, 1);
    await writeCopy(store, 'r1', data, [3, 0, 11], 10);
    const meta = (await kv.get<MergedMeta>('mergedmeta:r1'))!;
    expect(meta).toEqual({ fileName: 'r1.zip', bytes: 25, chunks: 3, savedAt: 1000 });
    expect(order).toEqual(['merged:r1:1000:0', 'merged:r1:1000:1', 'merged:r1:1000:2', 'mergedmeta:r1']);
    const sizes = await Promise.all([0, 1, 2].map(async (n) => (await kv.get<Blob>(`merged:r1:1000:${n}`))!.size));
    expect(sizes).toEqual([10, 10, 5]);
    const got = (await store.file('r1'))!;
    expect(got.fileName).toBe('r1.zip');
    expect(new Uint8Array(await got.file.arrayBuffer())).toEqual(data);
    expect(await store.file('other')).toBeNull();
  });

  test('an empty copy and an exact multiple of the chunk size', async () => {
    const store = new MergedStore(memoryKeyValue(), async () => null, clock());
    await writeCopy(store, 'e', new Uint8Array(0), [], 8);
    expect(await store.meta('e')).toMatchObject({ bytes: 0, chunks: 0 });
    expect((await store.file('e'))!.file.size).toBe(0);
    const data = bytesOf(16, 2);
    await writeCopy(store, 'm', data, [16], 8);
    expect(await store.meta('m')).toMatchObject({ bytes: 16, chunks: 2 });
    expect(new Uint8Array(await (await store.file('m'))!.file.arrayBuffer())).toEqual(data);
  });

  test('a new copy replaces the old one only when its meta is written; the old chunks go then', async () => {
    const kv = memoryKeyValue();
    const store = new MergedStore(kv, async () => null, clock());
    const old = bytesOf(30, 3);
    await writeCopy(store, 'r', old, [], 8);
    const w = await store.writer('r', 'new.zip', 8);
    await w.write(bytesOf(20, 4));
    // Mid-write: the meta still points at the old copy, which reads back whole.
    expect(new Uint8Array(await (await store.file('r'))!.file.arrayBuffer())).toEqual(old);
    await w.close();
    expect(new Uint8Array(await (await store.file('r'))!.file.arrayBuffer())).toEqual(bytesOf(20, 4));
    const keys = (await kv.keys()).filter((k) => k.startsWith('merged:r:')).sort();
    const savedAt = (await store.meta('r'))!.savedAt;
    expect(keys).toEqual([0, 1, 2].map((n) => `merged:r:${savedAt}:${n}`));
  });

  test('a quota error deletes the chunks written so far, throws StorageQuotaError, and leaves the previous copy', async () => {
    // The new copy's three chunks are setMany calls 1-3 and its meta call 4: fail at a chunk, then at the meta.
    for (const failAt of [1, 2, 4]) {
      const kv = quotaKeyValue(failAt);
      const store = new MergedStore(kv, async () => null, clock());
      const old = bytesOf(12, 5);
      kv.armed = false;
      await writeCopy(store, 'q', old, [], 8);
      const before = (await kv.keys()).sort();
      kv.armed = true;
      const w = await store.writer('q', 'new.zip', 8);
      const attempt = (async () => {
        await w.write(bytesOf(24, 6));
        await w.close();
      })();
      await expect(attempt).rejects.toBeInstanceOf(StorageQuotaError);
      expect(kv.calls.length).toBe(failAt);
      expect((await kv.keys()).sort()).toEqual(before);
      expect(new Uint8Array(await (await store.file('q'))!.file.arrayBuffer())).toEqual(old);
    }
  });

  test('abort deletes what was written; delete() removes the copy', async () => {
    const kv = memoryKeyValue();
    const store = new MergedStore(kv, async () => null, clock());
    const w = await store.writer('a', 'a.zip', 4);
    await w.write(bytesOf(9, 7));
    expect((await kv.keys()).length).toBe(2);
    await w.abort();
    expect(await kv.keys()).toEqual([]);
    await writeCopy(store, 'a', bytesOf(9, 7), [], 4);
    await writeCopy(store, 'b', bytesOf(3, 7), [], 4);
    await store.delete('a');
    expect((await kv.keys()).every((k) => k.endsWith(':b') || k.startsWith('merged:b:'))).toBe(true);
    expect(await store.file('a')).toBeNull();
  });

  test('a missing chunk is reported, not silently shortened', async () => {
    const kv = memoryKeyValue();
    const store = new MergedStore(kv, async () => null, clock());
    await writeCopy(store, 'x', bytesOf(10, 8), [], 4);
    await kv.delMany(['merged:x:1000:1']);
    await expect(store.file('x')).rejects.toMatchObject({ code: 'no_merged' });
  });

  test('noRoomFor says why with sizes, and says nothing when the browser gives no estimate', async () => {
    const full = new MergedStore(memoryKeyValue(), async () => ({ usage: 900 * 2 ** 20, quota: 1000 * 2 ** 20 }));
    expect(await full.noRoomFor(200 * 2 ** 20)).toMatch(/200\.0 MiB.*100\.0 MiB.*1000\.0 MiB/);
    expect(await full.noRoomFor(50 * 2 ** 20)).toBeNull();
    expect(await new MergedStore(memoryKeyValue(), async () => null).noRoomFor(2 ** 40)).toBeNull();
  });
});
