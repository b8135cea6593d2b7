import { describe, expect, it } from 'vitest';
import { Rng } from '../helpers/rng.ts';
import { tinyModel, TINY_PRESETS } from '../fixtures/tiny_model.ts';
import { checkMerged, referenceMerge, roundTo16 } from '../reference/merge.ts';
import { openCheckpoint } from '../../src/formats/checkpoint.ts';
import { f32ToBf16, f32ToF16 } from '../../src/formats/dtype.ts';
import { parseHfConfig } from '../../src/formats/hf_config.ts';
import { memoryFolder } from '../../src/formats/model_folder.ts';
import { AdapterError, type Adapter } from '../../src/formats/peft.ts';
import { projections } from '../../src/formats/peft_config.ts';
import { checkAdapterFits, isCompanionFile, mergedConfigJson, planMergedTensors, quantStateDtype } from '../../src/model/merge_plan.ts';

// The pure parts of the merge (src/model/merge_plan.ts) and the float64 reference's rounding
// (tests/reference/merge.ts), which the GPU tests rely on. No GPU.

const tiny = tinyModel({ ...TINY_PRESETS.qwen2, maxShardSize: 20_000 });
const config = parseHfConfig(tiny.config);

function adapterOn(modules: string[]): Adapter {
  const weights = projections(config)
    .filter((p) => modules.includes(p.module))
    .map((target) => ({ target, a: new Float32Array(2 * target.inFeatures), b: new Float32Array(target.outFeatures * 2) }));
  return { settings: { r: 2, loraAlpha: 4, loraDropout: 0, targetModules: [], useRslora: false, baseModelNameOrPath: null }, weights, modelCard: null };
}

describe('the reference rounding', () => {
  it('agrees with dtype.ts on every f32 input (a single rounding either way)', () => {
    const rng = new Rng(1);
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    for (let i = 0; i < 20_000; i++) {
      bits[0] = rng.uint32();
      if (!Number.isFinite(f[0]) || Math.abs(f[0]) > 6e4) continue;
      expect(roundTo16(f[0], 'BF16'), `${f[0]}`).toBe(f32ToBf16(f[0]));
      expect(roundTo16(f[0], 'F16'), `${f[0]}`).toBe(f32ToF16(f[0]));
    }
    for (const x of [0, -0, 1, 65504, 65519, 65520, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-9]) expect(roundTo16(x, 'F16'), `${x}`).toBe(f32ToF16(x));
  });

  it('rounds the exact value, not its f32 rounding (no double rounding)', () => {
    // 1 + 2⁻⁸ is the BF16 midpoint between 1 and 1 + 2⁻⁷; 2⁻⁴⁰ above it is lost in f32, so
    // f32 → BF16 ties to even (1.0) while the exact value rounds up.
    const x = 1 + 2 ** -8 + 2 ** -40;
    expect(Math.fround(x)).toBe(1 + 2 ** -8);
    expect(f32ToBf16(Math.fround(x))).toBe(0x3f80);
    expect(roundTo16(x, 'BF16')).toBe(0x3f81);
  });

  it('accepts either neighbour only next to a midpoint, and nothing else', () => {
    const ref = referenceMerge([1, 1], [1], [2 ** -8, 0.25], 2, 1, 1, 1); // rows: 1 + 2⁻⁸ (a midpoint), 1.25
    expect(checkMerged([1, 1.25], ref, 'BF16')).toMatchObject({ failures: 0, ambiguous: 1 });
    expect(checkMerged([1 + 2 ** -7, 1.25], ref, 'BF16')).toMatchObject({ failures: 0, ambiguous: 1 });
    expect(checkMerged([1, 1.25 + 2 ** -6], ref, 'BF16').failures).toBe(1);
  });
});

describe('planning a merged folder', () => {
  it('lists every tensor once in state-dict order: targets merged in their dtype, the rest copied', async () => {
    const checkpoint = await openCheckpoint(memoryFolder('qwen2', tiny.files));
    expect(checkpoint.shards.size).toBeGreaterThan(1);
    const plan = planMergedTensors(config, checkpoint, adapterOn(['q_proj', 'down_proj']), null);
    expect(plan.map((t) => t.name)).toEqual([...tiny.tensors.keys()]);
    expect(plan.filter((t) => t.kind === 'merge').map((t) => t.name)).toEqual([
      'model.layers.0.self_attn.q_proj.weight',
      'model.layers.0.mlp.down_proj.weight',
      'model.layers.1.self_attn.q_proj.weight',
      'model.layers.1.mlp.down_proj.weight',
    ]);
    expect(plan.every((t) => t.dtype === 'F16')).toBe(true);
    expect(plan.find((t) => t.name === 'model.layers.0.self_attn.q_proj.bias')!.kind).toBe('copy');
  });

  it('checks that an adapter fits, naming the key', () => {
    expect(() => checkAdapterFits(config, adapterOn(['v_proj']), 'a')).not.toThrow();
    expect(() => checkAdapterFits(config, adapterOn([]), 'a')).toThrow(/selects no projection/);
    const twice = adapterOn(['v_proj']);
    twice.weights.push(twice.weights[0]);
    expect(() => checkAdapterFits(config, twice, 'a')).toThrow(/layers\.0\.self_attn\.v_proj\.lora_A\.weight" appears twice/);
    const short = adapterOn(['up_proj']);
    short.weights[1] = { ...short.weights[1], b: new Float32Array(3) };
    expect(() => checkAdapterFits(config, short, 'a')).toThrow(AdapterError);
    expect(() => checkAdapterFits(config, short, 'a')).toThrow(/"base_model\.model\.model\.layers\.1\.mlp\.up_proj\.lora_B\.weight" has 3 values/);
  });

  it('config.json loses quantization_config (only); side files are config, generation and tokenizer files', () => {
    expect(mergedConfigJson('{"a": 1}', 'c')).toBeNull();
    expect(JSON.parse(mergedConfigJson('{"a": 1, "quantization_config": {"load_in_4bit": true}}', 'c')!)).toEqual({ a: 1 });
    expect(() => mergedConfigJson('{', 'dir/config.json')).toThrow(/dir\/config\.json: is not valid JSON/);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'tokenizer.model', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'chat_template.jinja']) {
      expect(isCompanionFile(f), f).toBe(true);
    }
    for (const f of ['model.safetensors', 'pytorch_model.bin', 'README.md', 'LICENSE', 'original/tokenizer.model', 'adapter_config.json']) expect(isCompanionFile(f), f).toBe(false);
    expect(quantStateDtype('{"dtype": "bfloat16"}', 't', 'f')).toBe('BF16');
    expect(() => quantStateDtype('{"dtype": "int8"}', 't', 'f')).toThrow(/f: tensor "t" has no float "dtype"/);
  });
});
