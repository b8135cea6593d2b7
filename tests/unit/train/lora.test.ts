import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../../src/formats/hf_config.ts';
import { kaimingUniformBound, initLoraA, initLoraB, initLoraPairs } from '../../../src/model/lora_init.ts';
import { loraScaling, loraTargets, modulePath, parseTargetModules, trainableParameterCount } from '../../../src/model/lora_targets.ts';
import { loraInitStream } from '../../../src/train/rng.ts';
import { LLAMA_3_2_1B_INSTRUCT, QWEN3_0_6B, SMOLLM2_135M } from '../../fixtures/hf_configs.ts';

// Bitwise equality of two float arrays (much faster than toEqual on large typed arrays).
const same = (x: Float32Array, y: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));

const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

describe('LoRA targets', () => {
  it('gives SmolLM2-135M the shapes of formats.md §2.8', () => {
    const targets = loraTargets(parseHfConfig(SMOLLM2_135M), ALL, 16);
    expect(targets).toHaveLength(30 * 7);
    const layer3 = targets.filter((t) => t.layer === 3);
    expect(layer3.map((t) => [t.path, t.aShape, t.bShape])).toEqual([
      ['model.layers.3.self_attn.q_proj', [16, 576], [576, 16]],
      ['model.layers.3.self_attn.k_proj', [16, 576], [192, 16]],
      ['model.layers.3.self_attn.v_proj', [16, 576], [192, 16]],
      ['model.layers.3.self_attn.o_proj', [16, 576], [576, 16]],
      ['model.layers.3.mlp.gate_proj', [16, 576], [1536, 16]],
      ['model.layers.3.mlp.up_proj', [16, 576], [1536, 16]],
      ['model.layers.3.mlp.down_proj', [16, 1536], [576, 16]],
    ]);
  });

  it('counts r·(in + out) summed over the targets', () => {
    // Per layer: q, o 16·1152; k, v 16·768; gate, up, down 16·2112 → 162 816; × 30 layers.
    expect(trainableParameterCount(loraTargets(parseHfConfig(SMOLLM2_135M), ALL, 16))).toBe(4_884_480);
    // Llama 3.2 1B, r 8 on q and v: 16 · 8 · ((2048 + 2048) + (2048 + 512)).
    const llama = loraTargets(parseHfConfig(LLAMA_3_2_1B_INSTRUCT), ['v_proj', 'q_proj'], 8);
    expect(trainableParameterCount(llama)).toBe(16 * 8 * (4096 + 2560));
    expect(llama.slice(0, 2).map((t) => t.module)).toEqual(['q_proj', 'v_proj']);
  });

  it('uses head_dim, not hidden / heads (Qwen3)', () => {
    const t = loraTargets(parseHfConfig(QWEN3_0_6B), ['q_proj', 'o_proj', 'k_proj'], 4).slice(0, 3);
    expect(t.map((x) => [x.module, x.inFeatures, x.outFeatures])).toEqual([
      ['q_proj', 1024, 16 * 128],
      ['k_proj', 1024, 8 * 128],
      ['o_proj', 16 * 128, 1024],
    ]);
  });

  it('parses --target-modules lists and all-linear', () => {
    expect(parseTargetModules('all-linear')).toEqual({ modules: [...ALL], unknown: [] });
    expect(parseTargetModules(' v_proj, q_proj ,down_proj')).toEqual({ modules: ['q_proj', 'v_proj', 'down_proj'], unknown: [] });
    expect(parseTargetModules('q_proj,c_attn,,lm_head').unknown).toEqual(['c_attn', '', 'lm_head']);
    expect(modulePath(0, 'gate_proj')).toBe('model.layers.0.mlp.gate_proj');
  });

  it('scales by alpha / r, or alpha / √r with rsLoRA', () => {
    expect(loraScaling(32, 16, false)).toBe(2);
    expect(loraScaling(32, 16, true)).toBe(8);
    expect(loraScaling(16, 8, true)).toBeCloseTo(16 / Math.sqrt(8), 15);
  });

  it('refuses rank 0', () => {
    expect(() => loraTargets(parseHfConfig(SMOLLM2_135M), ALL, 0)).toThrow(RangeError);
  });
});

describe('LoRA init', () => {
  it('derives the Kaiming-uniform bound 1/√in from torch’s formula with a = √5', () => {
    for (const fan of [1, 7, 576, 1536, 8192]) {
      // gain = sqrt(2/(1+5)) = sqrt(1/3); bound = sqrt(3)·gain/sqrt(fan) = 1/sqrt(fan)
      expect(kaimingUniformBound(fan)).toBeCloseTo(1 / Math.sqrt(fan), 15);
      expect(Math.abs(kaimingUniformBound(fan) * Math.sqrt(fan) - 1)).toBeLessThan(4e-16);
    }
    expect(kaimingUniformBound(576)).toBe(Math.sqrt(3) * (Math.sqrt(2 / (1 + Math.sqrt(5) ** 2)) / Math.sqrt(576)));
    expect(kaimingUniformBound(6, 0)).toBeCloseTo(1, 15); // a = 0: sqrt(6 / fan)
  });

  const config = parseHfConfig(SMOLLM2_135M);
  const targets = loraTargets({ ...config, numLayers: 2 }, ALL, 8);

  it('draws A ~ U(−1/√in, 1/√in) and sets B = 0', () => {
    const down = targets.find((t) => t.module === 'down_proj')!;
    const a = initLoraA(down, loraInitStream(42, down));
    expect(a).toHaveLength(8 * 1536);
    const bound = 1 / Math.sqrt(1536);
    let max = 0;
    let sum = 0;
    let sq = 0;
    for (const v of a) {
      max = Math.max(max, Math.abs(v));
      sum += v;
      sq += v * v;
    }
    expect(max).toBeLessThanOrEqual(Math.fround(bound));
    expect(max).toBeGreaterThan(0.99 * bound);
    expect(Math.abs(sum / a.length)).toBeLessThan(0.03 * bound);
    expect(sq / a.length / ((bound * bound) / 3)).toBeCloseTo(1, 1); // Var U(−b, b) = b²/3
    const b = initLoraB(down);
    expect(b).toHaveLength(576 * 8);
    expect(b.every((x) => x === 0)).toBe(true);
  });

  it('is seeded: the same seed gives the same A, another seed another', () => {
    const q = targets[0];
    expect(same(initLoraA(q, loraInitStream(42, q)), initLoraA(q, loraInitStream(42, q)))).toBe(true);
    expect(same(initLoraA(q, loraInitStream(43, q)), initLoraA(q, loraInitStream(42, q)))).toBe(false);
  });

  it('gives a projection the same A whatever else is targeted', () => {
    const all = initLoraPairs(targets, (t) => loraInitStream(42, t));
    const vOnly = loraTargets({ ...config, numLayers: 2 }, ['v_proj'], 8);
    const some = initLoraPairs(vOnly, (t) => loraInitStream(42, t));
    const v1 = all.find((p) => p.target.path === 'model.layers.1.self_attn.v_proj')!;
    expect(some[1].target.path).toBe(v1.target.path);
    expect(same(some[1].a, v1.a)).toBe(true);
    expect(same(all[0].a, all[1].a)).toBe(false);
  });
});
