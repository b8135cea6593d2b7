import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { tinyModel } from '../fixtures/tiny_model.ts';
import { MEMORY_CATEGORIES } from '../../src/engine/arena.ts';
import { formatBytes } from '../../src/engine/errors.ts';
import { Runtime } from '../../src/engine/runtime.ts';
import { memoryFolder, type ModelFolder } from '../../src/formats/model_folder.ts';
import { openNodeFolder } from '../../src/formats/node_folder.ts';
import { parseTargetModules } from '../../src/model/lora_targets.ts';
import { benchRuntime, fmt, isSoftware, printTable } from './bench_gpu.ts';
import { peakProbe, type Peak } from './peak_probe.ts';
import { benchTrainStep, type PartTiming, type TrainStepOptions, type TrainStepResult } from './train_step.ts';

// `npm run bench -- train [--model DIR] [--batch 2] [--seq 64] [--grad-accum 1] [--r 8]
//   [--targets all-linear|q_proj,v_proj] [--dropout 0.05] [--quant nf4|none] [--no-double-quant]
//   [--grad-checkpointing] [--reps 3] [--chromium]`
// One QLoRA training step (train_step.ts) on the adapter Node gets (the machine's GPU, else
// SwiftShader): a generated 4-layer Llama by default, a Hugging Face folder with --model. Prints
// time per part, tokens/s, the step's GFLOP/s beside the FMA peak probe, dispatches and submits,
// and memory by category beside the estimate. --chromium runs the same step in headless
// Chromium's WebGPU instead (train_bench_chromium.ts).

const FLAGS = {
  model: { type: 'string' },
  batch: { type: 'string', default: '2' },
  seq: { type: 'string', default: '64' },
  'grad-accum': { type: 'string', default: '1' },
  r: { type: 'string', default: '8' },
  targets: { type: 'string', default: 'all-linear' },
  dropout: { type: 'string', default: '0.05' },
  quant: { type: 'string', default: 'nf4' },
  'no-double-quant': { type: 'boolean', default: false },
  'grad-checkpointing': { type: 'boolean', default: false },
  reps: { type: 'string', default: '3' },
  chromium: { type: 'boolean', default: false },
} as const;

/** The generated model: Llama-shaped, GQA 8:4, untied; ~3.7M parameters, ~1.5 GFLOP a step of 128 tokens. */
export const BENCH_MODEL = { architecture: 'llama', vocabSize: 2048, hiddenSize: 256, intermediateSize: 512, numLayers: 4, numHeads: 8, numKvHeads: 4, seed: 1 } as const;

export function parseTrainBenchArgs(argv: string[]): { options: TrainStepOptions; model: string | undefined; chromium: boolean } {
  const { values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false });
  const int = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return n;
  };
  const { modules, unknown } = parseTargetModules(values.targets);
  if (unknown.length > 0) throw new Error(`--targets: unknown module ${unknown.join(', ')}`);
  if (values.quant !== 'nf4' && values.quant !== 'none') throw new Error(`--quant must be nf4 or none, got ${values.quant}`);
  const dropout = Number(values.dropout);
  if (!(dropout >= 0 && dropout < 1)) throw new Error(`--dropout must be in [0, 1), got ${values.dropout}`);
  return {
    model: values.model,
    chromium: values.chromium,
    options: {
      batch: int('batch', values.batch),
      seq: int('seq', values.seq),
      gradAccum: int('grad-accum', values['grad-accum']),
      r: int('r', values.r),
      modules,
      dropout,
      quant: values.quant,
      doubleQuant: !values['no-double-quant'],
      checkpointing: values['grad-checkpointing'],
      reps: int('reps', values.reps),
    },
  };
}

export async function run(argv: string[] = []): Promise<void> {
  const { options, model, chromium } = parseTrainBenchArgs(argv);
  if (chromium) {
    const { runInChromium } = await import('./train_bench_chromium.ts');
    printTrainStep(await runInChromium(options, model ?? { name: 'generated llama', files: tinyModel(BENCH_MODEL).files }), undefined, false);
    return;
  }
  const shared = await benchRuntime();
  const software = isSoftware(shared);
  console.log('\n== peak probe ==');
  const peak = await peakProbe(shared);
  const folder: ModelFolder = model ? await openNodeFolder(model) : memoryFolder('generated llama', tinyModel(BENCH_MODEL).files);
  // A runtime of its own: a fresh arena, so its peak is this run's.
  const rt = new Runtime(shared.gpu);
  const cpuClock = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  printTrainStep(await benchTrainStep(rt, folder, options, cpuClock), peak, software);
}

/** The figures as tables; `peak` from the probe when it ran on the same adapter. */
export function printTrainStep(r: TrainStepResult, peak: Peak | undefined, software: boolean): void {
  const c = r.model.config;
  const o = r.options;
  const quant = o.quant === 'none' ? 'f32 base' : `NF4${o.doubleQuant ? ' + DQ' : ''} base (${formatBytes(r.model.quantizedBytes)})`;
  console.log(`\n== training step: ${r.model.name} ==`);
  console.log(`${c.architecture}, ${c.numLayers} layers, hidden ${c.hiddenSize}, MLP ${c.intermediateSize}, heads ${c.numHeads}/${c.numKvHeads} × ${c.headDim}, vocab ${c.vocabSize}; ${(r.model.parameters / 1e6).toFixed(2)}M parameters, ${quant}; loaded in ${fmt(r.model.loadMs / 1000)} s`);
  console.log(`batch ${o.batch} × seq ${o.seq} × grad-accum ${o.gradAccum} = ${r.tokensPerStep} tokens a step; LoRA r ${o.r} on ${o.modules.join(', ')}, dropout ${o.dropout}; checkpointing ${o.checkpointing ? 'on' : 'off'}; medians of ${o.reps}; final loss ${fmt(r.finalLoss)}`);

  const cores = availableParallelism();
  const idle = (t: PartTiming) => (t.cpuMs === undefined ? undefined : t.cpuMs / cores);
  const rate = (t: PartTiming, ms: number | undefined) => (t.flops === 0 || ms === undefined || ms <= 0 ? undefined : t.flops / ms / 1e6);
  const share = (v: number | undefined, of: number | undefined) => (v === undefined || !of ? '—' : `${fmt((100 * v) / of)}%`);
  const rows = (
    [
      ['forward (eval pass)', r.parts.forward],
      ['backward (f+b − f)', r.parts.backward],
      ['forward + backward', r.parts.forwardBackward],
      ['optimizer (clip + AdamW)', r.parts.optimizer],
      ['whole step (Trainer.step)', r.parts.step],
    ] as const
  ).map(([name, t]) => {
    const cells: (string | number)[] = [name, fmt(t.wallMs), fmt(t.cpuMs), t.dispatches, t.submits || '—', fmt(t.flops / 1e9), fmt(rate(t, t.wallMs)), share(rate(t, t.wallMs), peak?.gflops)];
    if (software) cells.push(fmt(idle(t)), fmt(rate(t, idle(t))), share(rate(t, idle(t)), peak?.idleGflops));
    return cells;
  });
  const softHeaders = software ? ['ms*', 'GFLOP/s*', 'of peak*'] : [];
  printTable(['part', 'wall ms', 'cpu ms', 'dispatches', 'submits', 'GFLOP', 'GFLOP/s', 'of peak', ...softHeaders], rows);
  const step = r.parts.step;
  const tokens = (ms: number | undefined) => (ms ? fmt(r.tokensPerStep / (ms / 1000)) : '—');
  console.log(`tokens/s: ${tokens(step.wallMs)} (wall)${software ? `, ${tokens(idle(step))}* (idle machine)` : ''}`);
  if (software) console.log(`* from cpu ms ÷ ${cores} cores: what an idle machine would give (SwiftShader runs on this process's threads); peak* is the probe's by the same measure`);
  console.log('submits: one per micro-batch plus the two readbacks (loss sum, grad-norm state); the split parts are one submit each');

  const delta = (est: number, got: number) => (got === 0 ? (est === 0 ? '0%' : '—') : `${fmt((100 * (est - got)) / got)}%`);
  const memRows = MEMORY_CATEGORIES.map((k) => [k, formatBytes(r.estimate.peak[k]), formatBytes(r.measured.peak[k]), delta(r.estimate.peak[k], r.measured.peak[k])]);
  memRows.push(['total (peak)', formatBytes(r.estimate.peakTotal), formatBytes(r.measured.peakTotal), delta(r.estimate.peakTotal, r.measured.peakTotal)]);
  console.log('');
  printTable(['memory', 'estimate', 'measured peak', 'estimate − measured'], memRows);
  console.log(`largest single buffer (estimate): ${r.estimate.largest.label}, ${formatBytes(r.estimate.largest.bytes)}`);
}
