import { ModelFolderError } from './errors.ts';
import type { ModelConfig } from './hf_config.ts';
import { memoryFolder, type ModelFolder } from './model_folder.ts';
import { AdapterError, adapterConfigJson, parseAdapterConfig, projections, type AdapterSettings, type Projection } from './peft_config.ts';
import { openSafetensors, tensorToFloat32 } from './safetensors.ts';
import { serializeSafetensors } from './safetensors_writer.ts';
import { readZip, writeZip } from './zip.ts';

// A PEFT LoRA adapter folder, out and in (formats.md §2.8, §2.9):
//   adapter_model.safetensors  base_model.model.<module path>.lora_A.weight [r, in] F32
//                              base_model.model.<module path>.lora_B.weight [out, r] F32
//                              metadata {"format": "pt"}, laid out as the reference writer does
//   adapter_config.json        PEFT 0.19.1's keys, sorted (peft_config.ts)
//   README.md                  the model card (peft_card.ts), optional on import
// Export → import → export is byte-identical. An imported adapter is checked against the base
// model's config: every setting, every key and every shape, each mismatch an AdapterError naming
// the key. Adapters are small (MBs to a few hundred MB), so they are handled in memory.

export { AdapterError, PEFT_SCHEMA_VERSION, adapterConfigJson, parseAdapterConfig, type AdapterSettings } from './peft_config.ts';

export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_CARD_FILE = 'README.md';
const ADAPTER_FILES = [ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE, ADAPTER_CARD_FILE];

/** The key of a LoRA weight in adapter_model.safetensors: PeftModel prefix, adapter name stripped. */
export function peftKey(modulePath: string, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath}.lora_${which}.weight`;
}

/** One LoRA pair. model/lora_init.ts's LoraPair has this shape. */
export interface LoraTensors {
  target: Projection;
  /** [r, in] row-major */
  a: Float32Array;
  /** [out, r] row-major */
  b: Float32Array;
}

export interface Adapter {
  settings: AdapterSettings;
  /** Layer by layer, q … down within a layer. */
  weights: LoraTensors[];
  /** README.md as it was read or is to be written; null for none. */
  modelCard: string | null;
}

/** adapter_model.safetensors for these pairs, all F32. */
export function adapterWeightsSafetensors(r: number, weights: readonly LoraTensors[]): Uint8Array {
  const tensors = weights.flatMap(({ target: t, a, b }) => {
    if (a.length !== r * t.inFeatures || b.length !== t.outFeatures * r) {
      throw new RangeError(`${t.path}: LoRA A has ${a.length} values and B ${b.length}; r = ${r} needs ${r * t.inFeatures} and ${t.outFeatures * r}`);
    }
    return [
      { name: peftKey(t.path, 'A'), dtype: 'F32' as const, shape: [r, t.inFeatures], bytes: f32Bytes(a) },
      { name: peftKey(t.path, 'B'), dtype: 'F32' as const, shape: [t.outFeatures, r], bytes: f32Bytes(b) },
    ];
  });
  return serializeSafetensors(tensors, { format: 'pt' });
}

/** The adapter folder's files, in the order a zip lists them. */
export function adapterFiles(adapter: Adapter): Map<string, Uint8Array> {
  const encoder = new TextEncoder();
  const files = new Map<string, Uint8Array>();
  files.set(ADAPTER_WEIGHTS_FILE, adapterWeightsSafetensors(adapter.settings.r, adapter.weights));
  files.set(ADAPTER_CONFIG_FILE, encoder.encode(adapterConfigJson(adapter.settings)));
  if (adapter.modelCard !== null) files.set(ADAPTER_CARD_FILE, encoder.encode(adapter.modelCard));
  return files;
}

/** The adapter folder as one .zip (files at the top level, deterministic bytes). */
export function adapterZip(adapter: Adapter): Uint8Array {
  return writeZip([...adapterFiles(adapter)].map(([name, bytes]) => ({ name, bytes })));
}

/**
 * A zipped adapter as a folder: its adapter files, at the top level or inside one folder (as
 * "Compress folder" makes them); other entries (tokenizer files, __MACOSX) are skipped unread.
 */
export function adapterFolderFromZip(zip: Uint8Array, name: string): ModelFolder {
  const found = new Map<string, { path: string; bytes: Uint8Array }>();
  const wanted = (path: string) => !path.startsWith('__MACOSX/') && ADAPTER_FILES.includes(path.split('/').pop()!);
  for (const [path, bytes] of readZip(zip, name, { accept: wanted })) {
    const file = path.split('/').pop()!;
    const other = found.get(file);
    if (other) throw new AdapterError(name, file, `is in the archive twice (${other.path} and ${path}); zip one adapter at a time`);
    found.set(file, { path, bytes });
  }
  return memoryFolder(name, new Map([...found].map(([file, { bytes }]) => [file, bytes])));
}

/** Reads and checks an adapter folder (disk, picked files, memory or an unzipped archive). */
export async function readAdapter(folder: ModelFolder, model: ModelConfig): Promise<Adapter> {
  const where = (file: string) => `${folder.name}/${file}`;
  if (!folder.has(ADAPTER_CONFIG_FILE)) {
    throw new ModelFolderError(where(ADAPTER_CONFIG_FILE), 'is missing; a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors');
  }
  if (!folder.has(ADAPTER_WEIGHTS_FILE)) {
    const pickle = folder.has('adapter_model.bin') ? ' (adapter_model.bin is a pickle, which webtune does not load; save with safe_serialization=True)' : '';
    throw new ModelFolderError(where(ADAPTER_WEIGHTS_FILE), `is missing${pickle}`);
  }
  const settings = parseAdapterConfig(await folder.readText(ADAPTER_CONFIG_FILE), where(ADAPTER_CONFIG_FILE), model);
  const weights = await readAdapterWeights(folder, settings, model);
  const modelCard = folder.has(ADAPTER_CARD_FILE) ? await folder.readText(ADAPTER_CARD_FILE) : null;
  return { settings, weights, modelCard };
}

/** adapter_model.safetensors checked key by key against the targets the config implies. */
async function readAdapterWeights(folder: ModelFolder, settings: AdapterSettings, model: ModelConfig): Promise<LoraTensors[]> {
  const file = `${folder.name}/${ADAPTER_WEIGHTS_FILE}`;
  const st = await openSafetensors(folder.open(ADAPTER_WEIGHTS_FILE));
  const { r } = settings;
  const targets = projections(model).filter((p) => settings.targetModules.includes(p.module));
  const expected = new Map<string, number[]>();
  for (const t of targets) {
    expected.set(peftKey(t.path, 'A'), [r, t.inFeatures]);
    expected.set(peftKey(t.path, 'B'), [t.outFeatures, r]);
  }
  // Every key and shape is checked from the header before any tensor is read, so a wrong
  // file never costs more than its header.
  for (const name of st.names()) {
    if (!expected.has(name)) throw new AdapterError(file, name, unexpectedReason(name, settings));
  }
  for (const [name, shape] of expected) {
    if (!st.has(name)) throw new AdapterError(file, name, `is missing; adapter_config.json targets ${settings.targetModules.join(', ')} in all ${model.numLayers} layers`);
    const got = st.info(name).shape;
    if (got.length !== 2 || got[0] !== shape[0] || got[1] !== shape[1]) {
      throw new AdapterError(file, name, `has shape ${JSON.stringify(got)} but r = ${r} and this model need ${JSON.stringify(shape)}; the adapter belongs to another model or rank`);
    }
  }
  const read = async (name: string): Promise<Float32Array> => {
    const tensor = await st.readTensor(name);
    // F32 decodes to a view of the source's bytes when it can; the adapter gets its own copy.
    const values = tensor.dtype === 'F32' ? tensorToFloat32(tensor, file).slice() : tensorToFloat32(tensor, file);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new AdapterError(file, name, `holds ${values[bad]} at index ${bad}; the adapter is corrupt (did training diverge?)`);
    return values;
  };
  const weights: LoraTensors[] = [];
  for (const target of targets) weights.push({ target, a: await read(peftKey(target.path, 'A')), b: await read(peftKey(target.path, 'B')) });
  return weights;
}

function unexpectedReason(name: string, settings: AdapterSettings): string {
  if (/\.lora_[AB]\.[^.]+\.weight$/.test(name)) return 'still carries an adapter name; PEFT strips it when saving (…lora_A.weight)';
  if (/lora_magnitude_vector/.test(name)) return 'is a DoRA magnitude, which webtune does not implement';
  if (/lora_embedding_[AB]/.test(name)) return 'is an embedding LoRA, which webtune does not implement';
  return `is not a LoRA weight of the modules adapter_config.json targets (${settings.targetModules.join(', ')}) in this model`;
}

function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
