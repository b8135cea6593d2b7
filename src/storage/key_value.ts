import { createStore, delMany, get, keys, setMany, type UseStore } from 'idb-keyval';
import { WebtuneError } from '../errors.ts';

// The few key-value operations saved runs need, over IndexedDB (idb-keyval) in the browser and a
// Map in unit tests. Values are anything the structured clone algorithm copies (records,
// Uint8Arrays). Every write of several keys is one transaction: all land or none do.

export interface KeyValue {
  get<T>(key: string): Promise<T | undefined>;
  /** Writes every pair atomically. */
  setMany(entries: [string, unknown][]): Promise<void>;
  delMany(keys: string[]): Promise<void>;
  keys(): Promise<string[]>;
}

/**
 * The browser refused to store more: the origin's quota is used up. `advice` names what to delete
 * (the largest saved runs, by part); nothing saved before was changed, because every write is
 * one transaction.
 */
export class StorageQuotaError extends WebtuneError {
  constructor(
    readonly what: string,
    readonly bytes: number,
    advice = 'Delete saved runs you no longer need, or download the adapter now',
  ) {
    super('storage_quota', `The browser refused to save ${what} (${bytes} bytes, ${formatSize(bytes)}): this site's storage quota is full. ${advice}; nothing saved before was changed.`);
  }
}

/** 1234567 → "1.2 MB" (decimal units, as browsers report storage). */
export function formatSize(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

/** IndexedDB database `webtune`, object store `runs`. Works in pages and workers alike. */
export function indexedDbKeyValue(dbName = 'webtune', storeName = 'runs'): KeyValue {
  let store: UseStore | undefined;
  const use = (): UseStore => (store ??= createStore(dbName, storeName));
  return {
    get: (key) => get(key, use()),
    setMany: (entries) => setMany(entries, use()),
    delMany: (list) => delMany(list, use()),
    keys: async () => (await keys(use())).map(String),
  };
}

/** A Map that copies values in and out as IndexedDB would (tests; a browser without IndexedDB). */
export function memoryKeyValue(): KeyValue & { readonly size: number } {
  const map = new Map<string, unknown>();
  return {
    get size() {
      return map.size;
    },
    get: async <T>(key: string) => (map.has(key) ? (structuredClone(map.get(key)) as T) : undefined),
    setMany: async (entries) => {
      const copies = entries.map(([k, v]) => [k, structuredClone(v)] as const);
      for (const [k, v] of copies) map.set(k, v);
    },
    delMany: async (list) => {
      for (const k of list) map.delete(k);
    },
    keys: async () => [...map.keys()],
  };
}

/** True for the DOMException a browser throws when the quota is exceeded. */
export function isQuotaError(e: unknown): boolean {
  return e instanceof Error && (e.name === 'QuotaExceededError' || /quota/i.test(e.message));
}
