import { InputError } from '../errors.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import type { Runtime } from '../engine/runtime.ts';
import { parseHfConfig } from '../formats/hf_config.ts';
import { readJson } from '../formats/model_folder.ts';
import { openNodeFolder } from '../formats/node_folder.ts';
import { readAdapter } from '../formats/peft.ts';
import { Generator } from '../model/generate.ts';
import { loadBaseModel, type LoadedBase } from '../model/load_base.ts';
import { LoraParams, type LoraArrays, type LoraOptions } from '../model/lora_params.ts';
import type { SamplingOptions } from '../model/sampling.ts';
import { loraInitStream } from '../train/rng.ts';
import { intFlag, stringFlag, type ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';
export { chatRendererOf, encodeForGeneration, encodePrompt, stopIdsOf } from '../data/prompt.ts';
import { formatLoadReport } from './load_report.ts';

// What `webtune generate` and `webtune eval` share: the base (NF4 by default, as QLoRA trained
// it), an optional PEFT adapter as unmerged LoRA pairs, one Generator over both, the prompt
// encoding (plain with BOS, or the chat template with a generation prompt), the ids that end a
// turn, and the sampling flags.

export interface GenerationSetup {
  base: LoadedBase;
  lora: LoraParams | null;
  generator: Generator;
  /** The adapter's LoRA settings and weights as read (eval loss builds its own Model from them). */
  adapter: { options: Omit<LoraOptions, 'dropout'>; weights: Map<string, LoraArrays> } | null;
}

export async function loadForGeneration(rt: Runtime, io: CliIo, options: { model: string; adapter?: string; quant: 'nf4' | 'none'; maxSeq: number }): Promise<GenerationSetup> {
  const folder = await openNodeFolder(options.model);
  const config = parseHfConfig(await readJson(folder, 'config.json'), `${folder.name}/config.json`);
  // The adapter is read (and checked against the config) before the base takes the GPU.
  const adapter = options.adapter ? await readAdapter(await openNodeFolder(options.adapter), config) : null;
  const base = await loadBaseModel(rt, folder, { quant: options.quant, doubleQuant: true });
  io.err(formatLoadReport(base.report));
  let lora: LoraParams | null = null;
  let read: GenerationSetup['adapter'] = null;
  if (adapter) {
    const s = adapter.settings;
    read = {
      options: { r: s.r, alpha: s.loraAlpha, modules: s.targetModules, rslora: s.useRslora, init: (t) => loraInitStream(0, t) },
      weights: new Map(adapter.weights.map((w) => [w.target.path, { A: w.a, B: w.b }])),
    };
    lora = new LoraParams(rt, config, { ...read.options, dropout: 0 });
    lora.import(read.weights);
  }
  const generator = new Generator(rt, base, { lora, maxSeq: options.maxSeq });
  await rt.arena.checkAllocations();
  return { base, lora, generator, adapter: read };
}

export function decoderOf(tokenizer: TextTokenizer): (ids: readonly number[]) => string {
  return (ids) => tokenizer.decode(ids, true);
}

function floatFlag(args: ParsedArgs, name: string, fallback: number, ok: (x: number) => boolean, range: string): number {
  const v = stringFlag(args, name);
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === '' || !ok(x)) throw new InputError('bad_flag', `--${name} must be ${range}, got "${v}"`);
  return x;
}

export const SAMPLING_FLAGS = { temperature: 'string', 'top-k': 'string', 'top-p': 'string', 'repetition-penalty': 'string', seed: 'string' } as const;

/** --temperature (0 = greedy), --top-k, --top-p, --repetition-penalty; defaults: greedy. */
export function samplingFromArgs(args: ParsedArgs): SamplingOptions {
  return {
    temperature: floatFlag(args, 'temperature', 0, (x) => Number.isFinite(x) && x >= 0, 'a number ≥ 0 (0 = greedy)'),
    topK: intFlag(args, 'top-k', 0, 0),
    topP: floatFlag(args, 'top-p', 1, (x) => x > 0 && x <= 1, 'in (0, 1]'),
    repetitionPenalty: floatFlag(args, 'repetition-penalty', 1, (x) => Number.isFinite(x) && x > 0, 'a number > 0 (1 = off)'),
  };
}

export function quantFromArgs(args: ParsedArgs): 'nf4' | 'none' {
  const q = stringFlag(args, 'quant') ?? 'nf4';
  if (q !== 'nf4' && q !== 'none') throw new InputError('bad_flag', `--quant must be nf4 or none, got "${q}"`);
  return q;
}
