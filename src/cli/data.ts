import { intFlag, parseArgs, requireFlag, stringFlag, type ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';
import { loadModelTokenizer } from './model_tokenizer.ts';
import { InputError } from '../errors.ts';
import { datasetFormats, type DatasetFormat } from '../data/formats.ts';
import { openNodeStreamSource } from '../data/node_stream_source.ts';
import { loadDataset, splitDataset, type LoadedDataset } from '../data/pipeline.ts';
import { formatPreview, previewExample } from '../data/preview.ts';
import { Batcher, type PlanSummary } from '../data/sampler.ts';

// `webtune data`: check, tokenize and preview a dataset exactly as training will see it, without
// a GPU. Prints the format, statistics, warnings, the batch plan and one example with its trained
// tokens marked; `--json` prints the same as one JSON object. Bad input exits 2 with one line,
// `webtune: error: <file>:<line>: <reason>` (main.ts prints it).

const usage =
  'usage: webtune data --model DIR --data FILE.jsonl [--format auto|text|alpaca|prompt-completion|messages|tokenized]\n' +
  '         [--max-length N] [--loss-on completion|all] [--packing] [--skip-bad-lines] [--json]\n' +
  '         [--batch-size N] [--eval-split R | --eval-data FILE.jsonl] [--seed N] [--preview I]\n';

const flags = {
  model: 'string', data: 'string', format: 'string', 'max-length': 'string', 'loss-on': 'string',
  packing: 'boolean', 'skip-bad-lines': 'boolean', json: 'boolean', 'batch-size': 'string',
  'eval-split': 'string', 'eval-data': 'string', seed: 'string', preview: 'string', help: 'boolean',
} as const;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, flags);
  if (args.flags.help) {
    io.out(usage);
    return 0;
  }
  if (args.positionals.length > 0) throw new InputError('bad_flag', `unexpected argument "${args.positionals[0]}"; ${usage.split('\n')[0]}`);
  const modelDir = requireFlag(args, 'model');
  const dataPath = requireFlag(args, 'data');
  const format = choice(args, 'format', ['auto', ...datasetFormats], 'auto') as DatasetFormat | 'auto';
  const lossOn = choice(args, 'loss-on', ['completion', 'all'], 'completion') as 'completion' | 'all';
  const maxLength = intFlag(args, 'max-length', 1024, 2, 1 << 20);
  const batchSize = intFlag(args, 'batch-size', 4, 1, 4096);
  const seed = intFlag(args, 'seed', 42, 0, 2 ** 32 - 1);
  const previewIndex = intFlag(args, 'preview', 1, 1);
  const evalSplit = ratioFlag(args, 'eval-split');
  const evalPath = stringFlag(args, 'eval-data');
  if (evalSplit > 0 && evalPath !== undefined) throw new InputError('bad_flag', 'use --eval-split or --eval-data, not both');
  const packing = args.flags.packing === true;

  // Open the files first: a mistyped path should fail before the tokenizer takes a second to build.
  const source = await openNodeStreamSource(dataPath);
  const evalSource = evalPath === undefined ? null : await openNodeStreamSource(evalPath);
  const tokenizer = await loadModelTokenizer(modelDir);
  const options = { format, maxLength, lossOn, onBadLine: args.flags['skip-bad-lines'] ? ('skip' as const) : ('stop' as const) };
  const data = await loadDataset(source, tokenizer, options);
  const evalData = evalSource === null ? null : await loadDataset(evalSource, tokenizer, { ...options, format: data.format });
  const { train, eval: held } = evalSplit > 0 ? splitDataset(data.examples, evalSplit, seed) : { train: data.examples, eval: evalData?.examples ?? [] };
  const plan = new Batcher(train, tokenizer.padId, { batchSize, packing, maxLength, seed }).summary(0);
  if (previewIndex > data.examples.length) throw new InputError('bad_flag', `--preview ${previewIndex}: the dataset has ${data.examples.length} examples`);
  const preview = previewExample(tokenizer, data.examples[previewIndex - 1]);

  const summary = {
    model: { dir: modelDir, vocabSize: tokenizer.vocabSize, bos: tokenizer.bosToken, addBos: tokenizer.addBos, eos: tokenizer.eosToken, padId: tokenizer.padId, chatTemplate: tokenizer.chatTemplate === null ? 'chatml (default)' : 'model' },
    data: report(data),
    eval: evalData ? report(evalData) : null,
    split: { train: train.length, eval: held.length, evalSplit, seed },
    batches: { batchSize, packing, padMultiple: 8, ...plan },
    preview,
  };
  if (args.flags.json) {
    io.out(`${JSON.stringify(summary, null, 2)}\n`);
    return 0;
  }
  io.out(formatText(data, evalData, summary.model, summary.split, plan, batchSize, packing));
  io.out(`preview of example ${previewIndex} (train = trained tokens):\n${formatPreview(preview)}\n`);
  return 0;
}

function report(d: LoadedDataset) {
  return { file: d.file, format: d.format, formatOrigin: d.formatOrigin, stats: d.stats, warnings: d.warnings, badLines: d.problems, bytesRead: d.reader.bytesRead, lines: d.reader.lines };
}

function formatText(d: LoadedDataset, evalData: LoadedDataset | null, model: { dir: string; vocabSize: number; bos: string | null; addBos: boolean; eos: string | null; chatTemplate: string }, split: { train: number; eval: number }, plan: PlanSummary, batchSize: number, packing: boolean): string {
  const s = d.stats;
  const pct = (a: number, b: number) => (b === 0 ? '0.0' : ((100 * a) / b).toFixed(1));
  const widest = Math.max(...s.histogram.map((b) => b.count), 1);
  const out = [
    `model      ${model.dir}: vocab ${model.vocabSize}, BOS ${model.addBos ? model.bos : 'not added'}, EOS ${model.eos ?? 'none'}, chat template ${model.chatTemplate}`,
    `dataset    ${d.file}: ${d.reader.lines} lines, ${d.reader.bytesRead} bytes`,
    `format     ${d.format} (${d.formatOrigin})`,
    `examples   ${s.examples} kept, ${s.badLines} bad lines skipped, ${s.fullyMasked} fully masked dropped, ${s.truncated} truncated`,
    `tokens     ${s.tokens} total, ${s.trainedTokens} trained (${pct(s.trainedTokens, s.tokens)}%)`,
    `length     min ${s.minLength}, mean ${s.meanLength.toFixed(1)}, max ${s.maxLength}`,
    'histogram',
    ...s.histogram.map((b) => `  ${`${b.from}-${b.to}`.padStart(11)} ${String(b.count).padStart(8)} ${'#'.repeat(Math.round((40 * b.count) / widest))}`.trimEnd()),
    `split      ${split.train} train, ${split.eval} eval${evalData ? ` (from ${evalData.file})` : ''}`,
    `batches    ${plan.batches} per epoch of ${batchSize} rows${packing ? `, ${plan.rows} packed rows` : ''}; ${pct(plan.slots - plan.tokens, plan.slots)}% padding, largest batch ${plan.largestBatchSlots} token slots`,
  ];
  const warnings = [...d.warnings, ...(evalData?.warnings ?? []).map((w) => ({ ...w, message: `eval: ${w.message}` }))];
  if (warnings.length > 0) out.push('warnings', ...warnings.map((w) => `  - ${w.message}`));
  if (d.problems.length > 0) out.push(`bad lines${d.problems.length < s.badLines ? ` (first ${d.problems.length} of ${s.badLines})` : ''}`, ...d.problems.map((p) => `  ${d.file}:${p.line}: ${p.reason}`));
  return `${out.join('\n')}\n`;
}

function choice(args: ParsedArgs, name: string, allowed: readonly string[], fallback: string): string {
  const v = stringFlag(args, name) ?? fallback;
  if (!allowed.includes(v)) throw new InputError('bad_flag', `--${name} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v;
}

function ratioFlag(args: ParsedArgs, name: string): number {
  const v = stringFlag(args, name);
  if (v === undefined) return 0;
  const r = Number(v);
  if (v.trim() === '' || !(r >= 0 && r < 1)) throw new InputError('bad_flag', `--${name} must be a number in [0, 1), got "${v}"`);
  return r;
}
