import { tinyModel, type TinyModelOptions } from '../fixtures/tiny_model.ts';
import { referenceModel, type LoraWeights, type ReferenceModel } from '../reference/model.ts';
import { randomWeights } from '../reference/model_random.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { dequantizeNf4 } from '../../src/formats/nf4.ts';
import { memoryFolder } from '../../src/formats/model_folder.ts';
import { serializeSafetensors } from '../../src/formats/safetensors_writer.ts';
import type { LinearModule } from '../../src/formats/tensor_names.ts';
import { readNf4 } from '../../src/kernels/nf4_readback.ts';
import { loadBaseModel, type LoadedBase } from '../../src/model/load_base.ts';
import type { LoraArrays } from '../../src/model/lora_params.ts';
import { loraInitStream } from '../../src/train/rng.ts';
import type { ModelOptions } from '../../src/model/model.ts';

// Shared setup of the whole-model GPU tests: a tiny model's shapes with the reference's seeded
// O(1) weights (model_random.ts: the fixture's N(0, 0.02) weights would leave every nonlinearity
// in its linear range), loaded through the real loader (NF4 quantized on the GPU, or f32), and
// the float64 reference built from exactly what the GPU holds: for NF4, each Linear weight read
// back and dequantized (formats.md §1.4).

export interface Loaded {
  base: LoadedBase;
  reference: ReferenceModel;
}

/** The tiny model's folder with its weights replaced by randomWeights(seed), stored as F32. */
function folderWith(options: TinyModelOptions, seed: number) {
  const tiny = tinyModel({ ...options, dtype: 'F32' });
  const weights = randomWeights(tiny.tensors, seed);
  const tensors = [...tiny.tensors].map(([name, t]) => {
    const values = Float32Array.from(weights.get(name)!);
    return { name, dtype: 'F32' as const, shape: t.shape, bytes: new Uint8Array(values.buffer) };
  });
  const files = new Map<string, Uint8Array>([
    ['config.json', tiny.files.get('config.json')!],
    ['model.safetensors', serializeSafetensors(tensors)],
  ]);
  return { files, names: [...tiny.tensors.keys()] };
}

export async function loadTiny(rt: Runtime, options: TinyModelOptions, quant: 'nf4' | 'none', seed = 11): Promise<Loaded> {
  const { files, names } = folderWith(options, seed);
  const base = await loadBaseModel(rt, memoryFolder('tiny', files), { quant, doubleQuant: true });
  const held = new Map<string, Float32Array>();
  const { weights } = base;
  for (const name of names) {
    const m = /^model\.layers\.(\d+)\.\w+\.(\w+_proj)\.weight$/.exec(name);
    const linear = m ? weights.layers[Number(m[1])].linear[m[2] as LinearModule] : null;
    if (linear?.kind === 'nf4') held.set(name, dequantizeNf4(await readNf4(rt, linear.weight)));
    else held.set(name, await readTensorByName(rt, base, name));
  }
  return { base, reference: referenceModel(base.config, held) };
}

async function readTensorByName(rt: Runtime, base: LoadedBase, name: string): Promise<Float32Array> {
  const w = base.weights;
  if (name === 'model.embed_tokens.weight') return readF32(rt.device, w.embed);
  if (name === 'model.norm.weight') return readF32(rt.device, w.norm);
  if (name === 'lm_head.weight') return readF32(rt.device, w.lmHead);
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name)!;
  const layer = w.layers[Number(m[1])];
  const rest = m[2];
  if (rest === 'input_layernorm.weight') return readF32(rt.device, layer.inputNorm);
  if (rest === 'post_attention_layernorm.weight') return readF32(rt.device, layer.postAttentionNorm);
  if (rest === 'self_attn.q_norm.weight') return readF32(rt.device, layer.qNorm!);
  if (rest === 'self_attn.k_norm.weight') return readF32(rt.device, layer.kNorm!);
  const p = /^\w+\.(\w+_proj)\.(weight|bias)$/.exec(rest)!;
  const linear = layer.linear[p[1] as LinearModule];
  return readF32(rt.device, p[2] === 'bias' ? linear.bias! : (linear.weight as never));
}

/** Model options with LoRA on `modules` (PEFT init from seed 1; tests import their own A, B). */
export function loraOptions(modules: readonly LinearModule[], extra: Partial<ModelOptions> & { r?: number; alpha?: number; dropout?: number } = {}): ModelOptions {
  const { r = 4, alpha = 8, dropout = 0, ...rest } = extra;
  return {
    lora: { r, alpha, dropout, modules, rslora: false, init: (t) => loraInitStream(1, t) },
    maxBatch: 2,
    maxSeq: 16,
    gradCheckpointing: false,
    ...rest,
  };
}

/** The reference's float64 LoRA map as the model imports it (f32), and the f32 values back in f64. */
export function toF32(lora: Map<string, LoraWeights>): { gpu: Map<string, LoraArrays>; ref: Map<string, LoraWeights> } {
  const gpu = new Map<string, LoraArrays>();
  const ref = new Map<string, LoraWeights>();
  for (const [path, { A, B }] of lora) {
    const a = Float32Array.from(A);
    const b = Float32Array.from(B);
    gpu.set(path, { A: a, B: b });
    ref.set(path, { A: Float64Array.from(a), B: Float64Array.from(b) });
  }
  return { gpu, ref };
}
