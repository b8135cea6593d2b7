import { writeFile } from 'node:fs/promises';
import { InputError } from '../errors.ts';
import { openNodeStreamSource } from '../data/node_stream_source.ts';
import { loadDataset } from '../data/pipeline.ts';
import { buildEvalReport, encodeEvalPrompts, evalExampleOf, formatSummaryTable, loadReferences, reportFormatOf, reportToCsv, reportToJson, type EvalExample } from '../eval/index.ts';
import type { Generator } from '../model/generate.ts';
import { greedySampling } from '../model/sampling.ts';
import { Prng } from '../train/rng.ts';
import { intFlag, parseArgs, requireFlag, stringFlag } from './args.ts';
import { evalLosses, formatLosses } from './eval_loss.ts';
import { decoderOf, loadForGeneration, quantFromArgs, stopIdsOf } from './generate_setup.ts';
import { withCliRuntime } from './gpu.ts';
import type { CliIo } from './io.ts';
import { loadModelTokenizer } from './model_tokenizer.ts';

// `webtune eval --model DIR [--adapter DIR] --data FILE [...]`: each held-out example's prompt
// (Alpaca, prompt/completion, or messages up to the last assistant turn; eval/references.ts) is
// answered greedily by the base model and, with --adapter, by the tuned one — the same loaded base
// with the LoRA pairs switched off and on — and both are scored against the reference (ROUGE-1/2/L
// F1, BLEU-4, exact match; eval/report.ts). Before that, the eval loss and perplexity of both over
// the same examples (eval_loss.ts, the data layer's labels as in training). The summary table and
// losses go to stdout, progress to stderr, the per-example rows to --out (.json also holds the
// losses as "evalLoss"; .csv is the rows alone).

const USAGE =
  'usage: webtune eval --model DIR [--adapter DIR] --data FILE.jsonl [--max-examples N] [--max-new-tokens N]\n' +
  '         [--out FILE.json|FILE.csv] [--max-length N] [--quant nf4|none]\n' +
  '  generation is greedy; with --adapter every example is answered by the base and by the tuned model\n';

const FLAGS = { model: 'string', adapter: 'string', data: 'string', 'max-examples': 'string', 'max-new-tokens': 'string', 'max-length': 'string', out: 'string', quant: 'string', help: 'boolean' } as const;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.flags.help) {
    io.out(USAGE);
    return 0;
  }
  if (args.positionals.length > 0) throw new InputError('bad_argument', `unexpected argument "${args.positionals[0]}"`);
  const model = requireFlag(args, 'model');
  const data = requireFlag(args, 'data');
  const adapter = stringFlag(args, 'adapter');
  const out = stringFlag(args, 'out');
  const format = out === undefined ? null : reportFormatOf(out);
  if (out !== undefined && format === null) throw new InputError('bad_flag', `--out must end in .json or .csv, got "${out}"`);
  const maxExamples = intFlag(args, 'max-examples', 100, 1);
  const maxNewTokens = intFlag(args, 'max-new-tokens', 64, 1, 1 << 20);
  const quant = quantFromArgs(args);
  const maxLength = intFlag(args, 'max-length', 1024, 2);

  const tokenizer = await loadModelTokenizer(model);
  const refs = await loadReferences(await openNodeStreamSource(data), { maxExamples });
  if (refs.references.length === 0) throw new InputError('empty_eval_set', `${data} has no examples to evaluate`);
  const prompts = encodeEvalPrompts(tokenizer, refs.references);
  const longest = Math.max(...prompts.map((p) => p.length));
  io.err(`webtune: ${refs.references.length} ${refs.format} examples from ${refs.file}; longest prompt ${longest} tokens\n`);
  const tokenized = (await loadDataset(await openNodeStreamSource(data), tokenizer, { format: refs.format, maxLength, onBadLine: 'stop' })).examples.slice(0, maxExamples);

  return withCliRuntime(io, async (rt) => {
    const setup = await loadForGeneration(rt, io, { model, adapter, quant, maxSeq: longest + maxNewTokens });
    const { generator } = setup;
    const losses = await evalLosses(rt, setup.base, tokenized, tokenizer.padId, setup.adapter);
    io.err(`webtune: ${formatLosses(losses)}`);
    const answer = async (g: Generator, ids: number[], withAdapter: boolean) =>
      (await g.generate(ids, { maxNewTokens, sampling: greedySampling, rng: Prng.stream(0, 'eval'), stopIds: stopIdsOf(tokenizer), decode: decoderOf(tokenizer), adapter: withAdapter })).text;
    const examples: EvalExample[] = [];
    for (const [i, ref] of refs.references.entries()) {
      const baseOutput = await answer(generator, prompts[i], false);
      const tunedOutput = adapter ? await answer(generator, prompts[i], true) : null;
      examples.push(evalExampleOf(ref, baseOutput, tunedOutput));
      io.err(`webtune: example ${i + 1}/${refs.references.length} (line ${ref.line})\n`);
    }
    const report = buildEvalReport(examples);
    io.out(formatSummaryTable(report.summary));
    io.out(formatLosses(losses));
    if (out !== undefined) {
      const json = () => JSON.stringify({ ...(JSON.parse(reportToJson(report)) as object), evalLoss: losses }, null, 2);
      await writeFile(out, format === 'csv' ? reportToCsv(report) : json());
      io.out(`rows written to ${out}\n`);
    }
    return 0;
  });
}
