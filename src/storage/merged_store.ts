import { InputError } from '../errors.ts';
import type { ByteSink } from '../formats/safetensors_writer.ts';
import { isQuotaError, StorageQuotaError, type KeyValue } from './key_value.ts';

// A saved run's merged model (.zip) kept in IndexedDB (issue #5), as Blob chunks beside the run:
//   merged:<runId>:<savedAt>:<n>   Blob, n = 0, 1, …; every chunk but the last is `chunkBytes`
//   mergedmeta:<runId>             MergedMeta, written LAST: a copy exists once its meta does
// The chunks carry their copy's savedAt so a new copy never overwrites the one the meta points
// at: the previous copy stays whole until the new meta replaces it, then its chunks are deleted.
// Chunks of a copy that never got its meta (a quota error, a closed tab) are deleted on the next
// write. Deleting the run deletes every `merged:<id>:*` key and the meta with it (run_store.ts).
// Blobs, not ArrayBuffers: IndexedDB keeps them on disk, and one Blob re-assembled from the
// chunks (`new Blob(chunks)`) crosses postMessage without copying gigabytes.

export interface MergedMeta {
  fileName: string;
  bytes: number;
  chunks: number;
  /** ms since the epoch; also names the copy's chunk keys. */
  savedAt: number;
}

export const MERGED_CHUNK_BYTES = 32 * 2 ** 20;

const metaKey = (runId: string) => `mergedmeta:${runId}`;
const chunkPrefix = (runId: string) => `merged:${runId}:`;
const chunkKey = (runId: string, savedAt: number, n: number) => `${chunkPrefix(runId)}${savedAt}:${n}`;

/** What the browser says about the origin's storage; null where it cannot tell (Node). */
export type StorageEstimateFn = () => Promise<{ usage?: number; quota?: number } | null>;

export function browserEstimate(): Promise<{ usage?: number; quota?: number } | null> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  return storage?.estimate ? storage.estimate() : Promise.resolve(null);
}

export class MergedStore {
  constructor(
    private readonly kv: KeyValue,
    private readonly estimate: StorageEstimateFn = browserEstimate,
    private readonly now: () => number = Date.now,
  ) {}

  async meta(runId: string): Promise<MergedMeta | undefined> {
    return this.kv.get<MergedMeta>(metaKey(runId));
  }

  /** The kept .zip as one Blob, or null when none was kept. */
  async file(runId: string): Promise<{ fileName: string; file: Blob } | null> {
    const meta = await this.meta(runId);
    if (!meta) return null;
    const chunks: Blob[] = [];
    for (let n = 0; n < meta.chunks; n++) {
      const chunk = await this.kv.get<Blob>(chunkKey(runId, meta.savedAt, n));
      if (!chunk) throw new InputError('no_merged', `Part ${n + 1} of ${meta.chunks} of the merged model kept for this run is missing from the browser's storage; export it again.`);
      chunks.push(chunk);
    }
    const file = new Blob(chunks, { type: 'application/zip' });
    if (file.size !== meta.bytes) throw new InputError('no_merged', `The merged model kept for this run has ${file.size} bytes instead of ${meta.bytes}; export it again.`);
    return { fileName: meta.fileName, file };
  }

  /**
   * Why `bytes` more would not fit in the origin's quota (with sizes), or null when it fits or the
   * browser does not say. A tenth is left spare: the estimate is coarse and other writes go on.
   */
  async noRoomFor(bytes: number): Promise<string | null> {
    const e = await this.estimate().catch(() => null);
    if (!e || e.quota === undefined || e.usage === undefined) return null;
    const free = e.quota - e.usage;
    if (bytes * 1.1 <= free) return null;
    return `it takes about ${mib(bytes)} and this site has ${mib(Math.max(0, free))} of its ${mib(e.quota)} storage quota free`;
  }

  /**
   * A sink that stores the bytes written as the run's next merged copy: chunks as they fill, the
   * meta on close(). A quota error deletes the chunks written so far and throws StorageQuotaError;
   * abort() deletes them too. Either way the previous copy is untouched.
   */
  async writer(runId: string, fileName: string, chunkBytes = MERGED_CHUNK_BYTES): Promise<ByteSink & { readonly bytes: number; abort(): Promise<void> }> {
    await this.dropOrphans(runId);
    const savedAt = Math.max(this.now(), ((await this.meta(runId))?.savedAt ?? 0) + 1);
    const kv = this.kv;
    const dropOrphans = () => this.dropOrphans(runId);
    let parts: Uint8Array[] = [];
    let pending = 0;
    let chunks = 0;
    let bytes = 0;
    let state: 'open' | 'closed' | 'dropped' = 'open';
    const drop = async () => {
      state = 'dropped';
      parts = [];
      await kv.delMany(Array.from({ length: chunks }, (_, n) => chunkKey(runId, savedAt, n)));
    };
    const put = async (entries: [string, unknown][]) => {
      try {
        await kv.setMany(entries);
      } catch (e) {
        await drop();
        if (isQuotaError(e)) throw new StorageQuotaError(`a copy of the merged model (${fileName}) with its run`, bytes, 'Delete saved runs you no longer need to keep a copy next time');
        throw e;
      }
    };
    const flush = async () => {
      // The Blob copies the parts now, so the caller may reuse its buffers afterwards.
      const blob = new Blob(parts as BlobPart[]);
      parts = [];
      pending = 0;
      await put([[chunkKey(runId, savedAt, chunks), blob]]);
      chunks++;
    };
    return {
      get bytes() {
        return bytes;
      },
      async write(chunk) {
        if (state !== 'open') throw new RangeError(`the merged copy of run ${runId} is ${state}`);
        bytes += chunk.byteLength;
        let at = 0;
        while (at < chunk.byteLength) {
          const take = Math.min(chunkBytes - pending, chunk.byteLength - at);
          parts.push(chunk.subarray(at, at + take));
          pending += take;
          at += take;
          if (pending === chunkBytes) await flush();
        }
      },
      async close() {
        if (state !== 'open') return;
        if (pending > 0) await flush();
        const meta: MergedMeta = { fileName, bytes, chunks, savedAt };
        await put([[metaKey(runId), meta]]);
        state = 'closed';
        await dropOrphans();
      },
      async abort() {
        if (state === 'open') await drop();
      },
    } satisfies ByteSink & { bytes: number; abort(): Promise<void> };
  }

  /** Deletes the run's merged copy. */
  async delete(runId: string): Promise<void> {
    const keys = (await this.kv.keys()).filter((k) => k.startsWith(chunkPrefix(runId)));
    await this.kv.delMany([metaKey(runId), ...keys]);
  }

  /** Deletes chunks that belong to no meta: a replaced copy, or one that never finished. */
  private async dropOrphans(runId: string): Promise<void> {
    const meta = await this.meta(runId);
    const live = meta ? `${chunkPrefix(runId)}${meta.savedAt}:` : null;
    const stale = (await this.kv.keys()).filter((k) => k.startsWith(chunkPrefix(runId)) && (live === null || !k.startsWith(live)));
    if (stale.length) await this.kv.delMany(stale);
  }
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
