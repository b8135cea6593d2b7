import { afterEach, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { exact, expectClose } from '../helpers/tolerance.ts';
import { TINY_PRESETS, type TinyModelOptions } from '../fixtures/tiny_model.ts';
import { randomLora } from '../reference/model_random.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { LINEAR_MODULES } from '../../src/formats/tensor_names.ts';
import { Generator } from '../../src/model/generate.ts';
import type { GenerateOptions } from '../../src/model/generate_loop.ts';
import type { LoadedBase } from '../../src/model/load_base.ts';
import { Model } from '../../src/model/model.ts';
import type { ModelBatch } from '../../src/model/model_batch.ts';
import { greedySampling } from '../../src/model/sampling.ts';
import { Prng } from '../../src/train/rng.ts';
import { loadTiny, loraOptions, toF32 } from './model_setup.ts';

// Generation with the KV cache against full recomputation: at every step the next-token logits
// equal Model.logits over the whole sequence so far (last row), with the adapter on and off, in
// prefill chunks smaller than the prompt; with the adapter off they equal a LoRA-free generator
// bit for bit. Greedy is deterministic, seeded sampling repeats, EOS / stop strings / abort end
// generation, and the streamed text is the result's text.

const RELATIVE = 2e-4;

function expectNear(actual: Float32Array, expected: Float32Array, what: string): void {
  let max = 0;
  for (const x of expected) max = Math.max(max, Math.abs(x));
  expectClose(actual, expected, { name: 'chained', atol: RELATIVE * max, rtol: RELATIVE, reason: 'relative to the largest logit' }, what);
}

/** The (1, T) batch of one sequence, for Model.logits. */
function sequenceBatch(ids: readonly number[]): ModelBatch {
  const T = ids.length;
  return { B: 1, T, inputIds: Int32Array.from(ids), labels: new Int32Array(T).fill(-100), positions: Int32Array.from({ length: T }, (_, t) => t), segmentIds: new Int32Array(T).fill(1) };
}

const lastRow = (logits: Float32Array, T: number, V: number) => logits.slice((T - 1) * V, T * V);

interface Case {
  name: string;
  model: TinyModelOptions;
  quant: 'nf4' | 'none';
  prefillChunk: number;
}

const CASES: Case[] = [
  { name: 'Llama GQA 4:2 with biases, f32 base, prompt in chunks of 3', model: { architecture: 'llama', vocabSize: 61, hiddenSize: 32, intermediateSize: 40, numHeads: 4, numKvHeads: 2, attentionBias: true }, quant: 'none', prefillChunk: 3 },
  { name: 'Qwen3 q/k norm, head_dim 12, tied, NF4 base, whole prompt at once', model: TINY_PRESETS.qwen3, quant: 'nf4', prefillChunk: 16 },
];

let rt: Runtime;
beforeAll(async () => {
  if (!gpuMissing) rt = await gpuRuntime();
});
afterEach(() => rt?.arena.releaseAll());

async function withAdapter(base: LoadedBase, r = 4): Promise<Model> {
  const model = new Model(rt, base, loraOptions(LINEAR_MODULES, { r, alpha: 2 * r, maxBatch: 1, maxSeq: 16 }));
  const targets = LINEAR_MODULES.flatMap((module) => [0, 1].map((layer) => ({ layer, module, r })));
  model.importLora(toF32(randomLora(base.config, targets, 7)).gpu);
  return model;
}

describeGpu('generation with a KV cache', () => {
  for (const c of CASES) {
    it(`logits at every step equal full recomputation: ${c.name}`, async () => {
      const { base } = await loadTiny(rt, c.model, c.quant);
      const V = base.config.vocabSize;
      const tuned = await withAdapter(base);
      const plain = new Model(rt, base, { lora: null, maxBatch: 1, maxSeq: 16, gradCheckpointing: false });
      const gen = new Generator(rt, base, { lora: tuned.lora, maxSeq: 12, prefillChunk: c.prefillChunk });
      const bare = new Generator(rt, base, { lora: null, maxSeq: 12, prefillChunk: c.prefillChunk });
      const prompt = [3, 17, 5, 40, 8];
      for (const adapter of [true, false]) {
        const reference = adapter ? tuned : plain;
        gen.reset();
        bare.reset();
        const ids = [...prompt];
        let logits = await gen.append(ids, adapter);
        if (!adapter) expectClose(await bare.append(ids), logits, exact, 'adapter off vs no adapter, prefill');
        for (let step = 0; step < 5; step++) {
          expectNear(logits, lastRow(await reference.logits(sequenceBatch(ids)), ids.length, V), `adapter ${adapter}, ${ids.length} tokens`);
          const next = (ids.length * 7 + step) % V; // any token: the cache must not care
          ids.push(next);
          logits = await gen.append([next], adapter);
          if (!adapter) expectClose(await bare.append([next]), logits, exact, `adapter off vs no adapter, ${ids.length} tokens`);
        }
      }
    });
  }

  it('greedy is deterministic, seeded sampling repeats, the adapter off is the base model', async () => {
    const { base } = await loadTiny(rt, CASES[0].model, 'none');
    const tuned = await withAdapter(base);
    const gen = new Generator(rt, base, { lora: tuned.lora, maxSeq: 16 });
    const bare = new Generator(rt, base, { lora: null, maxSeq: 16 });
    const prompt = [1, 2, 3];
    const greedy: GenerateOptions = { maxNewTokens: 8, sampling: greedySampling, rng: Prng.stream(0, 'unused') };
    const a = await gen.generate(prompt, greedy);
    expect(a.tokens).toHaveLength(8);
    expect(a.finish).toBe('length');
    expect((await gen.generate(prompt, greedy)).tokens).toEqual(a.tokens);
    const off = await gen.generate(prompt, { ...greedy, adapter: false });
    expect(off.tokens).toEqual((await bare.generate(prompt, greedy)).tokens);
    expect(off.tokens).not.toEqual(a.tokens);

    const sampled = (seed: number) => gen.generate(prompt, { maxNewTokens: 8, sampling: { temperature: 1.5, topK: 20, topP: 0.95, repetitionPenalty: 1.1 }, rng: Prng.stream(seed, 'sample') });
    const s1 = await sampled(5);
    expect((await sampled(5)).tokens).toEqual(s1.tokens);
    const others: number[][] = [];
    for (const seed of [6, 7, 8]) others.push((await sampled(seed)).tokens);
    const both = await Promise.allSettled([sampled(1), sampled(2)]);
    expect(both[0].status).toBe('fulfilled');
    expect(both[1].status === 'rejected' && String(both[1].reason)).toMatch(/already running/);
    expect(others.some((t) => t.join() !== s1.tokens.join())).toBe(true);
  });

  it('stops on an EOS id, on a stop string and on abort; streams exactly the returned text', async () => {
    const { base } = await loadTiny(rt, CASES[0].model, 'none');
    const gen = new Generator(rt, base, { lora: null, maxSeq: 16 });
    const decode = (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');
    const prompt = [4, 9, 1];
    const base8 = await gen.generate(prompt, { maxNewTokens: 8, sampling: greedySampling, rng: Prng.stream(0, 'x'), decode });
    expect(base8.text).toBe(decode(base8.tokens));
    const common = { maxNewTokens: 8, sampling: greedySampling, rng: Prng.stream(0, 'x'), decode };

    const firstAt = base8.tokens.indexOf(base8.tokens[3]);
    const eos = await gen.generate(prompt, { ...common, stopIds: [base8.tokens[3]] });
    expect(eos.finish).toBe('eos');
    expect(eos.tokens).toEqual(base8.tokens.slice(0, firstAt));

    const stop = decode(base8.tokens.slice(4, 6));
    const streamed: string[] = [];
    const stopped = await gen.generate(prompt, { ...common, stopStrings: [stop], onText: (t) => streamed.push(t) });
    expect(stopped.finish).toBe('stop');
    const cut = base8.text.indexOf(stop);
    expect(stopped.text).toBe(base8.text.slice(0, cut));
    expect(streamed.join('')).toBe(stopped.text);

    const controller = new AbortController();
    let seen = 0;
    const aborted = await gen.generate(prompt, { ...common, signal: controller.signal, onToken: () => ++seen === 2 && controller.abort() });
    expect(aborted.finish).toBe('aborted');
    expect(aborted.tokens).toEqual(base8.tokens.slice(0, 2));

    await expect(gen.generate([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { ...common })).rejects.toThrow(/need 17 positions; the generator holds 16/);
  });
});
