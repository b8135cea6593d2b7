import { InputError } from '../errors.ts';
import type { Checkpoint } from '../formats/checkpoint.ts';
import type { Dtype, FloatDtype } from '../formats/dtype.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { isNf4AuxiliaryKey } from '../formats/nf4_safetensors.ts';
import { AdapterError, peftKey, type Adapter, type LoraTensors } from '../formats/peft.ts';
import type { TensorSpec } from '../formats/safetensors_writer.ts';
import { expectedTensors, isQuantizedLinear } from '../formats/tensor_names.ts';

// What a merged model folder holds, decided from headers alone before any weight is read
// (formats.md §2.4, §3.5): one output tensor per source tensor, in state-dict order, each either
//   merge       a LoRA target's W [out, in]: W + scale·B·A, written in the source dtype
//   dequantize  a 4-bit Linear weight the adapter does not target (bitsandbytes sources only)
//   copy        everything else, byte for byte
// and which side files travel with it. Pure: no GPU, no I/O.

/** Refused inputs and unsafe results of a merge (exit 2 in the CLI). */
export class MergeError extends InputError {
  constructor(message: string) {
    super('merge', message);
  }
}

export interface MergeTensor extends TensorSpec {
  kind: 'merge' | 'dequantize' | 'copy';
  /** The LoRA pair of a 'merge' tensor. */
  pair?: LoraTensors;
}

/**
 * Checks that every LoRA pair of `adapter` fits this model: its target's weight exists with
 * shape [out, in], A has r·in values and B out·r. readAdapter already checks this against the
 * config it was given; an adapter read against another config fails here, naming the key.
 */
export function checkAdapterFits(config: ModelConfig, adapter: Adapter, adapterName: string): void {
  const shapes = new Map(expectedTensors(config).map((t) => [t.name, t.shape]));
  const { r } = adapter.settings;
  if (adapter.weights.length === 0) throw new AdapterError(adapterName, 'target_modules', 'selects no projection; there is nothing to merge');
  for (const { target, a, b } of adapter.weights) {
    const shape = shapes.get(`${target.path}.weight`);
    if (!shape) throw new AdapterError(adapterName, peftKey(target.path, 'A'), `targets ${target.path}, which this ${config.architecture} model (${config.numLayers} layers) does not have`);
    const [out, inF] = shape;
    if (target.inFeatures !== inF || a.length !== r * inF) {
      throw new AdapterError(adapterName, peftKey(target.path, 'A'), `has ${a.length} values for [${r}, ${target.inFeatures}] but ${target.path}.weight is [${out}, ${inF}]; the adapter belongs to another model`);
    }
    if (target.outFeatures !== out || b.length !== out * r) {
      throw new AdapterError(adapterName, peftKey(target.path, 'B'), `has ${b.length} values for [${target.outFeatures}, ${r}] but ${target.path}.weight is [${out}, ${inF}]; the adapter belongs to another model`);
    }
  }
  const paths = adapter.weights.map((w) => w.target.path);
  const twice = paths.find((p, i) => paths.indexOf(p) !== i);
  if (twice) throw new AdapterError(adapterName, peftKey(twice, 'A'), 'appears twice in the adapter');
}

/** A float dtype the merge can write back, or a MergeError naming the tensor. */
export function mergeableDtype(dtype: Dtype, tensor: string, where: string): FloatDtype {
  if (dtype === 'F32' || dtype === 'F16' || dtype === 'BF16') return dtype;
  throw new MergeError(`${where}: tensor "${tensor}" is ${dtype}; a LoRA merge writes F32, F16 or BF16 weights`);
}

/**
 * The output tensors in state-dict order (the config's order, then anything else the checkpoint
 * holds, such as an old rotary inv_freq). `nf4Dtypes` gives, for a bitsandbytes source, each
 * 4-bit weight's original dtype (its quant_state "dtype"); its side tensors are dropped.
 */
export function planMergedTensors(config: ModelConfig, checkpoint: Checkpoint, adapter: Adapter, nf4Dtypes: ReadonlyMap<string, FloatDtype> | null): MergeTensor[] {
  const pairs = new Map(adapter.weights.map((w) => [`${w.target.path}.weight`, w]));
  const expected = new Map(expectedTensors(config).map((t) => [t.name, t]));
  const names = [...expected.keys()].filter((n) => checkpoint.has(n));
  for (const n of checkpoint.names()) if (!expected.has(n)) names.push(n);
  const out: MergeTensor[] = [];
  for (const name of names) {
    if (nf4Dtypes && isNf4AuxiliaryKey(name)) continue;
    const info = checkpoint.info(name);
    const pair = pairs.get(name);
    const fourBit = nf4Dtypes !== null && isQuantizedLinear(name);
    if (!pair && !fourBit) {
      out.push({ kind: 'copy', name, dtype: info.dtype, shape: info.shape.slice() });
      continue;
    }
    const shape = expected.get(name)!.shape.slice();
    const dtype = fourBit ? nf4Dtypes.get(name)! : mergeableDtype(info.dtype, name, info.file);
    out.push(pair ? { kind: 'merge', name, dtype, shape, pair } : { kind: 'dequantize', name, dtype, shape });
  }
  return out;
}

/** bitsandbytes' quant_state "dtype" (torch's name) as a safetensors dtype. */
export function quantStateDtype(text: string, tensor: string, where: string): FloatDtype {
  let dtype: unknown;
  try {
    dtype = (JSON.parse(text) as { dtype?: unknown }).dtype;
  } catch {
    dtype = undefined;
  }
  const map: Record<string, FloatDtype> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };
  if (typeof dtype === 'string' && dtype in map) return map[dtype];
  throw new MergeError(`${where}: tensor "${tensor}" has no float "dtype" (float32, float16 or bfloat16) in its quant_state; the 4-bit checkpoint is corrupt`);
}

// transformers' side files a merged folder needs to load and to tokenize: the config, the
// generation defaults and every tokenizer format (fast, SentencePiece, BPE vocab + merges,
// tiktoken, chat templates). Weights in other formats, READMEs and licences of the base model
// are left out: the merged folder is a new model.
const COMPANION = /^(config\.json|generation_config\.json|tokenizer(_config)?\.json|tokenizer\.model|special_tokens_map\.json|added_tokens\.json|vocab\.(json|txt)|merges\.txt|spiece\.model|chat_template\.(jinja|json)|[^/]*\.tiktoken)$/;

export function isCompanionFile(file: string): boolean {
  return COMPANION.test(file);
}

/**
 * config.json for the merged folder: unchanged (null) unless it carries a quantization_config,
 * which is removed so that transformers loads the weights as the plain tensors they now are.
 */
export function mergedConfigJson(text: string, where: string): string | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MergeError(`${where}: is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !('quantization_config' in json)) return null;
  const rest: Record<string, unknown> = { ...json };
  delete rest.quantization_config;
  return `${JSON.stringify(rest, null, 2)}\n`;
}
