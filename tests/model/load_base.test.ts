import { afterEach, beforeAll, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { tinyModel, writeTinyModel, TINY_PRESETS, type TinyModel } from '../fixtures/tiny_model.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { memoryFolder } from '../../src/formats/model_folder.ts';
import { openNodeFolder } from '../../src/formats/node_folder.ts';
import { quantizeNf4, dequantizeNf4 } from '../../src/formats/nf4.ts';
import { readNf4 } from '../../src/kernels/nf4_readback.ts';
import { loadBaseModel, type LoadOptions } from '../../src/model/load_base.ts';
import type { BaseLinear, BaseWeights } from '../../src/model/base_weights.ts';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';

const NF4: LoadOptions = { quant: 'nf4', doubleQuant: true };

function linearOf(weights: BaseWeights, name: string): BaseLinear {
  const m = /^model\.layers\.(\d+)\.\w+\.(\w+)\.weight$/.exec(name)!;
  return weights.layers[Number(m[1])].linear[m[2] as keyof BaseWeights['layers'][0]['linear']];
}

function linearNames(model: TinyModel): string[] {
  return [...model.tensors.keys()].filter((n) => /_proj\.weight$/.test(n));
}

describeGpu('loading a Hugging Face folder onto the GPU', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await gpuRuntime();
  });
  afterEach(() => rt.arena.releaseAll());

  it('quantizes every decoder Linear on the GPU to the CPU reference codes, bit for bit, and keeps the rest in f32', async () => {
    const model = tinyModel({ ...TINY_PRESETS.llamaOddTied, seed: 3 });
    const { weights, report } = await loadBaseModel(rt, memoryFolder('odd', model.files), NF4);
    for (const name of linearNames(model)) {
      const t = model.tensors.get(name)!;
      const linear = linearOf(weights, name);
      expect(linear.kind).toBe('nf4');
      if (linear.kind !== 'nf4') continue;
      const gpu = await readNf4(rt, linear.weight);
      const cpu = quantizeNf4(t.values, t.shape, { doubleQuant: true });
      expect(Buffer.from(gpu.packed).equals(Buffer.from(cpu.packed)), name).toBe(true);
      expect(gpu.nested!.qabsmax).toEqual(cpu.nested!.qabsmax);
      expect(gpu.nested!.absmax).toEqual(cpu.nested!.absmax);
      expect(gpu.nested!.offset).toBe(cpu.nested!.offset);
    }
    expect(await readF32(rt.device, weights.embed)).toEqual(model.tensors.get('model.embed_tokens.weight')!.values);
    expect(await readF32(rt.device, weights.layers[1].inputNorm)).toEqual(model.tensors.get('model.layers.1.input_layernorm.weight')!.values);
    expect(weights.lmHead).toBe(weights.embed); // tied
    expect(report.source).toBe('quantized-on-load');
    expect(report.gpuBytes.scratch).toBe(0); // the f32 copies were let go
    expect(report.gpuBytes.base).toBeGreaterThan(0);
  });

  it('loads --quant none exactly, with biases, from shards', async () => {
    const model = tinyModel({ ...TINY_PRESETS.qwen2, seed: 4, maxShardSize: 20_000 });
    expect([...model.files.keys()]).toContain('model.safetensors.index.json');
    const { weights, report } = await loadBaseModel(rt, memoryFolder('qwen2', model.files), { quant: 'none', doubleQuant: true });
    const q = weights.layers[0].linear.q_proj;
    expect(q.kind).toBe('dense');
    expect(await readF32(rt.device, q.weight as never)).toEqual(model.tensors.get('model.layers.0.self_attn.q_proj.weight')!.values);
    expect(await readF32(rt.device, q.bias!)).toEqual(model.tensors.get('model.layers.0.self_attn.q_proj.bias')!.values);
    expect(weights.lmHead).not.toBe(weights.embed);
    expect(report.quantizedParameters).toBe(0);
  });

  it('splits tensors larger than one binding and still quantizes them exactly', async () => {
    const small = await gpuRuntime({ maxBindingBytes: 65536 });
    try {
      const model = tinyModel({ ...TINY_PRESETS.llamaOddTied, vocabSize: 200, hiddenSize: 128, intermediateSize: 2048, numHeads: 4, numKvHeads: 2, numLayers: 1, seed: 5 });
      const { weights } = await loadBaseModel(small, memoryFolder('split', model.files), NF4);
      const name = 'model.layers.0.mlp.down_proj.weight';
      const linear = linearOf(weights, name);
      if (linear.kind !== 'nf4') throw new Error('expected nf4');
      expect(linear.weight.chunks.length).toBeGreaterThan(1);
      const t = model.tensors.get(name)!;
      expect((await readNf4(small, linear.weight)).packed).toEqual(quantizeNf4(t.values, t.shape, { doubleQuant: true }).packed);
      expect(weights.embed.chunks.length).toBeGreaterThan(1);
      expect(await readF32(small.device, weights.embed)).toEqual(model.tensors.get('model.embed_tokens.weight')!.values);
    } finally {
      small.arena.releaseAll();
    }
  });

  it('reports about 4.127 bits per parameter with double quantization and 4.5 without', async () => {
    // Large enough tensors (≥ 64·256 elements each) that the per-tensor offset hardly counts.
    const model = tinyModel({ architecture: 'llama', vocabSize: 64, hiddenSize: 256, intermediateSize: 512, numHeads: 4, numKvHeads: 4, numLayers: 1, seed: 6 });
    const dq = await loadBaseModel(rt, memoryFolder('dq', model.files), NF4);
    expect(dq.report.quantizedParameters).toBe(4 * 256 * 256 + 3 * 256 * 512);
    expect(dq.report.bitsPerParameter).toBeGreaterThan(4.127);
    expect(dq.report.bitsPerParameter).toBeLessThan(4.13);
    rt.arena.releaseAll();
    const plain = await loadBaseModel(rt, memoryFolder('plain', model.files), { quant: 'nf4', doubleQuant: false });
    expect(plain.report.bitsPerParameter).toBe(4.5);
  });

  it('webtune quantize writes the bitsandbytes layout, which loads back without re-quantizing', async () => {
    const model = tinyModel({ ...TINY_PRESETS.llamaTokenizer, seed: 7 });
    const src = await writeTinyModel(model);
    const out = join(await mkdtemp(join(tmpdir(), 'webtune-q-')), 'nf4');
    const io = memoryIo(rt);
    expect(await main(['quantize', '--model', src, '--out', out], io), io.stderr).toBe(0);
    expect(io.stdout).toMatch(/bits\/parameter/);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.quantization_config).toMatchObject({ quant_method: 'bitsandbytes', bnb_4bit_quant_type: 'nf4', bnb_4bit_use_double_quant: true });
    expect(await readFile(join(out, 'tokenizer.json'))).toEqual(await readFile(join(src, 'tokenizer.json')));

    const again = await loadBaseModel(rt, await openNodeFolder(out), NF4);
    expect(again.report.source).toBe('pre-quantized');
    for (const name of linearNames(model)) {
      const t = model.tensors.get(name)!;
      const linear = linearOf(again.weights, name);
      if (linear.kind !== 'nf4') throw new Error('expected nf4');
      const cpu = quantizeNf4(t.values, t.shape, { doubleQuant: true });
      expect((await readNf4(rt, linear.weight)).packed).toEqual(cpu.packed);
    }
    // Unquantized tensors are byte-identical copies.
    const embed = await again.checkpoint.readTensor('model.embed_tokens.weight');
    expect(embed.bytes).toEqual((await (await loadBaseModel(rt, await openNodeFolder(src), NF4)).checkpoint.readTensor('model.embed_tokens.weight')).bytes);

    // --quant none on a 4-bit folder gives the dequantized weights.
    rt.arena.releaseAll();
    const dense = await loadBaseModel(rt, await openNodeFolder(out), { quant: 'none', doubleQuant: true });
    const name = 'model.layers.0.self_attn.k_proj.weight';
    const t = model.tensors.get(name)!;
    const w = dense.weights.layers[0].linear.k_proj;
    expect(await readF32(rt.device, w.weight as never)).toEqual(dequantizeNf4(quantizeNf4(t.values, t.shape, { doubleQuant: true })));

    const twice = memoryIo(rt);
    expect(await main(['quantize', '--model', out, '--out', `${out}-2`], twice)).toBe(2);
    expect(twice.stderr).toMatch(/^webtune: error: .*already a bitsandbytes 4-bit checkpoint/m);
  });

  it('refuses a checkpoint with a non-finite weight, naming the tensor', async () => {
    const model = tinyModel({ ...TINY_PRESETS.llamaOddTied, dtype: 'F32', seed: 8 });
    const bytes = model.files.get('model.safetensors')!;
    // Overwrite the last f32 of the data section (some tensor's element) with NaN.
    new DataView(bytes.buffer, bytes.byteOffset).setFloat32(bytes.byteLength - 4, NaN, true);
    await expect(loadBaseModel(rt, memoryFolder('nan', model.files), NF4)).rejects.toThrow(/non-finite value \(NaN\)/);
  });

  it('webtune quantize: a missing folder or flag exits 2 with one line', async () => {
    for (const argv of [['quantize', '--model', '/nonexistent/model', '--out', '/tmp/x'], ['quantize', '--model', '/tmp']]) {
      const io = memoryIo(rt);
      expect(await main(argv, io)).toBe(2);
      expect(io.stderr.trim().split('\n')).toHaveLength(1);
      expect(io.stderr).toMatch(/^webtune: error: /);
    }
  });
});
