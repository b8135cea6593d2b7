import { byteLengthOf, numelOf, type Dtype } from './dtype.ts';
import { TensorMismatchError } from './errors.ts';
import type { ModelConfig } from './hf_config.ts';

// The tensors a config implies (formats.md §4.2, plus biases and Qwen3's per-head q/k norms),
// in state-dict order, and the check that a checkpoint holds exactly those with those shapes.

export interface ExpectedTensor {
  name: string;
  shape: number[];
  /** A decoder-layer nn.Linear weight: what QLoRA stores in NF4 and what LoRA attaches to. */
  linear: boolean;
}

export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearModule = (typeof LINEAR_MODULES)[number];

const LINEAR_WEIGHT = /^model\.layers\.\d+\.(self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj\.weight$/;

/** True for the decoder-layer linear weights that QLoRA quantizes (not embeddings, norms, lm_head). */
export function isQuantizedLinear(name: string): boolean {
  return LINEAR_WEIGHT.test(name);
}

/** True for the bias of a decoder-layer Linear (loaded and stored together with its weight). */
export function isLinearBias(name: string): boolean {
  return /^model\.layers\.\d+\.(self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj\.bias$/.test(name);
}

export function layerPrefix(i: number): string {
  return `model.layers.${i}`;
}

export function expectedTensors(config: ModelConfig): ExpectedTensor[] {
  const { hiddenSize: h, intermediateSize: inter, numHeads, numKvHeads, headDim: hd, vocabSize: v } = config;
  const out: ExpectedTensor[] = [];
  const add = (name: string, shape: number[], linear = false) => out.push({ name, shape, linear });
  const linear = (prefix: string, outDim: number, inDim: number, bias: boolean) => {
    add(`${prefix}.weight`, [outDim, inDim], true);
    if (bias) add(`${prefix}.bias`, [outDim]);
  };
  add('model.embed_tokens.weight', [v, h]);
  for (let i = 0; i < config.numLayers; i++) {
    const p = layerPrefix(i);
    // Module registration order: self_attn (q, k, v, o, then q_norm, k_norm), mlp, the two norms.
    linear(`${p}.self_attn.q_proj`, numHeads * hd, h, config.qkvBias);
    linear(`${p}.self_attn.k_proj`, numKvHeads * hd, h, config.qkvBias);
    linear(`${p}.self_attn.v_proj`, numKvHeads * hd, h, config.qkvBias);
    linear(`${p}.self_attn.o_proj`, h, numHeads * hd, config.oBias);
    if (config.qkNorm) {
      add(`${p}.self_attn.q_norm.weight`, [hd]);
      add(`${p}.self_attn.k_norm.weight`, [hd]);
    }
    linear(`${p}.mlp.gate_proj`, inter, h, config.mlpBias);
    linear(`${p}.mlp.up_proj`, inter, h, config.mlpBias);
    linear(`${p}.mlp.down_proj`, h, inter, config.mlpBias);
    add(`${p}.input_layernorm.weight`, [h]);
    add(`${p}.post_attention_layernorm.weight`, [h]);
  }
  add('model.norm.weight', [h]);
  if (!config.tieWordEmbeddings) add('lm_head.weight', [v, h]);
  return out;
}

/** Parameters of the unquantized model (tied embeddings counted once). */
export function parameterCount(config: ModelConfig): number {
  return expectedTensors(config).reduce((n, t) => n + numelOf(t.shape), 0);
}

export interface TensorShapes {
  names(): string[];
  info(name: string): { shape: readonly number[]; dtype: Dtype };
}

// Extra keys a bitsandbytes 4-bit checkpoint stores beside each quantized weight (formats.md §1.8).
const BNB_SUFFIX = /\.weight\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\.bitsandbytes__(nf4|fp4))$/;

/**
 * Checks a checkpoint's tensors against the config: every expected tensor present with its
 * shape, nothing unexpected. Tolerated and returned as `ignored`: old `rotary_emb.inv_freq`
 * buffers, a redundant `lm_head.weight` when embeddings are tied, and bnb 4-bit side tensors.
 * For a pre-quantized config, linear weights are checked by packed size instead of shape.
 */
export function checkTensors(config: ModelConfig, tensors: TensorShapes, where: string): { ignored: string[] } {
  const expected = expectedTensors(config);
  const present = new Set(tensors.names());
  for (const e of expected) {
    if (!present.has(e.name)) {
      throw new TensorMismatchError(where, e.name, `is missing (expected shape ${JSON.stringify(e.shape)} for this ${config.architecture} config); the weights do not match config.json`);
    }
    const { shape, dtype } = tensors.info(e.name);
    if (config.quantization && e.linear) {
      const bytes = byteLengthOf(dtype, shape) ?? 0;
      const n = numelOf(e.shape);
      if (bytes !== Math.ceil(n / 2)) {
        throw new TensorMismatchError(where, e.name, `holds ${bytes} bytes of packed 4-bit data but a ${JSON.stringify(e.shape)} weight needs ${Math.ceil(n / 2)}; the weights do not match config.json`);
      }
    } else if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      throw new TensorMismatchError(where, e.name, `has shape ${JSON.stringify(shape)} but config.json implies ${JSON.stringify(e.shape)}; the weights do not match config.json`);
    }
  }
  const known = new Set(expected.map((e) => e.name));
  const ignored: string[] = [];
  for (const name of present) {
    if (known.has(name)) continue;
    const tolerated =
      name.endsWith('.rotary_emb.inv_freq') || (name === 'lm_head.weight' && config.tieWordEmbeddings) || (config.quantization !== null && BNB_SUFFIX.test(name));
    if (!tolerated) {
      throw new TensorMismatchError(where, name, `is not part of a ${config.architecture} model with this config.json; the weights belong to a different architecture or config`);
    }
    ignored.push(name);
  }
  return { ignored };
}
