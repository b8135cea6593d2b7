import { ModelFolderError, TensorMismatchError } from './errors.ts';
import { readJson, type ModelFolder } from './model_folder.ts';
import { openSafetensors, type SafetensorsFile, type TensorData, type TensorInfo } from './safetensors.ts';

// The weights of a Hugging Face model folder as one lookup, whether they are one
// `model.safetensors` or shards listed by `model.safetensors.index.json` (formats.md §3.5).
// Only headers are read here; tensor bytes are read one at a time through `readTensor`.

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export interface CheckpointTensor extends TensorInfo {
  /** The shard (file in the folder) holding it. */
  file: string;
}

export class Checkpoint {
  private readonly byName = new Map<string, { info: CheckpointTensor; shard: SafetensorsFile }>();

  constructor(
    readonly folder: string,
    /** Shard file name → opened file, in index order. */
    readonly shards: ReadonlyMap<string, SafetensorsFile>,
  ) {
    for (const [file, shard] of shards) {
      for (const t of shard.tensors) this.byName.set(t.name, { info: { ...t, file }, shard });
    }
  }

  /** Tensor names, shard by shard in data order. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): CheckpointTensor {
    return this.entry(name).info;
  }

  async readTensor(name: string): Promise<TensorData> {
    return this.entry(name).shard.readTensor(name);
  }

  /** Bytes of all tensors together. */
  get totalBytes(): number {
    let n = 0;
    for (const { info } of this.byName.values()) n += info.byteLength;
    return n;
  }

  private entry(name: string) {
    const e = this.byName.get(name);
    if (!e) throw new TensorMismatchError(this.folder, name, 'is not in the checkpoint');
    return e;
  }
}

/** Opens `model.safetensors`, or else the shards named by `model.safetensors.index.json`. */
export async function openCheckpoint(folder: ModelFolder): Promise<Checkpoint> {
  // transformers looks for the single file first, then the index; so do we.
  if (folder.has(SINGLE_FILE)) {
    const file = await openSafetensors(folder.open(SINGLE_FILE));
    return new Checkpoint(folder.name, new Map([[SINGLE_FILE, file]]));
  }
  if (!folder.has(INDEX_FILE)) {
    const others = folder.list().filter((f) => f.endsWith('.safetensors'));
    const hint = others.length ? ` (found ${others.join(', ')}, which is not a model checkpoint by name)` : '';
    throw new ModelFolderError(folder.name, `has no ${SINGLE_FILE} or ${INDEX_FILE}${hint}; download the model's safetensors weights`);
  }
  const weightMap = await readWeightMap(folder);
  const where = `${folder.name}/${INDEX_FILE}`;
  const shards = new Map<string, SafetensorsFile>();
  for (const [tensor, file] of weightMap) {
    if (shards.has(file)) continue;
    if (!folder.has(file)) throw new ModelFolderError(where, `weight_map puts tensor "${tensor}" in "${file}", but the folder has no such file; download all shards`);
    shards.set(file, await openSafetensors(folder.open(file)));
  }
  const owner = new Map<string, string>();
  for (const [file, shard] of shards) {
    for (const name of shard.names()) {
      const other = owner.get(name);
      if (other !== undefined) throw new ModelFolderError(where, `tensor "${name}" is in two shards, "${other}" and "${file}"; the checkpoint is inconsistent — re-download it`);
      owner.set(name, file);
    }
  }
  for (const [tensor, file] of weightMap) {
    if (owner.get(tensor) !== file) {
      const actual = owner.get(tensor);
      const found = actual === undefined ? 'no shard holds it' : `it is in "${actual}"`;
      throw new ModelFolderError(where, `weight_map puts tensor "${tensor}" in "${file}", but ${found}; re-download the checkpoint`);
    }
  }
  return new Checkpoint(folder.name, shards);
}

async function readWeightMap(folder: ModelFolder): Promise<Map<string, string>> {
  const where = `${folder.name}/${INDEX_FILE}`;
  const index = await readJson(folder, INDEX_FILE);
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new ModelFolderError(where, 'has no "weight_map" object; it is not a safetensors index — re-download it');
  }
  const out = new Map<string, string>();
  for (const [tensor, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file === '') throw new ModelFolderError(where, `weight_map entry for tensor "${tensor}" must be a file name, got ${JSON.stringify(file)}`);
    out.set(tensor, file);
  }
  if (out.size === 0) throw new ModelFolderError(where, 'has an empty weight_map; re-download it');
  return out;
}
