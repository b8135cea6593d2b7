import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { InputError } from '../errors.ts';
import { formatBytes } from '../engine/errors.ts';
import { paddedLength } from '../data/batch.ts';
import { openNodeStreamSource } from '../data/node_stream_source.ts';
import { loadDataset, splitDataset, type DataOptions, type LoadedDataset } from '../data/pipeline.ts';
import { Batcher } from '../data/sampler.ts';
import type { TokenizedExample } from '../data/encode.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import { openNodeFolder } from '../formats/node_folder.ts';
import { adapterFiles, readAdapter, type Adapter } from '../formats/peft.ts';
import { projections } from '../formats/peft_config.ts';
import { adapterModelCard } from '../formats/peft_card.ts';
import { MEMORY_CATEGORIES } from '../engine/arena.ts';
import { parseHfConfig } from '../formats/hf_config.ts';
import { readJson } from '../formats/model_folder.ts';
import { loadBaseModel } from '../model/load_base.ts';
import { trainingMemoryOptions } from '../train/memory_options.ts';
import { estimateTrainingMemory, type MemoryEstimate } from '../model/memory_estimate.ts';
import { Model } from '../model/model.ts';
import { adapterSettingsFor, modelCardSettings, withAdapterSettings } from '../train/config_adapter.ts';
import { parseTrainArgs, trainConfigFromArgs, trainUsage } from '../train/config_args.ts';
import { TrainConfigError } from '../train/config.ts';
import type { Checkpoint } from '../train/checkpoint.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint_dir.ts';
import type { TrainConfig } from '../train/config.ts';
import { loraInitStream } from '../train/rng.ts';
import { Trainer, type TrainResult } from '../train/trainer.ts';
import { withCliRuntime } from './gpu.ts';
import type { CliIo } from './io.ts';
import { formatLoadReport } from './load_report.ts';
import { loadModelTokenizer } from './model_tokenizer.ts';
import { progressPrinter } from './progress.ts';

// `webtune train --model DIR --data FILE --out DIR [...]`: QLoRA fine-tuning from the command
// line, the same Engine pieces the web app uses. At the end --out holds a PEFT adapter
// (adapter_model.safetensors, adapter_config.json, README.md) and, with --log, one JSON object
// per optimizer step and per evaluation; --out/checkpoints/ holds the latest resumable checkpoint
// (every epoch, and every --checkpoint-every steps), which `--resume` continues from.

export async function run(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('--help')) {
    io.out(trainUsage());
    return 0;
  }
  const resume = await resumeFrom(argv);
  let config = resume?.config ?? parseTrainArgs(argv);
  const tokenizer = await loadModelTokenizer(config.model!);
  const data = await loadTrainData(config, tokenizer);
  for (const w of data.warnings) io.err(`webtune: warning: ${w}\n`);
  // A resumed run appends to its log; a new one starts it afresh.
  if (config.log && !resume) await writeFile(config.log, '');

  return withCliRuntime(io, async (rt) => {
    const folder = await openNodeFolder(config.model!);
    const modelConfig = parseHfConfig(await readJson(folder, 'config.json'), `${folder.name}/config.json`);
    let init: Adapter | null = null;
    if (config.initAdapter) {
      init = await readAdapter(await openNodeFolder(config.initAdapter), modelConfig);
      config = withAdapterSettings(config, init.settings);
    }
    const seed = config.seed;
    const train = new Batcher(data.train, tokenizer.padId, { batchSize: config.batchSize, packing: config.packing, maxLength: config.maxLength, order: config.shuffle ? 'shuffle' : 'file', seed });
    const evalSet = data.eval.length ? new Batcher(data.eval, tokenizer.padId, { batchSize: config.batchSize, packing: false, maxLength: config.maxLength, order: 'file', seed }) : undefined;
    // Activations are planned for the longest row the data actually has, not for --max-length.
    const longest = Math.max(...train.rowLengths, ...(evalSet?.rowLengths ?? []));
    const maxSeq = paddedLength(longest, train.options.padMultiple);
    // Before anything is allocated: what the run will take, and a refusal if one buffer cannot fit.
    const estimate = estimateTrainingMemory(modelConfig, trainingMemoryOptions(config, maxSeq, { maxBindingBytes: rt.arena.maxBindingBytes, maxBufferBytes: rt.arena.maxBufferBytes }));
    io.err(`webtune: estimated GPU memory ${formatEstimate(estimate)}\n`);
    if (estimate.problems.length > 0) throw new InputError('does_not_fit', doesNotFit(estimate));
    const base = await loadBaseModel(rt, folder, { quant: config.quant, doubleQuant: config.doubleQuant });
    io.err(formatLoadReport(base.report));
    const model = new Model(rt, base, {
      lora: { r: config.loraR, alpha: config.loraAlpha, dropout: config.loraDropout, modules: config.targetModules, rslora: config.rslora, init: (t) => loraInitStream(seed, t) },
      maxBatch: config.batchSize,
      maxSeq,
      gradCheckpointing: config.gradCheckpointing,
    });
    await rt.arena.checkAllocations();
    if (init) model.importLora(new Map(init.weights.map((w) => [w.target.path, { A: w.a, B: w.b }])));
    const out = config.out!;

    const printer = progressPrinter(io, Boolean(process.stderr.isTTY) && io.runtime === undefined);
    const log = (record: object) => (config.log ? appendFile(config.log, `${JSON.stringify(record)}\n`) : Promise.resolve());
    const pending: Promise<void>[] = [];
    const trainer = new Trainer(rt, model, config, { train, eval: evalSet }, {
      onStep: (m) => {
        printer.step(m);
        pending.push(log({ step: m.step, epoch: m.epoch, loss: m.loss, lr: m.lr, grad_norm: m.gradNorm, tokens: m.tokens, elapsed_s: m.elapsedS, ...(m.skipped ? { skipped: true } : {}) }));
      },
      onEval: (e) => void pending.push(log({ step: e.step, eval_loss: e.evalLoss })),
      onEvent: (text) => printer.line(`webtune: ${text}`),
      onCheckpoint: async (c) => void (await saveCheckpoint(out, c)),
    });
    if (resume) {
      trainer.restore(resume.checkpoint);
      io.err(`webtune: resuming after step ${resume.checkpoint.state.step} of ${trainer.plan.totalSteps}\n`);
    }
    io.err(`webtune: ${data.train.length} training examples, ${data.eval.length} eval; ${trainer.plan.totalSteps} optimizer steps\n`);
    const result = await trainer.run();
    printer.end();
    await Promise.all(pending);

    await mkdir(out, { recursive: true });
    const adapter = await exportAdapter(model, base.config, config, result, data.file);
    for (const [name, bytes] of adapterFiles(adapter)) await writeFile(join(out, name), bytes);
    io.out(summary(result, model.memory.peakTotal, estimate.peakTotal, out));
    return 0;
  });
}

/**
 * `--resume DIR`: the checkpoint's settings win (it must continue the same run); only --log may be
 * given again. Returns null when not resuming.
 */
async function resumeFrom(argv: string[]): Promise<{ checkpoint: Checkpoint; config: TrainConfig } | null> {
  const { config: flags, problems } = trainConfigFromArgs(argv);
  if (flags.resume === null) return null;
  const others = problems.filter((p) => !(['model', 'data', 'out'].includes(p.field) && p.message === 'is required'));
  if (others.length) throw new TrainConfigError(others);
  const checkpoint = await loadCheckpoint(flags.resume);
  const saved = checkpoint.state.config;
  return { checkpoint, config: { ...saved, resume: flags.resume, log: flags.log ?? saved.log } };
}

interface TrainData {
  file: string;
  train: TokenizedExample[];
  eval: TokenizedExample[];
  warnings: string[];
}

async function loadTrainData(config: TrainConfig, tokenizer: TextTokenizer): Promise<TrainData> {
  const options: Partial<DataOptions> = { format: config.format, maxLength: config.maxLength, lossOn: config.lossOn, onBadLine: 'stop' };
  const data = await loadDataset(await openNodeStreamSource(config.data!), tokenizer, options);
  const warnings = describe(data);
  if (config.evalData) {
    const held = await loadDataset(await openNodeStreamSource(config.evalData), tokenizer, { ...options, format: data.format });
    return { file: data.file, train: data.examples, eval: held.examples, warnings: [...warnings, ...describe(held)] };
  }
  if (config.evalSplit) {
    const { train, eval: held } = splitDataset(data.examples, config.evalSplit, config.seed);
    if (train.length === 0) throw new InputError('empty_train_split', `--eval-split ${config.evalSplit} leaves no training examples out of ${data.examples.length}`);
    return { file: data.file, train, eval: held, warnings };
  }
  return { file: data.file, train: data.examples, eval: [], warnings };
}

function describe(d: LoadedDataset): string[] {
  return d.warnings.map((w) => `${d.file}: ${w.message}`);
}

async function exportAdapter(model: Model, modelConfig: Model['config'], config: TrainConfig, result: TrainResult, dataFile: string): Promise<Adapter> {
  const lora = await model.exportLora();
  const weights = projections(modelConfig)
    .filter((p) => lora.has(p.path))
    .map((p) => ({ target: p, a: lora.get(p.path)!.A, b: lora.get(p.path)!.B }));
  const baseName = basename(resolve(config.model!));
  const settings = adapterSettingsFor(config, baseName);
  const last = [...result.steps].reverse().find((s) => !s.skipped);
  const evalLoss = result.evals.at(-1)?.evalLoss ?? null;
  const card = adapterModelCard({
    baseModel: baseName,
    dataset: basename(dataFile),
    adapter: settings,
    settings: modelCardSettings(config),
    results: { steps: result.steps.length, epochs: result.steps.at(-1)?.epoch ?? 0, trainLoss: last?.loss ?? null, evalLoss, tokens: result.steps.reduce((n, s) => n + s.tokens, 0) },
  });
  return { settings, weights, modelCard: card };
}

function summary(result: TrainResult, peakBytes: number, estimatedBytes: number, out: string): string {
  const first = result.steps.find((s) => !s.skipped);
  const last = [...result.steps].reverse().find((s) => !s.skipped);
  const lines = [`trained ${result.steps.length} steps in ${(result.steps.at(-1)?.elapsedS ?? 0).toFixed(1)}s; loss ${first?.loss.toFixed(4)} → ${last?.loss.toFixed(4)}`];
  const evalLoss = result.evals.at(-1);
  if (evalLoss) lines.push(`eval loss ${evalLoss.evalLoss.toFixed(4)} at step ${evalLoss.step}`);
  lines.push(`peak GPU memory ${formatBytes(peakBytes)} (estimated ${formatBytes(estimatedBytes)})`);
  lines.push(`adapter written to ${out}`);
  return `${lines.join('\n')}\n`;
}

/** "1.2 GB peak (base …, lora …, optimizer …, activations …, scratch …); largest buffer … (label)". */
function formatEstimate(e: MemoryEstimate): string {
  const parts = MEMORY_CATEGORIES.map((c) => `${c} ${formatBytes(e.peak[c])}`).join(', ');
  return `${formatBytes(e.peakTotal)} peak (${parts}); largest buffer ${formatBytes(e.largest.bytes)} (${e.largest.label})`;
}

const FLAGS = { batch: '--batch-size', seq: '--max-length', rank: '--lora-r' } as const;

/** The first buffer over the adapter's limit, and the flags that shrink it. */
function doesNotFit(e: MemoryEstimate): string {
  const p = e.problems[0];
  const lower = p.lower.length === 0 ? 'use a smaller model or a GPU with larger limits' : `lower ${p.lower.map((l) => FLAGS[l]).join(' or ')}`;
  const tokens = p.maxTokens === undefined ? '' : ` (batch size × sequence length ≤ ${p.maxTokens} tokens)`;
  return `this run does not fit this GPU: ${p.buffer.label} needs ${formatBytes(p.buffer.bytes)} in one buffer, over the adapter's ${p.limitName} of ${formatBytes(p.limit)}; ${lower}${tokens}`;
}
