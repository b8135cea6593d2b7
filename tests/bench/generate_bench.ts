import { parseArgs } from 'node:util';
import { tinyModel } from '../fixtures/tiny_model.ts';
import { memoryFolder, type ModelFolder } from '../../src/formats/model_folder.ts';
import { openNodeFolder } from '../../src/formats/node_folder.ts';
import { Runtime } from '../../src/engine/runtime.ts';
import { LINEAR_MODULES } from '../../src/formats/tensor_names.ts';
import { Generator } from '../../src/model/generate.ts';
import { loadBaseModel } from '../../src/model/load_base.ts';
import { LoraParams } from '../../src/model/lora_params.ts';
import { greedySampling } from '../../src/model/sampling.ts';
import { loraInitStream, Prng } from '../../src/train/rng.ts';
import { benchRuntime, fmt, printTable } from './bench_gpu.ts';

// `npm run bench -- generate [--model DIR] [--prompt N] [--new N] [--reps N]`: prefill and decode
// tokens/s of Generator (KV cache, NF4 base, LoRA r = 16 on every projection), with the adapter
// on and off. Greedy, so no sampling time beyond an argmax; each decode step includes the
// (V)-logit readback, as real generation does. Wall-clock: on a software adapter the figures
// share two cores with whatever else runs.

const FLAGS = { model: { type: 'string' }, prompt: { type: 'string', default: '64' }, new: { type: 'string', default: '32' }, reps: { type: 'string', default: '2' } } as const;

/** The training benchmark's generated model (4 layers, hidden 256, vocab 2048). */
const BENCH_MODEL = { architecture: 'llama', vocabSize: 2048, hiddenSize: 256, intermediateSize: 512, numLayers: 4, numHeads: 8, numKvHeads: 4, seed: 1 } as const;

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false });
  const int = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return n;
  };
  const promptLen = int('prompt', values.prompt);
  const newTokens = int('new', values.new);
  const reps = int('reps', values.reps);
  const shared = await benchRuntime();
  const rt = new Runtime(shared.gpu);
  const folder: ModelFolder = values.model ? await openNodeFolder(values.model) : memoryFolder('generated llama', tinyModel(BENCH_MODEL).files);
  const base = await loadBaseModel(rt, folder, { quant: 'nf4', doubleQuant: true });
  const { config } = base;
  console.log(`model: ${folder.name}, ${config.numLayers} layers, hidden ${config.hiddenSize}, vocab ${config.vocabSize}; prompt ${promptLen} tokens, ${newTokens} new, best of ${reps}`);
  const lora = new LoraParams(rt, config, { r: 16, alpha: 32, dropout: 0, modules: LINEAR_MODULES, rslora: false, init: (t) => loraInitStream(1, t) });
  const gen = new Generator(rt, base, { lora, maxSeq: promptLen + newTokens });
  const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7919 + 13) % config.vocabSize);
  const rows: (string | number)[][] = [];
  try {
    for (const adapter of [true, false]) {
      let prefill = Infinity;
      let decode = Infinity;
      // The first run compiles every pipeline; it is a warm-up, not a figure.
      for (let r = 0; r <= reps; r++) {
        const result = await gen.generate(prompt, { maxNewTokens: newTokens, sampling: greedySampling, rng: Prng.stream(0, 'bench'), adapter });
        if (r === 0) continue;
        prefill = Math.min(prefill, result.prefillMs);
        if (result.decodeSteps > 0) decode = Math.min(decode, result.decodeMs / result.decodeSteps);
      }
      rows.push([adapter ? 'LoRA on' : 'LoRA off (base)', fmt(prefill), fmt((1000 * promptLen) / prefill), fmt(decode), fmt(1000 / decode)]);
    }
    printTable(['adapter', 'prefill ms', 'prefill tok/s', 'decode ms/token', 'decode tok/s'], rows);
  } finally {
    gen.release();
    rt.arena.releaseAll();
  }
}
