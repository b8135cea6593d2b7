import { afterEach, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { Rng } from '../helpers/rng.ts';
import { tinyModel, TINY_PRESETS, type TinyModel } from '../fixtures/tiny_model.ts';
import { checkMerged, referenceMerge } from '../reference/merge.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { openCheckpoint } from '../../src/formats/checkpoint.ts';
import { fromFloat32, toFloat32, type FloatDtype } from '../../src/formats/dtype.ts';
import { parseHfConfig, type ModelConfig } from '../../src/formats/hf_config.ts';
import { memoryFolder } from '../../src/formats/model_folder.ts';
import { dequantizeNf4, quantizeNf4 } from '../../src/formats/nf4.ts';
import { nf4Entries } from '../../src/formats/nf4_safetensors.ts';
import { AdapterError, type Adapter } from '../../src/formats/peft.ts';
import { projections } from '../../src/formats/peft_config.ts';
import { memorySink, serializeSafetensors, type ByteSink } from '../../src/formats/safetensors_writer.ts';
import { LINEAR_MODULES, type LinearModule } from '../../src/formats/tensor_names.ts';
import { bnbQuantizationConfig } from '../../src/cli/quantize.ts';
import { mergeModel, MergeError, type MergeOptions } from '../../src/model/merge.ts';

// The merge on the GPU (src/model/merge.ts) against the float64 reference (tests/reference/
// merge.ts): merged weights are W + scale·B·A rounded to the source dtype (BF16, F16, F32), every
// other tensor and side file is byte-identical, shards carry a valid index, the NF4 variants equal
// dequant(NF4(W)) + scale·B·A (from a full-precision folder or a bitsandbytes one), W split over
// bindings merges chunk by chunk, and wrong adapters or overflowing results are refused.
// Loading the merged folder back and its logits are in merge_model.test.ts.

const ATTENTION: LinearModule[] = ['q_proj', 'v_proj', 'o_proj'];

/** An adapter on `modules` of every layer: A ~ N(0, 1/in), B ~ N(0, bStd²). */
function makeAdapter(config: ModelConfig, modules: readonly LinearModule[], r: number, alpha: number, options: { seed?: number; bStd?: number; rslora?: boolean } = {}): Adapter {
  const rng = new Rng(options.seed ?? 9);
  const weights = projections(config)
    .filter((p) => modules.includes(p.module))
    .map((target) => ({ target, a: rng.normalArray(r * target.inFeatures, 1 / Math.sqrt(target.inFeatures)), b: rng.normalArray(target.outFeatures * r, options.bStd ?? 0.02) }));
  const settings = { r, loraAlpha: alpha, loraDropout: 0, targetModules: [...modules], useRslora: options.rslora ?? false, baseModelNameOrPath: 'tiny' };
  return { settings, weights, modelCard: null };
}

/** Sinks into a Map, as the browser's OPFS or a Node folder would hold the files. */
function memoryOut(): { files: Map<string, Uint8Array>; openSink: (file: string) => Promise<ByteSink> } {
  const files = new Map<string, Uint8Array>();
  const openSink = async (file: string): Promise<ByteSink> => {
    const sink = memorySink();
    return { write: (chunk) => sink.write(chunk), close: async () => files.set(file, sink.bytes()) && undefined };
  };
  return { files, openSink };
}

async function merge(rt: Runtime, model: Map<string, Uint8Array>, adapter: Adapter, options: Partial<MergeOptions> = {}) {
  const out = memoryOut();
  const report = await mergeModel(rt, { model: memoryFolder('base', model), adapter, openSink: out.openSink, ...options });
  return { report, files: out.files, checkpoint: await openCheckpoint(memoryFolder('merged', out.files)) };
}

/** Every target of `adapter` in the merged checkpoint against the reference on `base(name)`. */
async function expectMerged(checkpoint: Awaited<ReturnType<typeof openCheckpoint>>, adapter: Adapter, dtype: FloatDtype, scale: number, base: (name: string) => ArrayLike<number>): Promise<void> {
  let ambiguous = 0;
  let total = 0;
  for (const { target, a, b } of adapter.weights) {
    const name = `${target.path}.weight`;
    const t = await checkpoint.readTensor(name);
    expect(t.dtype, name).toBe(dtype);
    expect(t.shape).toEqual([target.outFeatures, target.inFeatures]);
    const ref = referenceMerge(base(name), a, b, target.outFeatures, target.inFeatures, adapter.settings.r, scale);
    const check = checkMerged(toFloat32(t.dtype, t.bytes), ref, dtype);
    expect(check.failures, `${name}: first failure ${JSON.stringify(check.first)}`).toBe(0);
    ambiguous += check.ambiguous;
    total += ref.values.length;
  }
  // The f32 slack may only matter next to a rounding midpoint: almost every value is decided.
  expect(ambiguous).toBeLessThan(total * 0.01);
}

const bytesEqual = (x: Uint8Array, y: Uint8Array) => Buffer.from(x).equals(Buffer.from(y));

let rt: Runtime;
beforeAll(async () => {
  if (!gpuMissing) rt = await gpuRuntime();
});
afterEach(() => {
  rt?.arena.releaseAll();
});

describeGpu('merging a LoRA adapter into its base model', () => {
  it('BF16 source: W + scale·B·A rounded to BF16, everything else byte-identical, side files copied', async () => {
    const tiny = tinyModel({ ...TINY_PRESETS.llamaOddTied, seed: 21 });
    const config = parseHfConfig(tiny.config);
    const source = new Map(tiny.files);
    source.set('generation_config.json', new TextEncoder().encode('{"do_sample": true}\n'));
    source.set('tokenizer.json', new TextEncoder().encode('{"model": {}}\n'));
    source.set('README.md', new TextEncoder().encode('# the base model\n'));
    const adapter = makeAdapter(config, LINEAR_MODULES, 5, 7); // odd r: the bounds-checked kernel
    const { report, files, checkpoint } = await merge(rt, source, adapter);

    expect(report).toMatchObject({ merged: 14, dequantized: 0, source: 'full-precision', scale: 7 / 5 });
    expect([...files.keys()].sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json']);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json']) expect(bytesEqual(files.get(f)!, source.get(f)!), f).toBe(true);
    await expectMerged(checkpoint, adapter, 'BF16', 7 / 5, (name) => tiny.tensors.get(name)!.values);

    const original = await openCheckpoint(memoryFolder('base', source));
    expect(checkpoint.names().sort()).toEqual(original.names().sort());
    const targets = new Set(adapter.weights.map((w) => `${w.target.path}.weight`));
    for (const name of original.names().filter((n) => !targets.has(n))) {
      expect(bytesEqual((await checkpoint.readTensor(name)).bytes, (await original.readTensor(name)).bytes), name).toBe(true);
    }
    expect(rt.arena.report().live.scratch).toBe(0);
  });

  it('F16 source with biases, rsLoRA, sharded: alpha/√r scaling and a valid index', async () => {
    const tiny = tinyModel({ ...TINY_PRESETS.qwen2, seed: 22 });
    const config = parseHfConfig(tiny.config);
    const adapter = makeAdapter(config, ATTENTION, 4, 16, { rslora: true });
    const { report, files, checkpoint } = await merge(rt, tiny.files, adapter, { maxShardSize: 20_000 });
    expect(report.scale).toBe(8); // 16 / √4, not 16 / 4
    await expectMerged(checkpoint, adapter, 'F16', 8, (name) => tiny.tensors.get(name)!.values);

    const index = JSON.parse(new TextDecoder().decode(files.get('model.safetensors.index.json')!)) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const shards = [...files.keys()].filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThan(2);
    expect(files.has('model.safetensors')).toBe(false);
    shards.forEach((f) => expect(f).toMatch(new RegExp(`^model-\\d{5}-of-${String(shards.length).padStart(5, '0')}\\.safetensors$`)));
    // Every tensor exactly once, in the shard the index names; total_size is the tensors' bytes.
    const seen = new Map<string, string>();
    let bytes = 0;
    for (const shard of shards) {
      const one = await openCheckpoint(memoryFolder('one', new Map([['model.safetensors', files.get(shard)!]])));
      for (const name of one.names()) {
        expect(seen.has(name), name).toBe(false);
        seen.set(name, shard);
        bytes += one.info(name).byteLength;
      }
    }
    expect(Object.fromEntries(seen)).toEqual(index.weight_map);
    expect(new Set(seen.keys())).toEqual(new Set(tiny.tensors.keys()));
    expect(index.metadata.total_size).toBe(bytes);
    expect(report.tensorBytes).toBe(bytes);
    const bias = 'model.layers.1.self_attn.q_proj.bias';
    expect(bytesEqual((await checkpoint.readTensor(bias)).bytes, (await (await openCheckpoint(memoryFolder('b', tiny.files))).readTensor(bias)).bytes)).toBe(true);
  });

  it('a weight split over several bindings merges chunk by chunk', async () => {
    const small = await gpuRuntime({ maxBindingBytes: 4096 });
    try {
      const tiny = tinyModel({ architecture: 'llama', vocabSize: 61, hiddenSize: 32, intermediateSize: 72, numHeads: 4, numKvHeads: 2, seed: 23 });
      const adapter = makeAdapter(parseHfConfig(tiny.config), ['gate_proj', 'down_proj'], 4, 8);
      const { checkpoint } = await merge(small, tiny.files, adapter);
      // gate_proj is [72, 32] f32 = 9216 bytes: three chunks of 32, 32 and 8 rows.
      await expectMerged(checkpoint, adapter, 'F32', 2, (name) => tiny.tensors.get(name)!.values);
    } finally {
      small.arena.releaseAll();
    }
  });

  it('--from-nf4: dequant(NF4(W)) + scale·B·A, with and without double quantization', async () => {
    const tiny = tinyModel({ ...TINY_PRESETS.llamaOddTied, dtype: 'F32', seed: 24 });
    const adapter = makeAdapter(parseHfConfig(tiny.config), ['k_proj', 'up_proj'], 3, 6);
    for (const doubleQuant of [true, false]) {
      const { report, checkpoint } = await merge(rt, tiny.files, adapter, { fromNf4: true, doubleQuant });
      expect(report.source).toBe('nf4-of-full-precision');
      await expectMerged(checkpoint, adapter, 'F32', 2, (name) => {
        const t = tiny.tensors.get(name)!;
        return dequantizeNf4(quantizeNf4(t.values, t.shape, { doubleQuant }));
      });
    }
  });

  it('a bitsandbytes 4-bit source merges only with --from-nf4, into the same bytes as --from-nf4 on the original', async () => {
    const tiny = tinyModel({ ...TINY_PRESETS.llamaOddTied, seed: 25 }); // BF16
    const adapter = makeAdapter(parseHfConfig(tiny.config), ATTENTION, 4, 8);
    const fourBit = bnbFolder(tiny);
    const error = await mergeModel(rt, { model: memoryFolder('nf4', fourBit), adapter, openSink: memoryOut().openSink }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(MergeError);
    expect((error as Error).message).toMatch(/bitsandbytes 4-bit checkpoint.*--from-nf4/);

    const fromBnb = await merge(rt, fourBit, adapter, { fromNf4: true });
    const fromFull = await merge(rt, tiny.files, adapter, { fromNf4: true });
    expect(fromBnb.report).toMatchObject({ source: 'bitsandbytes-4bit', merged: 6, dequantized: 8 });
    expect(JSON.parse(new TextDecoder().decode(fromBnb.files.get('config.json')!))).not.toHaveProperty('quantization_config');
    expect(fromBnb.checkpoint.names().sort()).toEqual([...tiny.tensors.keys()].sort()); // no absmax, quant_map, …
    for (const name of tiny.tensors.keys()) {
      const a = await fromBnb.checkpoint.readTensor(name);
      const b = await fromFull.checkpoint.readTensor(name);
      expect([a.dtype, a.shape], name).toEqual([b.dtype, b.shape]);
      // Merged and copied tensors alike; only the untargeted Linear weights differ (dequant(NF4(W))
      // from the 4-bit folder, the original W from the full one).
      if (!/(k|gate|up|down)_proj\.weight$/.test(name)) expect(bytesEqual(a.bytes, b.bytes), name).toBe(true);
    }
    const gate = 'model.layers.1.mlp.gate_proj.weight';
    const t = tiny.tensors.get(gate)!;
    const want = new Float32Array(dequantizeNf4(quantizeNf4(t.values, t.shape, { doubleQuant: true })));
    const got = toFloat32('BF16', (await fromBnb.checkpoint.readTensor(gate)).bytes);
    const noLora = referenceMerge(want, [], [], t.shape[0], t.shape[1], 0, 0); // r = 0: the base alone
    expect(checkMerged(got, noLora, 'BF16').failures).toBe(0);
  });

  it('refuses an adapter of another model, naming the key, and a merge that overflows F16', async () => {
    const tiny = tinyModel({ ...TINY_PRESETS.qwen2, seed: 26 });
    const config = parseHfConfig(tiny.config);
    const wider = makeAdapter({ ...config, hiddenSize: 40 }, ['q_proj'], 2, 4);
    const e1 = await merge(rt, tiny.files, wider).catch((e: Error) => e);
    expect(e1).toBeInstanceOf(AdapterError);
    expect((e1 as Error).message).toMatch(/"base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight".*\[32, 32\].*another model/);
    const deeper = makeAdapter({ ...config, numLayers: 3 }, ['v_proj'], 2, 4);
    await expect(merge(rt, tiny.files, deeper)).rejects.toThrow(/layers\.2\.self_attn\.v_proj.*does not have/);

    const huge = makeAdapter(config, ['v_proj'], 2, 4, { bStd: 1e5 });
    await expect(merge(rt, tiny.files, huge)).rejects.toThrow(/v_proj\.weight" element \d+: W \+ scale·B·A is not finite in F16/);
    expect(rt.arena.report().live.scratch).toBe(0);
  });
});

/** The tiny model as transformers + bitsandbytes saves it in 4-bit (formats.md §1.8). */
function bnbFolder(tiny: TinyModel): Map<string, Uint8Array> {
  const entries = [...tiny.tensors].flatMap(([name, t]) => {
    if (!/_proj\.weight$/.test(name)) return [{ name, dtype: t.dtype, shape: t.shape, bytes: fromFloat32(t.values, t.dtype) }];
    return nf4Entries(name, quantizeNf4(t.values, t.shape, { doubleQuant: true }), 'bfloat16');
  });
  const config = { ...tiny.config, quantization_config: bnbQuantizationConfig('bfloat16', true) };
  return new Map([
    ['config.json', new TextEncoder().encode(JSON.stringify(config))],
    ['model.safetensors', serializeSafetensors(entries)],
  ]);
}
