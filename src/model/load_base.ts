import type { Runtime } from '../engine/runtime.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../engine/tensor.ts';
import { openCheckpoint, type Checkpoint } from '../formats/checkpoint.ts';
import { toFloat32 } from '../formats/dtype.ts';
import { TensorMismatchError } from '../formats/errors.ts';
import { parseHfConfig, type ModelConfig } from '../formats/hf_config.ts';
import { readJson, type ModelFolder } from '../formats/model_folder.ts';
import { dynamicMap } from '../formats/nf4_dynamic_map.ts';
import { dequantizeNf4 } from '../formats/nf4.ts';
import { parseNf4Entries, type StoredTensor } from '../formats/nf4_safetensors.ts';
import { checkTensors, expectedTensors, isLinearBias, LINEAR_MODULES, parameterCount, type ExpectedTensor } from '../formats/tensor_names.ts';
import { uploadNf4 } from '../kernels/nf4_alloc.ts';
import { quantizeNf4OnGpu } from '../kernels/nf4_quantize.ts';
import { nf4RowMultiple } from '../kernels/nf4_tensor.ts';
import type { BaseLinear, BaseWeights, LayerWeights, LoadReport } from './base_weights.ts';
import { nf4StorageBytes } from './nf4_density.ts';

// Loading a Hugging Face model folder onto the GPU, tensor by tensor: read one tensor, convert it
// to f32 on the CPU, upload it, and (for decoder-layer Linear weights) quantize it to NF4 on the
// GPU, then let go of it before the next. Never more than one tensor's bytes on the host at once.
// A folder written by `webtune quantize` or by transformers + bitsandbytes (formats.md §1.8) is
// uploaded as it is, without re-quantizing.

export interface LoadOptions {
  /** NF4 (QLoRA, the default) or f32 for the decoder-layer Linear weights. */
  quant: 'nf4' | 'none';
  /** QLoRA double quantization of the absmax (default on). */
  doubleQuant: boolean;
  onProgress?: (progress: { tensor: string; done: number; total: number }) => void;
}

export interface LoadedBase {
  config: ModelConfig;
  weights: BaseWeights;
  report: LoadReport;
  checkpoint: Checkpoint;
}

export async function loadBaseModel(rt: Runtime, folder: ModelFolder, options: LoadOptions): Promise<LoadedBase> {
  const config = parseHfConfig(await readJson(folder, 'config.json'), `${folder.name}/config.json`);
  const checkpoint = await openCheckpoint(folder);
  checkTensors(config, checkpoint, folder.name);
  const loader = new TensorLoader(rt, checkpoint, config, options);
  const expected = expectedTensors(config);
  const loaded = new Map<string, GpuTensor | BaseLinear>();
  for (const [i, tensor] of expected.entries()) {
    // A Linear's bias is loaded with its weight (BaseLinear.bias), not again on its own.
    if (!isLinearBias(tensor.name)) loaded.set(tensor.name, tensor.linear ? await loader.linear(tensor) : await loader.dense(tensor.name));
    options.onProgress?.({ tensor: tensor.name, done: i + 1, total: expected.length });
  }
  await rt.arena.checkAllocations();
  const weights = assemble(config, loaded);
  const gpuBytes = rt.arena.report().live;
  const report: LoadReport = {
    parameters: parameterCount(config),
    quantizedParameters: loader.quantizedParameters,
    quantizedBytes: loader.quantizedBytes,
    bitsPerParameter: loader.quantizedParameters ? (8 * loader.quantizedBytes) / loader.quantizedParameters : 0,
    gpuBytes,
    peakHostBytes: loader.peakHostBytes,
    source: options.quant === 'none' ? 'unquantized' : config.quantization ? 'pre-quantized' : 'quantized-on-load',
  };
  return { config, weights, report, checkpoint };
}

class TensorLoader {
  quantizedParameters = 0;
  quantizedBytes = 0;
  peakHostBytes = 0;
  private readonly nestedCode: Float32Array | null;

  constructor(
    private readonly rt: Runtime,
    private readonly checkpoint: Checkpoint,
    private readonly config: ModelConfig,
    private readonly options: LoadOptions,
  ) {
    this.nestedCode = options.doubleQuant ? dynamicMap() : null;
  }

  /** A frozen f32 tensor (embeddings, norms, biases, lm_head, or a Linear weight with --quant none). */
  async dense(name: string, rowMultiple = 1): Promise<GpuTensor> {
    const data = await this.readF32(name);
    const { shape } = this.checkpoint.info(name);
    const tensor = createTensor(this.rt.arena, name, 'f32', shape.length ? shape : [1], 'base', { rowMultiple });
    uploadTensor(this.rt.device, tensor, data);
    return tensor;
  }

  async linear(expected: ExpectedTensor): Promise<BaseLinear> {
    const name = expected.name;
    const biasName = name.replace(/\.weight$/, '.bias');
    const bias = this.checkpoint.has(biasName) ? await this.dense(biasName) : undefined;
    const [rows, cols] = expected.shape;
    if (this.config.quantization) {
      const stored = await this.readStoredNf4(name);
      if (this.options.quant === 'none') {
        const values = dequantizeNf4(stored);
        const tensor = createTensor(this.rt.arena, name, 'f32', [rows, cols], 'base');
        uploadTensor(this.rt.device, tensor, values);
        return { kind: 'dense', weight: tensor, bias };
      }
      this.count(rows * cols, stored.nested !== null);
      return { kind: 'nf4', weight: uploadNf4(this.rt, name, stored), bias };
    }
    if (this.options.quant === 'none') return { kind: 'dense', weight: await this.dense(name), bias };
    // The f32 copy is scratch: it lives only until the quantize kernels have read it.
    const source = await this.denseScratch(name, rows, cols);
    try {
      const weight = await quantizeNf4OnGpu(this.rt, name, source, this.nestedCode);
      this.count(rows * cols, this.options.doubleQuant);
      return { kind: 'nf4', weight, bias };
    } finally {
      for (const c of source.chunks) this.rt.arena.release(c.buffer);
    }
  }

  private async denseScratch(name: string, rows: number, cols: number): Promise<GpuTensor> {
    const data = await this.readF32(name);
    const tensor = createTensor(this.rt.arena, `${name} (f32 for quantizing)`, 'f32', [rows, cols], 'scratch', { rowMultiple: nf4RowMultiple(cols) });
    uploadTensor(this.rt.device, tensor, data);
    return tensor;
  }

  private async readF32(name: string): Promise<Float32Array> {
    const t = await this.checkpoint.readTensor(name);
    const values = toFloat32(t.dtype, t.bytes);
    // A NaN or ±inf weight would poison every output (and NF4 codes of such a block are undefined).
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new TensorMismatchError(this.checkpoint.info(name).file, name, `holds a non-finite value (${values[bad]}) at element ${bad}; the checkpoint is corrupt — download it again`);
    }
    this.peakHostBytes = Math.max(this.peakHostBytes, t.bytes.byteLength + (values.buffer === t.bytes.buffer ? 0 : values.byteLength));
    return values;
  }

  /** The bitsandbytes entries of one weight (packed bytes, absmax, maps, quant_state), checked. */
  private async readStoredNf4(name: string) {
    const entries = new Map<string, StoredTensor>();
    let bytes = 0;
    for (const key of this.checkpoint.names()) {
      if (key !== name && !key.startsWith(`${name}.`)) continue;
      const t = await this.checkpoint.readTensor(key);
      entries.set(key, { dtype: t.dtype, shape: t.shape, bytes: t.bytes });
      bytes += t.bytes.byteLength;
    }
    this.peakHostBytes = Math.max(this.peakHostBytes, bytes);
    return parseNf4Entries(name, (key) => entries.get(key), this.checkpoint.info(name).file).weight;
  }

  private count(numel: number, doubleQuant: boolean): void {
    this.quantizedParameters += numel;
    this.quantizedBytes += nf4StorageBytes(numel, doubleQuant);
  }
}

function assemble(config: ModelConfig, loaded: Map<string, GpuTensor | BaseLinear>): BaseWeights {
  const tensor = (name: string) => loaded.get(name) as GpuTensor;
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    const linear = {} as LayerWeights['linear'];
    for (const m of LINEAR_MODULES) {
      const group = m === 'gate_proj' || m === 'up_proj' || m === 'down_proj' ? 'mlp' : 'self_attn';
      linear[m] = loaded.get(`${p}.${group}.${m}.weight`) as BaseLinear;
    }
    layers.push({
      inputNorm: tensor(`${p}.input_layernorm.weight`),
      postAttentionNorm: tensor(`${p}.post_attention_layernorm.weight`),
      qNorm: config.qkNorm ? tensor(`${p}.self_attn.q_norm.weight`) : undefined,
      kNorm: config.qkNorm ? tensor(`${p}.self_attn.k_norm.weight`) : undefined,
      linear,
    });
  }
  const embed = tensor('model.embed_tokens.weight');
  return {
    config,
    embed,
    layers,
    norm: tensor('model.norm.weight'),
    lmHead: config.tieWordEmbeddings ? embed : tensor('lm_head.weight'),
  };
}
