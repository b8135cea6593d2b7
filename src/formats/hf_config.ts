import { UnsupportedModelError } from './errors.ts';

// Hugging Face config.json → one normalized ModelConfig (formats.md §4.1, §4.4, §4.5; Qwen3 as
// in transformers' Qwen3Config). Defaults are the config classes' own, so a field missing from
// config.json means what it means to transformers. Anything we cannot run is refused here, once,
// with an UnsupportedModelError naming the field.

export type Architecture = 'llama' | 'qwen2' | 'qwen3' | 'mistral';
export const ARCHITECTURES: readonly Architecture[] = ['llama', 'qwen2', 'qwen3', 'mistral'];

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export interface Bnb4bitConfig {
  quantType: 'nf4' | 'fp4';
  doubleQuant: boolean;
  /** bnb_4bit_compute_dtype; null means float32 (the BitsAndBytesConfig default). */
  computeDtype: string | null;
  /** bnb_4bit_quant_storage; null means uint8. */
  quantStorage: string | null;
}

export interface ModelConfig {
  /** config.json model_type. */
  architecture: Architecture;
  /** config.json `architectures`, e.g. ["LlamaForCausalLM"]; informational. */
  hfArchitectures: string[];
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Defaults to numHeads (no GQA). */
  numKvHeads: number;
  /** Explicit head_dim, else hiddenSize / numHeads (Qwen3: default 128). */
  headDim: number;
  rmsNormEps: number;
  rope: { theta: number; scaling: RopeScaling | null };
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** q_proj, k_proj, v_proj carry a bias (Qwen2 always; others with attention_bias). */
  qkvBias: boolean;
  /** o_proj carries a bias (attention_bias in Llama/Mistral/Qwen3; never in Qwen2). */
  oBias: boolean;
  /** gate/up/down carry a bias (Llama mlp_bias). */
  mlpBias: boolean;
  /** Qwen3: RMSNorm over head_dim on q and k (self_attn.q_norm / k_norm, shape [headDim]). */
  qkNorm: boolean;
  /** Sliding-window attention width in tokens, or null for full causal attention. */
  slidingWindow: number | null;
  bosTokenId: number | null;
  /** eos_token_id as a list (Llama 3 configs give several). */
  eosTokenIds: number[];
  padTokenId: number | null;
  /** torch_dtype (v4) or dtype (v5) when one of the three float types; null otherwise. */
  dtype: 'float32' | 'float16' | 'bfloat16' | null;
  /** A pre-quantized bitsandbytes 4-bit checkpoint (formats.md §1.8); null for plain weights. */
  quantization: Bnb4bitConfig | null;
}

const DEFAULTS: Record<Architecture, { maxPositions: number; headDim: number | null; slidingWindow: number | null }> = {
  llama: { maxPositions: 2048, headDim: null, slidingWindow: null },
  mistral: { maxPositions: 4096 * 32, headDim: null, slidingWindow: 4096 },
  qwen2: { maxPositions: 32768, headDim: null, slidingWindow: null },
  qwen3: { maxPositions: 32768, headDim: 128, slidingWindow: null },
};

export function parseHfConfig(json: unknown, file = 'config.json'): ModelConfig {
  const unsupported = (field: string, value: unknown, supported: string) => new UnsupportedModelError(field, value, supported, file);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw unsupported('(config)', json, 'a config.json object from a Hugging Face model');
  }
  const c = json as Record<string, unknown>;
  const arch = c.model_type;
  if (!ARCHITECTURES.includes(arch as Architecture)) {
    throw unsupported('model_type', arch, `model_type ${ARCHITECTURES.join(', ')} (incl. SmolLM2, TinyLlama, Llama 3.x, Qwen2.5, Qwen3, Mistral)`);
  }
  const architecture = arch as Architecture;
  const defaults = DEFAULTS[architecture];

  const int = (field: string, fallback?: number): number => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw unsupported(field, c[field], 'a positive integer here');
    return v;
  };
  const num = (field: string, fallback: number): number => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw unsupported(field, c[field], 'a positive number here');
    return v;
  };
  const bool = (field: string, fallback: boolean): boolean => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'boolean') throw unsupported(field, v, 'true or false here');
    return v;
  };

  const hiddenAct = c.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') throw unsupported('hidden_act', hiddenAct, 'hidden_act "silu" (SwiGLU MLP)');

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw unsupported('num_key_value_heads', numKvHeads, `a divisor of num_attention_heads (${numHeads})`);
  }
  let headDim: number;
  if (c.head_dim != null || defaults.headDim !== null) headDim = int('head_dim', defaults.headDim ?? undefined);
  else if (hiddenSize % numHeads === 0) headDim = hiddenSize / numHeads;
  else throw unsupported('hidden_size', hiddenSize, `a multiple of num_attention_heads (${numHeads}) when head_dim is not given`);
  if (headDim % 2 !== 0) throw unsupported('head_dim', headDim, 'an even head_dim (RoPE rotates pairs)');

  const useSliding = architecture === 'qwen2' || architecture === 'qwen3' ? bool('use_sliding_window', false) : false;
  if (useSliding) throw unsupported('use_sliding_window', true, 'Qwen models with use_sliding_window false (per-layer windows are not implemented)');
  let slidingWindow: number | null = null;
  if (architecture === 'mistral') {
    slidingWindow = c.sliding_window === null ? null : int('sliding_window', defaults.slidingWindow ?? undefined);
  }

  const attentionBias = bool('attention_bias', false);
  const qwen2 = architecture === 'qwen2';
  return {
    architecture,
    hfArchitectures: Array.isArray(c.architectures) ? c.architectures.filter((a): a is string => typeof a === 'string') : [],
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    rope: parseRope(c, unsupported),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    maxPositionEmbeddings: int('max_position_embeddings', defaults.maxPositions),
    qkvBias: qwen2 || attentionBias,
    oBias: !qwen2 && attentionBias,
    mlpBias: architecture === 'llama' ? bool('mlp_bias', false) : false,
    qkNorm: architecture === 'qwen3',
    slidingWindow,
    bosTokenId: tokenId(c.bos_token_id),
    eosTokenIds: eosIds(c.eos_token_id),
    padTokenId: tokenId(c.pad_token_id),
    dtype: floatDtype(c.dtype ?? c.torch_dtype),
    quantization: parseQuantization(c.quantization_config, unsupported),
  };
}

type Unsupported = (field: string, value: unknown, supported: string) => UnsupportedModelError;

const ROPE_TYPES = 'rope type "default", "linear" or "llama3"';

/** rope_theta + rope_scaling (v4), or the v5 rope_parameters dict holding both (formats.md §4.1). */
function parseRope(c: Record<string, unknown>, unsupported: Unsupported): ModelConfig['rope'] {
  const params = c.rope_parameters;
  const fromV5 = typeof params === 'object' && params !== null && !Array.isArray(params);
  const where = fromV5 ? 'rope_parameters' : 'rope_scaling';
  const dict = (fromV5 ? params : c.rope_scaling) as Record<string, unknown> | null | undefined;
  const thetaRaw = (fromV5 ? (params as Record<string, unknown>).rope_theta : undefined) ?? c.rope_theta ?? 10000;
  if (typeof thetaRaw !== 'number' || !(thetaRaw > 0)) throw unsupported(fromV5 ? 'rope_parameters.rope_theta' : 'rope_theta', thetaRaw, 'a positive number');
  const partial = (fromV5 ? (params as Record<string, unknown>).partial_rotary_factor : undefined) ?? c.partial_rotary_factor;
  if (partial != null && partial !== 1) throw unsupported('partial_rotary_factor', partial, 'full rotary embeddings (1.0)');
  if (dict == null) return { theta: thetaRaw, scaling: null };
  if (typeof dict !== 'object' || Array.isArray(dict)) throw unsupported(where, dict, `an object with a ${ROPE_TYPES}`);
  const type = dict.rope_type ?? dict.type ?? 'default';
  const positive = (key: string): number => {
    const v = dict[key];
    if (typeof v !== 'number' || !(v > 0)) throw unsupported(`${where}.${key}`, v, `a positive number for rope type "${String(type)}"`);
    return v;
  };
  switch (type) {
    case 'default':
      return { theta: thetaRaw, scaling: null };
    case 'linear':
      return { theta: thetaRaw, scaling: { type: 'linear', factor: positive('factor') } };
    case 'llama3': {
      const scaling = {
        type: 'llama3' as const,
        factor: positive('factor'),
        lowFreqFactor: positive('low_freq_factor'),
        highFreqFactor: positive('high_freq_factor'),
        originalMaxPositionEmbeddings: positive('original_max_position_embeddings'),
      };
      if (scaling.highFreqFactor <= scaling.lowFreqFactor) throw unsupported(`${where}.high_freq_factor`, scaling.highFreqFactor, 'a value above low_freq_factor');
      return { theta: thetaRaw, scaling };
    }
    default:
      throw unsupported(`${where}.rope_type`, type, ROPE_TYPES);
  }
}

function parseQuantization(q: unknown, unsupported: Unsupported): Bnb4bitConfig | null {
  if (q == null) return null;
  const qc = q as Record<string, unknown>;
  const method = qc.quant_method;
  const fourBit = qc.load_in_4bit === true || qc._load_in_4bit === true;
  if (method !== 'bitsandbytes' || !fourBit) {
    throw unsupported('quantization_config.quant_method', method === 'bitsandbytes' ? 'bitsandbytes 8-bit' : method, 'unquantized checkpoints or bitsandbytes 4-bit (nf4) ones');
  }
  const quantType = qc.bnb_4bit_quant_type ?? 'fp4';
  if (quantType !== 'nf4' && quantType !== 'fp4') throw unsupported('quantization_config.bnb_4bit_quant_type', quantType, '"nf4" or "fp4"');
  return {
    quantType,
    doubleQuant: qc.bnb_4bit_use_double_quant === true,
    computeDtype: typeof qc.bnb_4bit_compute_dtype === 'string' ? qc.bnb_4bit_compute_dtype : null,
    quantStorage: typeof qc.bnb_4bit_quant_storage === 'string' ? qc.bnb_4bit_quant_storage : null,
  };
}

function tokenId(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

function eosIds(v: unknown): number[] {
  const list = Array.isArray(v) ? v : [v];
  return list.map(tokenId).filter((x): x is number => x !== null);
}

function floatDtype(v: unknown): ModelConfig['dtype'] {
  return v === 'float32' || v === 'float16' || v === 'bfloat16' ? v : null;
}
