import type { RunRecord } from './run_store.ts';

// What one saved run keeps, part by part, and which keys are its own. Sizes come from the record
// (written with each part) and from `mergedmeta:<id>` (merged_store.ts), so listing runs reads no
// large value.

export type { MergedMeta } from './merged_store.ts';

/** Bytes by part; `record` is the record and history as JSON (their length, near enough). */
export interface RunParts {
  record: number;
  dataset: number;
  checkpoint: number;
  adapter: number;
  merged: number;
  total: number;
}

export function runParts(r: RunRecord, mergedBytes: number): RunParts {
  const parts = {
    record: JSON.stringify(r).length + r.historyBytes,
    dataset: r.datasetBytes,
    checkpoint: r.checkpoint?.bytes ?? 0,
    adapter: r.adapterBytes,
    merged: mergedBytes,
  };
  return { ...parts, total: Object.values(parts).reduce((a, b) => a + b, 0) };
}

const PART_LABELS: Record<Exclude<keyof RunParts, 'total'>, string> = {
  record: 'history',
  dataset: 'dataset copy',
  checkpoint: 'checkpoint',
  adapter: 'adapter',
  merged: 'merged model',
};

/** The part that takes at least half of the run's bytes, named for the user, or null. */
export function dominantPart(p: RunParts): string | null {
  const [key, bytes] = (Object.keys(PART_LABELS) as (keyof typeof PART_LABELS)[]).map((k) => [k, p[k]] as const).sort((a, b) => b[1] - a[1])[0];
  return bytes > 0 && bytes * 2 >= p.total ? PART_LABELS[key] : null;
}

/** True for `<kind>:<id>` and `<kind>:<id>:<anything>` (run ids hold no colon). */
export function runKeyBelongsTo(key: string, id: string): boolean {
  const colon = key.indexOf(':');
  if (colon < 0) return false;
  const rest = key.slice(colon + 1);
  return rest === id || rest.startsWith(`${id}:`);
}
