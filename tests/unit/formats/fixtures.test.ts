import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../src/formats/checkpoint.ts';
import { parseHfConfig } from '../../../src/formats/hf_config.ts';
import { readJson } from '../../../src/formats/model_folder.ts';
import { openNodeFolder } from '../../../src/formats/node_folder.ts';
import { checkTensors } from '../../../src/formats/tensor_names.ts';
import { Rng } from '../../helpers/rng.ts';
import { TINY_PRESETS, tinyModel, writeTinyModel } from '../../fixtures/tiny_model.ts';

describe('seeded rng', () => {
  it('is deterministic per seed and well spread', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 5 }, () => a.uint32());
    expect(xs).toEqual(Array.from({ length: 5 }, () => b.uint32()));
    expect(new Rng(43).uint32()).not.toBe(xs[0]);
    const u = new Rng(1).uniformArray(20000);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((s, x) => s + x, 0) / u.length).toBeCloseTo(0.5, 1);
    const ints = Array.from({ length: 1000 }, () => a.int(3, 7));
    expect(new Set(ints)).toEqual(new Set([3, 4, 5, 6]));
  });

  it('draws normals with the asked mean and std', () => {
    const z = new Rng(5).normalArray(50000, 2, 1);
    const mean = z.reduce((s, x) => s + x, 0) / z.length;
    const std = Math.sqrt(z.reduce((s, x) => s + (x - mean) ** 2, 0) / z.length);
    expect(mean).toBeCloseTo(1, 1);
    expect(std).toBeCloseTo(2, 1);
  });
});

describe('tiny model fixtures', () => {
  it('are byte-identical for a seed and differ across seeds', () => {
    const a = tinyModel({ ...TINY_PRESETS.qwen2, seed: 9 });
    const b = tinyModel({ ...TINY_PRESETS.qwen2, seed: 9 });
    const c = tinyModel({ ...TINY_PRESETS.qwen2, seed: 10 });
    expect(a.files.get('model.safetensors')).toEqual(b.files.get('model.safetensors'));
    expect(a.files.get('model.safetensors')).not.toEqual(c.files.get('model.safetensors'));
  });

  it('hold N(0, 0.02) weights, unit norms, and values rounded to the stored dtype', () => {
    const m = tinyModel(TINY_PRESETS.llamaOddTied);
    const w = m.tensors.get('model.embed_tokens.weight')!.values;
    const std = Math.sqrt(w.reduce((s, x) => s + x * x, 0) / w.length);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    expect([...m.tensors.get('model.norm.weight')!.values].every((x) => x === 1)).toBe(true);
    // bf16: the low 16 bits of every stored f32 are zero.
    expect(new Uint32Array(w.buffer).every((x) => (x & 0xffff) === 0)).toBe(true);
    expect(m.tensors.has('lm_head.weight')).toBe(false);
  });

  it('cover GQA, untied heads, explicit head_dim and every architecture', () => {
    for (const preset of Object.values(TINY_PRESETS)) {
      const m = tinyModel(preset);
      const c = parseHfConfig(m.config);
      expect(c.architecture).toBe(preset.architecture);
      expect(c.numHeads % c.numKvHeads).toBe(0);
      expect(m.tensors.has('lm_head.weight')).toBe(!c.tieWordEmbeddings);
    }
    const q3 = parseHfConfig(tinyModel(TINY_PRESETS.qwen3).config);
    expect(q3.headDim * q3.numHeads).not.toBe(q3.hiddenSize);
  });

  it('ship the real llama2 tokenizer files when asked, and load from disk', async () => {
    const m = tinyModel(TINY_PRESETS.llamaTokenizer);
    const folder = await openNodeFolder(await writeTinyModel(m));
    expect(folder.list()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const tok = (await readJson(folder, 'tokenizer.json')) as { model: { vocab: Record<string, number> } };
    expect(Object.keys(tok.model.vocab)).toHaveLength(32000);
    const config = parseHfConfig(await readJson(folder, 'config.json'));
    expect(config.vocabSize).toBe(32000);
    expect(checkTensors(config, await openCheckpoint(folder), folder.name).ignored).toEqual([]);
    expect(() => tinyModel({ tokenizer: true, vocabSize: 97 })).toThrow(/32000/);
  });
});
