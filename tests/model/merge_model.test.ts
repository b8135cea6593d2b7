import { afterEach, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { Rng } from '../helpers/rng.ts';
import { expectClose, type Tolerance } from '../helpers/tolerance.ts';
import { tinyModel, type TinyModelOptions } from '../fixtures/tiny_model.ts';
import { randomBatch, randomWeights } from '../reference/model_random.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { readF32 } from '../../src/engine/readback.ts';
import { toFloat32 } from '../../src/formats/dtype.ts';
import { parseHfConfig } from '../../src/formats/hf_config.ts';
import { memoryFolder } from '../../src/formats/model_folder.ts';
import type { Adapter } from '../../src/formats/peft.ts';
import { projections } from '../../src/formats/peft_config.ts';
import { memorySink, serializeSafetensors } from '../../src/formats/safetensors_writer.ts';
import type { LinearModule } from '../../src/formats/tensor_names.ts';
import { loadBaseModel } from '../../src/model/load_base.ts';
import { mergeModel } from '../../src/model/merge.ts';
import { Model } from '../../src/model/model.ts';
import { loraInitStream } from '../../src/train/rng.ts';

// The merged folder is a model of its own: it loads back into webtune (quant none) with exactly
// the merged f32 weights, and its logits (Model with lora: null) equal the base's with the adapter
// imported (Model with LoRA, y = x·Wᵀ + scale·(x·Aᵀ)·Bᵀ) up to f32 summation order — the identity
// formats.md §2.4 rests on. Weights are the reference's O(1) draws, so the adapter moves the
// logits by far more than the tolerance.

const relative: Tolerance = { name: 'relative', atol: 0, rtol: 2e-4, reason: 'two f32 evaluations of the same network (merged vs side by side), relative to the largest logit' };

let rt: Runtime;
beforeAll(async () => {
  if (!gpuMissing) rt = await gpuRuntime();
});
afterEach(() => rt?.arena.releaseAll());

/** A tiny F32 folder holding randomWeights(seed) instead of the fixture's N(0, 0.02). */
function o1Folder(options: TinyModelOptions, seed: number): Map<string, Uint8Array> {
  const tiny = tinyModel({ ...options, dtype: 'F32' });
  const weights = randomWeights(tiny.tensors, seed);
  const tensors = [...tiny.tensors].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, bytes: new Uint8Array(Float32Array.from(weights.get(name)!).buffer) }));
  return new Map([
    ['config.json', tiny.files.get('config.json')!],
    ['model.safetensors', serializeSafetensors(tensors)],
  ]);
}

describeGpu('the merged model', () => {
  it('loads back with its merged weights, and its logits equal base + adapter', async () => {
    const options: TinyModelOptions = { architecture: 'qwen2', vocabSize: 61, hiddenSize: 32, intermediateSize: 40, numHeads: 4, numKvHeads: 2 };
    const source = o1Folder(options, 31);
    const config = parseHfConfig(JSON.parse(new TextDecoder().decode(source.get('config.json')!)));
    const modules: LinearModule[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
    const r = 4;
    const rng = new Rng(32);
    const weights = projections(config).map((target) => ({ target, a: rng.normalArray(r * target.inFeatures, 1 / Math.sqrt(target.inFeatures)), b: rng.normalArray(target.outFeatures * r, 0.1) }));
    const adapter: Adapter = { settings: { r, loraAlpha: 8, loraDropout: 0, targetModules: modules, useRslora: false, baseModelNameOrPath: null }, weights, modelCard: null };

    const files = new Map<string, Uint8Array>();
    await mergeModel(rt, {
      model: memoryFolder('base', source),
      adapter,
      openSink: async (file) => {
        const sink = memorySink();
        return { write: (c) => sink.write(c), close: async () => void files.set(file, sink.bytes()) };
      },
    });

    const merged = await loadBaseModel(rt, memoryFolder('merged', files), { quant: 'none', doubleQuant: true });
    for (const { target } of weights) {
      const linear = merged.weights.layers[target.layer].linear[target.module];
      if (linear.kind !== 'dense') throw new Error('expected a dense weight');
      const stored = await merged.checkpoint.readTensor(`${target.path}.weight`);
      expect(await readF32(rt.device, linear.weight), target.path).toEqual(toFloat32('F32', stored.bytes));
    }

    const batch = randomBatch(config, [[5, 6], [9]], 33);
    const shape = { maxBatch: 2, maxSeq: 16, gradCheckpointing: false };
    const mergedLogits = await new Model(rt, merged, { lora: null, ...shape }).logits(batch);
    const base = await loadBaseModel(rt, memoryFolder('base', source), { quant: 'none', doubleQuant: true });
    const plainLogits = await new Model(rt, base, { lora: null, ...shape }).logits(batch);
    const withLora = new Model(rt, base, { lora: { r, alpha: 8, dropout: 0, modules, rslora: false, init: (t) => loraInitStream(1, t) }, ...shape });
    withLora.importLora(new Map(weights.map((w) => [w.target.path, { A: w.a, B: w.b }])));
    const adapterLogits = await withLora.logits(batch);

    const max = adapterLogits.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose(mergedLogits, adapterLogits, { ...relative, atol: relative.rtol * max }, 'merged logits vs base + adapter');
    let moved = 0;
    for (let i = 0; i < adapterLogits.length; i++) moved = Math.max(moved, Math.abs(adapterLogits[i] - plainLogits[i]));
    expect(moved).toBeGreaterThan(100 * relative.rtol * max); // the adapter matters
  });
});
