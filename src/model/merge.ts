import type { Runtime } from '../engine/runtime.ts';
import { INDEX_FILE, openCheckpoint, type Checkpoint } from '../formats/checkpoint.ts';
import { byteLengthOf, fromFloat32, toFloat32, type FloatDtype } from '../formats/dtype.ts';
import { parseHfConfig, type ModelConfig } from '../formats/hf_config.ts';
import { readJson, type ModelFolder } from '../formats/model_folder.ts';
import { NF4_STATE_SUFFIX, parseNf4Entries, type StoredTensor } from '../formats/nf4_safetensors.ts';
import type { Adapter } from '../formats/peft.ts';
import type { ByteSink, TensorSpec } from '../formats/safetensors_writer.ts';
import { parseSize, writeCheckpoint } from '../formats/shard_plan.ts';
import { checkTensors, isQuantizedLinear } from '../formats/tensor_names.ts';
import { loraScaling } from './lora_targets.ts';
import { checkAdapterFits, isCompanionFile, MergeError, mergedConfigJson, planMergedTensors, quantStateDtype, type MergeTensor } from './merge_plan.ts';
import { mergeOnGpu, type MergeBase } from './merge_weight.ts';

// A LoRA adapter merged into its base model, written as a Hugging Face folder that
// `AutoModelForCausalLM.from_pretrained` loads (formats.md §2.4, §3.4, §3.5). For each target the
// ORIGINAL weight is read again from the source folder (not the NF4 copy training ran on),
// W + scale·B·A is computed on the GPU in f32 and written back in the source dtype (F16/BF16 by
// round-to-nearest-even, as torch's `.to()`); every other tensor is copied byte for byte. One
// tensor is in memory at a time; the output goes through sinks the caller opens (a Node file, a
// File System Access handle, OPFS), so a model larger than memory merges.
//
// `fromNf4` merges into dequant(NF4(W)) instead: what PEFT's merge on a 4-bit model computes before
// it re-quantizes, and the weights the adapter was trained against. Full precision is the better
// default: the merged model then keeps the base's own precision instead of inheriting NF4's
// rounding error in every Linear weight. A bitsandbytes 4-bit source folder has no full-precision
// weights left, so only `fromNf4` can merge it; its weights are written in their original dtype.

export { MergeError } from './merge_plan.ts';

/** 2GB (transformers' save_pretrained defaults to 5GB): smaller files for browser downloads and uploads. */
export const DEFAULT_MERGE_SHARD_SIZE = parseSize('2GB');

export interface MergeOptions {
  /** The base model folder: full-precision safetensors, or a bitsandbytes 4-bit one with fromNf4. */
  model: ModelFolder;
  /** The adapter, read and checked against this model (peft.ts readAdapter). */
  adapter: Adapter;
  /** What to call the adapter in messages. */
  adapterName?: string;
  /** Opens the sink of one output file (a name relative to the output folder). */
  openSink: (file: string) => Promise<ByteSink>;
  /** Bytes per shard before splitting (default 2GB). */
  maxShardSize?: number;
  /** Merge into dequant(NF4(W)) instead of W. */
  fromNf4?: boolean;
  /** With fromNf4 on a full-precision source: quantize with QLoRA double quantization (default true, as loading does). */
  doubleQuant?: boolean;
  onProgress?: (progress: { tensor: string; done: number; total: number }) => void;
}

export interface MergeReport {
  /** Files written, in order (weights, index, side files). */
  files: string[];
  /** Tensors that received W + scale·B·A. */
  merged: number;
  /** 4-bit weights written dequantized without a LoRA pair (bitsandbytes sources). */
  dequantized: number;
  /** Tensors copied byte for byte. */
  copied: number;
  /** Bytes of all output tensors (the index's total_size). */
  tensorBytes: number;
  scale: number;
  source: 'full-precision' | 'nf4-of-full-precision' | 'bitsandbytes-4bit';
}

export async function mergeModel(rt: Runtime, options: MergeOptions): Promise<MergeReport> {
  const { model: folder, adapter, fromNf4 = false, doubleQuant = true } = options;
  const config = parseHfConfig(await readJson(folder, 'config.json'), `${folder.name}/config.json`);
  const checkpoint = await openCheckpoint(folder);
  checkTensors(config, checkpoint, folder.name);
  checkAdapterFits(config, adapter, options.adapterName ?? 'adapter');
  const fourBit = config.quantization !== null;
  if (fourBit && !fromNf4) {
    throw new MergeError(
      `${folder.name} is a bitsandbytes 4-bit checkpoint: its full-precision weights are gone, so a full-precision merge is impossible; merge into the dequantized NF4 weights (--from-nf4), or point at the original full-precision model folder`,
    );
  }
  const nf4Dtypes = fourBit ? await readNf4Dtypes(checkpoint, config) : null;
  const tensors = planMergedTensors(config, checkpoint, adapter, nf4Dtypes);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const scale = loraScaling(adapter.settings.loraAlpha, adapter.settings.r, adapter.settings.useRslora);
  const files: string[] = [];
  const openSink = (file: string) => {
    files.push(file);
    return options.openSink(file);
  };
  let done = 0;
  const produce = async (spec: TensorSpec): Promise<Uint8Array> => {
    const t = byName.get(spec.name)!;
    const bytes = t.kind === 'copy' ? (await checkpoint.readTensor(t.name)).bytes : await mergedBytes(rt, checkpoint, t, { fromNf4, doubleQuant, scale, r: adapter.settings.r });
    options.onProgress?.({ tensor: t.name, done: ++done, total: tensors.length });
    return bytes;
  };
  const plan = await writeCheckpoint(tensors, produce, openSink, { maxShardSize: options.maxShardSize ?? DEFAULT_MERGE_SHARD_SIZE });
  await copyCompanions(folder, openSink);
  const count = (kind: MergeTensor['kind']) => tensors.filter((t) => t.kind === kind).length;
  return {
    files,
    merged: count('merge'),
    dequantized: count('dequantize'),
    copied: count('copy'),
    tensorBytes: plan.index?.metadata.total_size ?? checkpointBytes(tensors),
    scale,
    source: fourBit ? 'bitsandbytes-4bit' : fromNf4 ? 'nf4-of-full-precision' : 'full-precision',
  };
}

interface MergeSettings {
  fromNf4: boolean;
  doubleQuant: boolean;
  scale: number;
  r: number;
}

/** The bytes of one merged (or dequantized) Linear weight, in its output dtype. */
async function mergedBytes(rt: Runtime, checkpoint: Checkpoint, t: MergeTensor, s: MergeSettings): Promise<Uint8Array> {
  const shape: [number, number] = [t.shape[0], t.shape[1]];
  const base = await readBase(checkpoint, t.name, s);
  const lora = t.pair ? { a: t.pair.a, b: t.pair.b, r: s.r, scale: s.scale } : null;
  const values = await mergeOnGpu(rt, t.name, shape, base, lora);
  const bytes = fromFloat32(values, t.dtype as FloatDtype);
  checkFinite(bytes, t, checkpoint.info(t.name).file);
  return bytes;
}

async function readBase(checkpoint: Checkpoint, name: string, s: MergeSettings): Promise<MergeBase> {
  const file = checkpoint.info(name).file;
  if (isQuantizedLinear(name) && checkpoint.has(`${name}${NF4_STATE_SUFFIX}`)) {
    const entries = new Map<string, StoredTensor>();
    for (const key of checkpoint.names()) if (key === name || key.startsWith(`${name}.`)) entries.set(key, await checkpoint.readTensor(key));
    return { kind: 'nf4', weight: parseNf4Entries(name, (key) => entries.get(key), file).weight };
  }
  const t = await checkpoint.readTensor(name);
  // F32 may decode to a view of the source's buffer; the GPU upload only reads it.
  const values = toFloat32(t.dtype, t.bytes);
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new MergeError(`${file}: tensor "${name}" holds ${values[bad]} at element ${bad}; the base checkpoint is corrupt — download it again`);
  return s.fromNf4 ? { kind: 'f32-nf4', values, doubleQuant: s.doubleQuant } : { kind: 'f32', values };
}

/** PEFT's safe_merge refuses a NaN; an overflow to ±Inf in F16/BF16 is as broken. */
function checkFinite(bytes: Uint8Array, t: MergeTensor, file: string): void {
  let bad = -1;
  if (t.dtype === 'F32') {
    bad = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).findIndex((v) => !Number.isFinite(v));
  } else {
    // Exponent bits all ones: ±Inf or NaN (F16 0x7c00, BF16 0x7f80).
    const mask = t.dtype === 'F16' ? 0x7c00 : 0x7f80;
    bad = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2).findIndex((h) => (h & mask) === mask);
  }
  if (bad < 0) return;
  const cause = t.kind === 'merge' ? `W + scale·B·A is not finite in ${t.dtype}; the adapter's weights are too large (did training diverge?)` : `is not finite in ${t.dtype}`;
  throw new MergeError(`${file}: tensor "${t.name}" element ${bad}: ${cause}`);
}

/** Each 4-bit weight's original dtype, from the small quant_state entry beside it. */
async function readNf4Dtypes(checkpoint: Checkpoint, config: ModelConfig): Promise<Map<string, FloatDtype>> {
  const out = new Map<string, FloatDtype>();
  for (const name of checkpoint.names()) {
    if (!isQuantizedLinear(name)) continue;
    const stateName = `${name}${NF4_STATE_SUFFIX}`;
    const file = checkpoint.info(name).file;
    if (!checkpoint.has(stateName)) {
      throw new MergeError(`${file}: tensor "${name}" has no ${stateName} beside it although config.json says the ${config.architecture} checkpoint is 4-bit (only nf4 merges)`);
    }
    const text = new TextDecoder().decode((await checkpoint.readTensor(stateName)).bytes);
    out.set(name, quantStateDtype(text, name, file));
  }
  return out;
}

/** config.json (without quantization_config), generation_config.json and the tokenizer files. */
async function copyCompanions(folder: ModelFolder, openSink: (file: string) => Promise<ByteSink>): Promise<void> {
  const CHUNK = 8 * 2 ** 20;
  for (const file of folder.list()) {
    if (!isCompanionFile(file) || file === INDEX_FILE) continue;
    const sink = await openSink(file);
    try {
      const rewritten = file === 'config.json' ? mergedConfigJson(await folder.readText(file), `${folder.name}/${file}`) : null;
      if (rewritten !== null) {
        await sink.write(new TextEncoder().encode(rewritten));
      } else {
        const source = folder.open(file);
        for (let at = 0; at < source.size; at += CHUNK) await sink.write(await source.read(at, Math.min(CHUNK, source.size - at)));
      }
      await sink.close();
    } catch (e) {
      await sink.abort?.();
      throw e;
    }
  }
}

function checkpointBytes(tensors: readonly MergeTensor[]): number {
  return tensors.reduce((n, t) => n + (byteLengthOf(t.dtype, t.shape) ?? 0), 0);
}
