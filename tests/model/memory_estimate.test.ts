import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { tinyModel, writeTinyModel, TINY_PRESETS, type TinyModelOptions } from '../fixtures/tiny_model.ts';
import { randomBatch } from '../reference/model_random.ts';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { MEMORY_CATEGORIES } from '../../src/engine/arena.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { parseHfConfig, type ModelConfig } from '../../src/formats/hf_config.ts';
import { memoryFolder, readJson, type ModelFolder } from '../../src/formats/model_folder.ts';
import { openNodeFolder } from '../../src/formats/node_folder.ts';
import { expectedTensors, LINEAR_MODULES, type LinearModule } from '../../src/formats/tensor_names.ts';
import { loadBaseModel } from '../../src/model/load_base.ts';
import { estimateTrainingMemory, type TrainingMemoryOptions } from '../../src/model/memory_estimate.ts';
import { Model } from '../../src/model/model.ts';
import { nf4StorageBytes } from '../../src/model/nf4_density.ts';
import { AdamW } from '../../src/train/optimizer.ts';
import { loraInitStream } from '../../src/train/rng.ts';

// The memory estimate against the arena: for tiny models of every shape the engine handles, what
// estimateTrainingMemory predicts from config.json before anything exists equals, category by
// category, live and peak, what loading the base and building the Model and AdamW allocate (and,
// in one case, then running a training step with the update). Issue #4 asks for 10%; the estimate
// replays the same allocations, so any difference means an allocation changed and the estimate
// must follow it. Then, without a GPU: real-size configs, checkpointing's saving, the refusals.

interface Case {
  name: string;
  model: TinyModelOptions;
  options: Omit<TrainingMemoryOptions, 'limits'>;
  /** Arena binding limit override (splits embed/lm_head and the loss into chunks). */
  maxBindingBytes?: number;
  /** Load from a folder written by `webtune quantize` (NF4 read as it is). */
  preQuantized?: boolean;
  /**
   * Also run one training step with the AdamW update before reading the arena (recording a step
   * allocates nothing; compiling its ~40 pipelines on SwiftShader takes seconds, so one case).
   */
  step?: boolean;
}

const ALL = LINEAR_MODULES;
const BASE = { batch: 2, seq: 16, r: 4, modules: ALL, dropout: 0, checkpointing: false, quant: 'nf4', doubleQuant: true } as const;
const QV: LinearModule[] = ['q_proj', 'v_proj'];

const CASES: Case[] = [
  { name: 'Llama GQA 4:2 untied, NF4 + DQ', model: { architecture: 'llama', hiddenSize: 32, intermediateSize: 64, numHeads: 4, numKvHeads: 2 }, options: BASE },
  {
    name: 'Llama MQA 3:1 tied, 3 layers, NF4 without DQ, checkpointing, dropout 0.1, q/v only',
    model: { ...TINY_PRESETS.llamaOddTied, numLayers: 3 },
    options: { ...BASE, doubleQuant: false, checkpointing: true, dropout: 0.1, modules: QV, r: 3 },
    step: true,
  },
  { name: 'Qwen2 q/k/v biases, --quant none, dropout 0.05', model: TINY_PRESETS.qwen2, options: { ...BASE, quant: 'none', dropout: 0.05, seq: 24 } },
  { name: 'Qwen3 q/k norm, head_dim 12, tied, NF4, checkpointing', model: TINY_PRESETS.qwen3, options: { ...BASE, checkpointing: true, batch: 3, seq: 8 } },
  {
    name: 'Llama attention + MLP biases, f32, embed/lm_head split over bindings, loss in chunks',
    model: { architecture: 'llama', vocabSize: 97, hiddenSize: 32, intermediateSize: 40, numHeads: 4, numKvHeads: 2, attentionBias: true, mlpBias: true },
    options: { ...BASE, quant: 'none', seq: 32, modules: ['o_proj', 'down_proj'] },
    maxBindingBytes: 12 * 1024,
  },
  { name: 'pre-quantized Mistral (webtune quantize): NF4 loaded as stored', model: TINY_PRESETS.mistral, options: { ...BASE, doubleQuant: false }, preQuantized: true },
];

async function folderFor(c: Case): Promise<ModelFolder> {
  const model = tinyModel({ ...c.model, seed: 3 });
  if (!c.preQuantized) return memoryFolder('tiny', model.files);
  const out = join(await mkdtemp(join(tmpdir(), 'webtune-mem-')), 'nf4');
  // Quantized on a runtime of its own, so that its buffers stay out of the measured arena.
  const own = await gpuRuntime();
  const io = memoryIo(own);
  const code = await main(['quantize', '--model', await writeTinyModel(model), '--out', out], io);
  own.arena.releaseAll();
  if (code !== 0) throw new Error(io.stderr);
  return openNodeFolder(out);
}

describeGpu('estimateTrainingMemory against the arena', () => {
  let rt: Runtime | undefined;
  afterEach(() => {
    rt?.arena.releaseAll();
    rt = undefined;
  });

  for (const c of CASES) {
    it(c.name, async () => {
      rt = await gpuRuntime(c.maxBindingBytes ? { maxBindingBytes: c.maxBindingBytes } : {});
      const o = c.options;
      const folder = await folderFor(c);
      const config = parseHfConfig(await readJson(folder, 'config.json'));
      const estimate = estimateTrainingMemory(config, { ...o, limits: { maxBindingBytes: rt.arena.maxBindingBytes, maxBufferBytes: rt.arena.maxBufferBytes } });

      const loaded = await loadBaseModel(rt, folder, { quant: o.quant, doubleQuant: o.doubleQuant });
      const model = new Model(rt, loaded, {
        lora: { r: o.r, alpha: 2 * o.r, dropout: o.dropout, modules: o.modules, rslora: false, init: (t) => loraInitStream(5, t) },
        maxBatch: o.batch,
        maxSeq: o.seq,
        gradCheckpointing: o.checkpointing,
      });
      const adamw = new AdamW(rt, model.loraParameters(), model.loraGradients(), { weightDecay: 0.01, maxGradNorm: 1 });
      const rows = Array.from({ length: o.batch }, (_, b) => [o.seq - 3 * b]);
      model.uploadBatch(randomBatch(loaded.config, rows, 4, 1, o.seq));
      if (c.step) {
        await rt.run('step', (rec) => {
          model.recordTrainStep(rec, { gradScale: 0.01, dropoutSeed: 9, zeroGrads: true });
          adamw.record(rec, 1, 1e-3);
        });
        expect(await model.readLossSum()).toBeGreaterThan(0);
      }
      await rt.arena.checkAllocations();

      const measured = model.memory;
      expect(Math.abs(estimate.peakTotal - measured.peakTotal)).toBeLessThanOrEqual(0.1 * measured.peakTotal);
      for (const k of MEMORY_CATEGORIES) {
        expect({ category: k, live: estimate.live[k], peak: estimate.peak[k] }).toEqual({ category: k, live: measured.live[k], peak: measured.peak[k] });
      }
      expect([estimate.liveTotal, estimate.peakTotal]).toEqual([measured.liveTotal, measured.peakTotal]);
      expect([estimate.layerActivationBytes, estimate.checkpointingSavedBytes]).toEqual([measured.layerActivationBytes, measured.checkpointingSavedBytes]);
      expect(estimate.trainableParameters).toBe(model.lora!.parameterCount);
      expect(estimate.lossChunkRows).toBe(model.plan.lossChunkRows);
      expect(estimate.problems).toEqual([]);
    });
  }
});

describeGpu('webtune train and the estimate', () => {
  it('refuses a run with an activation over the binding limit before allocating anything, naming the flags', async () => {
    // 128 KiB bindings: one row of 32k logits fits, 1024-wide MLP activations of 33+ tokens do not.
    const rt = await gpuRuntime({ maxBindingBytes: 128 * 1024 });
    const dir = await mkdtemp(join(tmpdir(), 'webtune-fit-'));
    const model = await writeTinyModel(tinyModel({ ...TINY_PRESETS.llamaTokenizer, intermediateSize: 1024, seed: 2 }), join(dir, 'model'));
    const data = join(dir, 'data.jsonl');
    await writeFile(data, Array.from({ length: 4 }, (_, i) => JSON.stringify({ instruction: `Say the number ${i} twice, please, and then stop.`, output: `${i} ${i}` })).join('\n'));
    const io = memoryIo(rt);
    const code = await main(['train', '--model', model, '--data', data, '--out', join(dir, 'out'), '--batch-size', '4', '--max-steps', '1'], io);
    expect(code, io.stderr).toBe(2);
    expect(io.stderr).toMatch(/estimated GPU memory .* peak \(base .*\); largest buffer/);
    expect(io.stderr).toMatch(/this run does not fit this GPU: layer0\.gate needs .* over the adapter's maxStorageBufferBindingSize of 128\.0 KiB; lower --batch-size or --max-length \(batch size × sequence length ≤ 32 tokens\)/);
    expect(rt.arena.report().peakTotal).toBe(0);
  });
});

/** A Llama-2-7B-shaped config (32 layers, 4096 hidden, 11008 MLP, 32k vocab, untied). */
function llama7b(extra: Record<string, unknown> = {}): ModelConfig {
  return parseHfConfig({
    model_type: 'llama',
    vocab_size: 32000,
    hidden_size: 4096,
    intermediate_size: 11008,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 32,
    tie_word_embeddings: false,
    ...extra,
  });
}

describe('estimateTrainingMemory on real sizes (no GPU)', () => {
  const options: TrainingMemoryOptions = { ...BASE, batch: 1, seq: 512, r: 16 };

  it('puts a 7B NF4 base at its NF4 size plus the f32 embeddings and norms', () => {
    const config = llama7b();
    const e = estimateTrainingMemory(config, options);
    let expected = 0;
    for (const t of expectedTensors(config)) expected += t.linear ? nf4StorageBytes(t.shape[0] * t.shape[1], true) : 4 * t.shape.reduce((a, b) => a * b, 1);
    // Beyond nf4StorageBytes: the 256-entry nested code per weight, 4-byte rounding, inv_freq.
    expect(e.live.base / expected - 1).toBeGreaterThan(0);
    expect(e.live.base / expected - 1).toBeLessThan(1e-3);
    expect(e.live.lora).toBe(2 * 4 * e.trainableParameters);
    expect(e.live.optimizer).toBe(2 * 4 * e.trainableParameters);
    expect(e.trainableParameters).toBe(32 * 16 * (4 * 2 * 4096 + 3 * (4096 + 11008)));
    expect(e.problems).toEqual([]);
    // Quantizing on load, the peak is reached while training: the f32 copies are long gone by then.
    expect(e.peakTotal).toBe(e.liveTotal);
  });

  it('checkpointing saves (layers − 1) saved sets of activations', () => {
    const config = llama7b();
    const off = estimateTrainingMemory(config, options);
    const on = estimateTrainingMemory(config, { ...options, checkpointing: true });
    expect(on.checkpointingSavedBytes).toBe(31 * off.layerActivationBytes);
    expect(off.live.activations - on.live.activations).toBe(on.checkpointingSavedBytes);
    expect(on.live.scratch).toBe(off.live.scratch);
  });

  it('refuses activations larger than one binding, saying how many tokens fit', () => {
    const e = estimateTrainingMemory(llama7b(), { ...options, batch: 4, seq: 4096 });
    const worst = e.problems.find((p) => p.buffer.label === 'layer0.gate')!;
    expect(worst).toMatchObject({ limitName: 'maxStorageBufferBindingSize', lower: ['batch', 'seq'], maxTokens: Math.floor(2 ** 27 / (11008 * 4)) });
    expect(worst.message).toMatch(/layer0\.gate needs 688\.0 MiB .* ≤ 3048 tokens/);
    expect(e.largest.bytes).toBe(16384 * 11008 * 4);
    // A 1 GiB binding (SwiftShader, many discrete GPUs) takes the same run.
    expect(estimateTrainingMemory(llama7b(), { ...options, batch: 4, seq: 4096, limits: { maxBindingBytes: 2 ** 30, maxBufferBytes: 2 ** 30 } }).problems).toEqual([]);
  });

  it('refuses an optimizer moment larger than one binding, naming the rank', () => {
    const e = estimateTrainingMemory(llama7b(), { ...options, r: 8192, modules: ['down_proj'] });
    expect(e.problems.map((p) => [p.buffer.label, p.lower])).toContainEqual(['adamw.m[0]', ['rank']]);
  });

  it('reports a weight the NF4 splitter cannot fit in a binding as a problem, not a throw', () => {
    const e = estimateTrainingMemory(llama7b(), { ...options, limits: { maxBindingBytes: 16 * 1024, maxBufferBytes: 2 ** 28 } });
    expect(e.problems[0]).toMatchObject({ buffer: { label: 'model.layers.0.self_attn.q_proj.weight (f32 for quantizing)', bytes: 4 * 4096 * 4 }, lower: [] });
  });

  it('splits a large vocabulary over bindings instead of refusing it', () => {
    const e = estimateTrainingMemory(llama7b({ vocab_size: 128256 }), options);
    expect(e.problems).toEqual([]);
    expect(e.lossChunkRows).toBe(Math.floor(2 ** 27 / (128256 * 4)));
    expect(e.buffers.filter((b) => b.label.startsWith('model.embed_tokens.weight')).length).toBe(Math.ceil((128256 * 4096 * 4) / 2 ** 27));
  });
});
