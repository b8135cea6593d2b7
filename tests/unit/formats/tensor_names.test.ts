import { describe, expect, it } from 'vitest';
import { TensorMismatchError } from '../../../src/formats/errors.ts';
import { parseHfConfig } from '../../../src/formats/hf_config.ts';
import { nf4Bytes, nf4ModelBytes } from '../../../src/formats/nf4_size.ts';
import { checkTensors, expectedTensors, isQuantizedLinear, type TensorShapes } from '../../../src/formats/tensor_names.ts';
import * as configs from '../../fixtures/hf_configs.ts';
import { TINY_PRESETS, tinyModel } from '../../fixtures/tiny_model.ts';

function shapes(list: [string, number[]][]): TensorShapes {
  const map = new Map(list);
  return { names: () => [...map.keys()], info: (n) => ({ shape: map.get(n)!, dtype: 'BF16' }) };
}

describe('expected tensors', () => {
  it('SmolLM2-135M: §4.2 names and shapes, tied so no lm_head', () => {
    const t = expectedTensors(parseHfConfig(configs.SMOLLM2_135M));
    expect(t.length).toBe(1 + 30 * 9 + 1);
    expect(t[0]).toEqual({ name: 'model.embed_tokens.weight', shape: [49152, 576], linear: false });
    const byName = new Map(t.map((x) => [x.name, x.shape]));
    expect(byName.get('model.layers.29.self_attn.k_proj.weight')).toEqual([192, 576]);
    expect(byName.get('model.layers.0.self_attn.o_proj.weight')).toEqual([576, 576]);
    expect(byName.get('model.layers.0.mlp.down_proj.weight')).toEqual([576, 1536]);
    expect(byName.has('lm_head.weight')).toBe(false);
    expect(t.at(-1)!.name).toBe('model.norm.weight');
  });

  it('Qwen2.5: q/k/v biases; Qwen3: q_norm/k_norm of head_dim', () => {
    const q2 = new Map(expectedTensors(parseHfConfig(configs.QWEN2_5_0_5B)).map((x) => [x.name, x.shape]));
    expect(q2.get('model.layers.0.self_attn.q_proj.bias')).toEqual([896]);
    expect(q2.get('model.layers.0.self_attn.k_proj.bias')).toEqual([128]);
    expect(q2.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
    const q3 = new Map(expectedTensors(parseHfConfig(configs.QWEN3_0_6B)).map((x) => [x.name, x.shape]));
    expect(q3.get('model.layers.3.self_attn.q_norm.weight')).toEqual([128]);
    expect(q3.get('model.layers.3.self_attn.k_norm.weight')).toEqual([128]);
    expect(q3.get('model.layers.3.self_attn.q_proj.weight')).toEqual([2048, 1024]);
    expect(q3.get('model.layers.3.self_attn.o_proj.weight')).toEqual([1024, 2048]);
    expect(q3.has('model.layers.0.self_attn.q_proj.bias')).toBe(false);
  });

  it('Llama with attention_bias and mlp_bias gets every bias', () => {
    const t = expectedTensors(parseHfConfig({ ...configs.TINYLLAMA_1_1B, attention_bias: true, mlp_bias: true, num_hidden_layers: 1 }));
    expect(t.filter((x) => x.name.endsWith('.bias')).map((x) => x.name.split('.').at(-2))).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  });

  it('marks exactly the decoder linear weights as quantizable', () => {
    expect(isQuantizedLinear('model.layers.12.mlp.gate_proj.weight')).toBe(true);
    expect(isQuantizedLinear('model.layers.0.self_attn.q_proj.bias')).toBe(false);
    expect(isQuantizedLinear('model.embed_tokens.weight')).toBe(false);
    expect(isQuantizedLinear('lm_head.weight')).toBe(false);
    expect(isQuantizedLinear('model.layers.0.self_attn.q_norm.weight')).toBe(false);
    const t = expectedTensors(parseHfConfig(configs.QWEN3_0_6B));
    expect(t.filter((x) => x.linear).length).toBe(28 * 7);
    expect(t.every((x) => x.linear === isQuantizedLinear(x.name))).toBe(true);
  });
});

describe('checkTensors', () => {
  const config = parseHfConfig({ ...configs.TINYLLAMA_1_1B, num_hidden_layers: 1 });
  const good = () => expectedTensors(config).map((t): [string, number[]] => [t.name, t.shape]);

  it('passes a matching set and ignores rotary_emb.inv_freq', () => {
    const list = good();
    list.push(['model.layers.0.self_attn.rotary_emb.inv_freq', [32]]);
    expect(checkTensors(config, shapes(list), 'tinyllama').ignored).toEqual(['model.layers.0.self_attn.rotary_emb.inv_freq']);
  });

  it('names a missing tensor', () => {
    const list = good().filter(([n]) => n !== 'model.layers.0.mlp.up_proj.weight');
    expect(() => checkTensors(config, shapes(list), 'tinyllama')).toThrow(TensorMismatchError);
    expect(() => checkTensors(config, shapes(list), 'tinyllama')).toThrow(/^tinyllama: tensor "model\.layers\.0\.mlp\.up_proj\.weight": is missing \(expected shape \[5632,2048\]/);
  });

  it('names a tensor of the wrong shape', () => {
    const list = good().map(([n, s]): [string, number[]] => [n, n === 'model.layers.0.self_attn.k_proj.weight' ? [2048, 2048] : s]);
    expect(() => checkTensors(config, shapes(list), 'tinyllama')).toThrow(/tensor "model\.layers\.0\.self_attn\.k_proj\.weight": has shape \[2048,2048\] but config\.json implies \[256,2048\]/);
  });

  it('names an unexpected tensor (a Qwen3 norm in a Llama checkpoint)', () => {
    const list = good();
    list.push(['model.layers.0.self_attn.q_norm.weight', [64]]);
    expect(() => checkTensors(config, shapes(list), 'tinyllama')).toThrow(/"model\.layers\.0\.self_attn\.q_norm\.weight": is not part of a llama model/);
  });

  it('tolerates a redundant lm_head when embeddings are tied', () => {
    const tied = parseHfConfig({ ...configs.SMOLLM2_135M, num_hidden_layers: 1 });
    const list = expectedTensors(tied).map((t): [string, number[]] => [t.name, t.shape]);
    list.push(['lm_head.weight', [49152, 576]]);
    expect(checkTensors(tied, shapes(list), 'smol').ignored).toEqual(['lm_head.weight']);
  });

  it('accepts every tiny fixture against its own config', () => {
    for (const [name, preset] of Object.entries(TINY_PRESETS)) {
      if ('tokenizer' in preset) continue;
      const m = tinyModel(preset);
      const cfg = parseHfConfig(m.config);
      const list = [...m.tensors].map(([n, t]): [string, number[]] => [n, t.shape]);
      expect(checkTensors(cfg, shapes(list), name).ignored).toEqual([]);
      expect(expectedTensors(cfg).map((t) => t.name)).toEqual([...m.tensors.keys()]); // same state-dict order
    }
  });
});

describe('NF4 size', () => {
  it('matches formats.md §1.7 for Llama-3.2-1B q_proj (4,194,304 weights)', () => {
    const n = 2048 * 2048;
    expect(nf4Bytes(n, true)).toBe(2_097_152 + 65_536 + 256 * 4 + 64 + 1024 + 4);
    expect(nf4Bytes(n, false)).toBe(2_097_152 + 65_536 * 4 + 64);
    expect((nf4Bytes(n, true) * 8) / n).toBeCloseTo(4.127, 2);
  });

  it('rounds up partial blocks', () => {
    expect(nf4Bytes(65, true)).toBe(33 + 2 + 4 + 64 + 1024 + 4);
  });

  it('quantizes only decoder linears in a whole model', () => {
    const total = nf4ModelBytes([
      { name: 'model.embed_tokens.weight', numel: 100, byteLength: 200 },
      { name: 'model.layers.0.mlp.up_proj.weight', numel: 128, byteLength: 256 },
      { name: 'model.layers.0.input_layernorm.weight', numel: 8, byteLength: 16 },
    ]);
    expect(total).toBe(200 + nf4Bytes(128, true) + 16);
  });
});
