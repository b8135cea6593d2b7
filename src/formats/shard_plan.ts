import { InputError } from '../errors.ts';
import { byteLengthOf } from './dtype.ts';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint.ts';
import { writeSafetensors, type ByteSink, type TensorSpec } from './safetensors_writer.ts';

// Splitting a state dict into safetensors shards the way huggingface_hub does
// (`split_state_dict_into_shards`, formats.md §3.5), and writing them with the index file.

export const DEFAULT_MAX_SHARD_SIZE = 5_000_000_000; // transformers' "5GB"

export interface ShardIndex {
  metadata: { total_size: number };
  weight_map: Record<string, string>;
}

export interface ShardPlan {
  /** File name → tensor names, in state-dict order. */
  shards: { file: string; tensors: string[] }[];
  /** Null when everything fits one `model.safetensors`. */
  index: ShardIndex | null;
}

export function shardFileName(i: number, n: number): string {
  return n === 1 ? SINGLE_FILE : `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}

/**
 * Greedy in state-dict order: a new shard starts when the next tensor would push the current
 * one past `maxShardSize`; a tensor larger than the limit gets a shard of its own.
 */
export function planShards(tensors: readonly TensorSpec[], maxShardSize = DEFAULT_MAX_SHARD_SIZE): ShardPlan {
  const groups: { names: string[]; size: number }[] = [];
  let current: { names: string[]; size: number } = { names: [], size: 0 };
  let total = 0;
  for (const t of tensors) {
    const size = byteLengthOf(t.dtype, t.shape) ?? 0;
    total += size;
    if (size > maxShardSize) {
      groups.push({ names: [t.name], size });
      continue;
    }
    if (current.size + size > maxShardSize) {
      groups.push(current);
      current = { names: [], size: 0 };
    }
    current.names.push(t.name);
    current.size += size;
  }
  if (current.names.length > 0) groups.push(current);
  const shards = groups.map((g, i) => ({ file: shardFileName(i, groups.length), tensors: g.names }));
  if (shards.length <= 1) return { shards: shards.length ? shards : [{ file: SINGLE_FILE, tensors: [] }], index: null };
  const entries: [string, string][] = shards.flatMap((s) => s.tensors.map((name): [string, string] => [name, s.file]));
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); // json.dumps(sort_keys=True)
  return { shards, index: { metadata: { total_size: total }, weight_map: Object.fromEntries(entries) } };
}

/** HF's `parse_size_to_int`: "5GB" = 5e9, "500MiB" = 500·2^20, or a plain byte count. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)?\s*$/i.exec(text);
  if (!m) throw new InputError('bad_size', `"${text}" is not a size; write it like 5GB, 500MB or 2GiB`);
  const unit = (m[2] ?? '').toUpperCase();
  const powers: Record<string, number> = { '': 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };
  return Math.floor(Number(m[1]) * powers[unit]);
}

export interface WriteCheckpointOptions {
  maxShardSize?: number;
  metadata?: Record<string, string>;
}

/**
 * Writes `tensors` (state-dict order) as `model.safetensors` or as shards plus
 * `model.safetensors.index.json`, asking for one tensor's bytes at a time.
 */
export async function writeCheckpoint(
  tensors: readonly TensorSpec[],
  getBytes: (spec: TensorSpec) => Promise<Uint8Array> | Uint8Array,
  openSink: (file: string) => Promise<ByteSink>,
  options: WriteCheckpointOptions = {},
): Promise<ShardPlan> {
  const plan = planShards(tensors, options.maxShardSize);
  const specs = new Map(tensors.map((t) => [t.name, t]));
  for (const shard of plan.shards) {
    const sink = await openSink(shard.file);
    await writeSafetensors(sink, shard.tensors.map((n) => specs.get(n)!), getBytes, options.metadata);
  }
  if (plan.index) {
    const sink = await openSink(INDEX_FILE);
    await sink.write(new TextEncoder().encode(`${JSON.stringify(plan.index, null, 2)}\n`));
    await sink.close();
  }
  return plan;
}
