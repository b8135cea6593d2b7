import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.ts';
import { UnsupportedModelError } from '../../../src/formats/errors.ts';
import { parseHfConfig } from '../../../src/formats/hf_config.ts';
import { parameterCount } from '../../../src/formats/tensor_names.ts';
import * as configs from '../../fixtures/hf_configs.ts';

describe('parseHfConfig on real configs', () => {
  it('SmolLM2-135M (Llama, GQA 9:3, tied)', () => {
    const c = parseHfConfig(configs.SMOLLM2_135M);
    expect(c).toMatchObject({
      architecture: 'llama',
      hfArchitectures: ['LlamaForCausalLM'],
      vocabSize: 49152,
      hiddenSize: 576,
      intermediateSize: 1536,
      numLayers: 30,
      numHeads: 9,
      numKvHeads: 3,
      headDim: 64,
      rmsNormEps: 1e-5,
      rope: { theta: 100000, scaling: null },
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 8192,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      qkNorm: false,
      slidingWindow: null,
      bosTokenId: 0,
      eosTokenIds: [0],
      padTokenId: null,
      dtype: 'bfloat16',
      quantization: null,
    });
    expect(parameterCount(c)).toBe(134_515_008);
  });

  it('TinyLlama-1.1B (untied, GQA 32:4)', () => {
    const c = parseHfConfig(configs.TINYLLAMA_1_1B);
    expect(c).toMatchObject({ numKvHeads: 4, headDim: 64, tieWordEmbeddings: false, rope: { theta: 10000, scaling: null } });
  });

  it('Llama-3.2-1B-Instruct (llama3 rope scaling, eos list)', () => {
    const c = parseHfConfig(configs.LLAMA_3_2_1B_INSTRUCT);
    expect(c.rope).toEqual({
      theta: 500000,
      scaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    });
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(c.headDim).toBe(64);
  });

  it('the old rope_scaling key "type" and linear scaling', () => {
    const c = parseHfConfig({ ...configs.TINYLLAMA_1_1B, rope_scaling: { type: 'linear', factor: 2.0 } });
    expect(c.rope.scaling).toEqual({ type: 'linear', factor: 2 });
    const l3 = parseHfConfig({ ...configs.LLAMA_3_2_1B_INSTRUCT, rope_scaling: { ...configs.LLAMA_3_2_1B_INSTRUCT.rope_scaling, rope_type: undefined, type: 'llama3' } });
    expect(l3.rope.scaling?.type).toBe('llama3');
  });

  it('Qwen2.5-0.5B (q/k/v bias, no o bias, sliding window off)', () => {
    const c = parseHfConfig(configs.QWEN2_5_0_5B);
    expect(c).toMatchObject({ architecture: 'qwen2', numHeads: 14, numKvHeads: 2, headDim: 64, qkvBias: true, oBias: false, slidingWindow: null, rmsNormEps: 1e-6 });
    expect(c.rope.theta).toBe(1e6);
  });

  it('Qwen3-0.6B (explicit head_dim ≠ hidden/heads, q/k norm, no bias)', () => {
    const c = parseHfConfig(configs.QWEN3_0_6B);
    expect(c).toMatchObject({ architecture: 'qwen3', headDim: 128, numHeads: 16, qkNorm: true, qkvBias: false, oBias: false, maxPositionEmbeddings: 40960 });
    const biased = parseHfConfig({ ...configs.QWEN3_0_6B, attention_bias: true });
    expect(biased).toMatchObject({ qkvBias: true, oBias: true });
    const { head_dim: _, ...noHeadDim } = configs.QWEN3_0_6B;
    expect(parseHfConfig(noHeadDim).headDim).toBe(128); // Qwen3Config's default, not hidden/heads
  });

  it('Mistral-7B-v0.1 (sliding window 4096; null turns it off; absent means the 4096 default)', () => {
    expect(parseHfConfig(configs.MISTRAL_7B_V0_1)).toMatchObject({ architecture: 'mistral', slidingWindow: 4096, numKvHeads: 8, headDim: 128 });
    expect(parseHfConfig({ ...configs.MISTRAL_7B_V0_1, sliding_window: null }).slidingWindow).toBeNull();
    const { sliding_window: _, ...absent } = configs.MISTRAL_7B_V0_1;
    expect(parseHfConfig(absent).slidingWindow).toBe(4096);
  });

  it('a transformers v5 config with rope_parameters and dtype', () => {
    const v5 = parseHfConfig(configs.LLAMA_3_2_1B_V5);
    const v4 = parseHfConfig(configs.LLAMA_3_2_1B_INSTRUCT);
    expect(v5.rope).toEqual(v4.rope);
    expect(v5.dtype).toBe('bfloat16');
    const plain = parseHfConfig({ ...configs.TINYLLAMA_1_1B, rope_theta: undefined, rope_scaling: undefined, rope_parameters: { rope_type: 'default', rope_theta: 12345 } });
    expect(plain.rope).toEqual({ theta: 12345, scaling: null });
  });

  it('defaults: kv heads = heads, head_dim = hidden/heads, rope_theta 10000', () => {
    const c = parseHfConfig({ model_type: 'llama', vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 });
    expect(c).toMatchObject({ numKvHeads: 2, headDim: 4, rope: { theta: 10000, scaling: null }, rmsNormEps: 1e-6, maxPositionEmbeddings: 2048, eosTokenIds: [] });
  });

  it('a bitsandbytes 4-bit quantization_config', () => {
    const c = parseHfConfig({
      ...configs.SMOLLM2_135M,
      quantization_config: {
        quant_method: 'bitsandbytes',
        _load_in_4bit: true,
        load_in_4bit: true,
        load_in_8bit: false,
        bnb_4bit_quant_type: 'nf4',
        bnb_4bit_use_double_quant: true,
        bnb_4bit_compute_dtype: 'bfloat16',
        bnb_4bit_quant_storage: 'uint8',
      },
    });
    expect(c.quantization).toEqual({ quantType: 'nf4', doubleQuant: true, computeDtype: 'bfloat16', quantStorage: 'uint8' });
  });

  it('published parameter counts', () => {
    for (const [name, count] of Object.entries(configs.PUBLISHED_PARAMETERS)) {
      expect(parameterCount(parseHfConfig(configs[name as keyof typeof configs.PUBLISHED_PARAMETERS])), name).toBe(count);
    }
  });
});

describe('parseHfConfig refuses what webtune cannot run', () => {
  const refuse = (json: unknown, field: string, pattern: RegExp) => {
    let error: unknown;
    try {
      parseHfConfig(json, 'models/x/config.json');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnsupportedModelError);
    expect(error).toBeInstanceOf(InputError);
    const e = error as UnsupportedModelError;
    expect(e.field).toBe(field);
    expect(e.message).toContain('models/x/config.json');
    expect(e.message).toContain(field);
    expect(e.message).toMatch(pattern);
  };
  const base = configs.TINYLLAMA_1_1B;

  it('unknown model_type, listing the supported ones', () => {
    refuse({ ...base, model_type: 'gemma' }, 'model_type', /"gemma" is not supported; webtune supports model_type llama, qwen2, qwen3, mistral/);
    refuse({ ...base, model_type: undefined }, 'model_type', /\(missing\)/);
    refuse([1, 2], '(config)', /config\.json object/);
  });

  it('missing or non-integer required fields', () => {
    refuse({ ...base, hidden_size: undefined }, 'hidden_size', /\(missing\).*positive integer/);
    refuse({ ...base, num_hidden_layers: 22.5 }, 'num_hidden_layers', /22\.5/);
    refuse({ ...base, vocab_size: '32000' }, 'vocab_size', /"32000"/);
    refuse({ ...base, intermediate_size: 0 }, 'intermediate_size', /positive integer/);
  });

  it('heads not divisible by kv heads, hidden not divisible by heads, odd head_dim', () => {
    refuse({ ...base, num_key_value_heads: 5 }, 'num_key_value_heads', /divisor of num_attention_heads \(32\)/);
    refuse({ ...base, hidden_size: 2050 }, 'hidden_size', /multiple of num_attention_heads/);
    refuse({ ...base, head_dim: 63 }, 'head_dim', /even/);
  });

  it('unsupported rope types and partial rotary', () => {
    refuse({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'rope_scaling.rope_type', /"yarn".*"default", "linear" or "llama3"/);
    refuse({ ...base, rope_scaling: { type: 'dynamic', factor: 2 } }, 'rope_scaling.rope_type', /"dynamic"/);
    refuse({ ...base, rope_parameters: { rope_type: 'longrope', rope_theta: 1e4 } }, 'rope_parameters.rope_type', /"longrope"/);
    refuse({ ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'rope_scaling.low_freq_factor', /\(missing\)/);
    refuse({ ...base, partial_rotary_factor: 0.5 }, 'partial_rotary_factor', /full rotary/);
  });

  it('activations other than silu', () => {
    refuse({ ...base, hidden_act: 'gelu' }, 'hidden_act', /"gelu".*silu/);
  });

  it('other quantizations and Qwen sliding windows', () => {
    refuse({ ...base, quantization_config: { quant_method: 'gptq', bits: 4 } }, 'quantization_config.quant_method', /"gptq"/);
    refuse({ ...base, quantization_config: { quant_method: 'bitsandbytes', load_in_8bit: true } }, 'quantization_config.quant_method', /8-bit/);
    refuse({ ...configs.QWEN2_5_0_5B, use_sliding_window: true }, 'use_sliding_window', /use_sliding_window false/);
  });
});
