import { WebtuneError, InputError } from '../errors.ts';
import { processIo, type CliIo } from './io.ts';

// The `webtune` command line. Each verb is a module with `run(argv, io) → exit code`, loaded on
// demand so `webtune data` never starts a GPU.
type Verb = { summary: string; load: () => Promise<{ run(argv: string[], io: CliIo): Promise<number> }> };

const verbs: Record<string, Verb> = {
  inspect: { summary: 'inspect <model-dir | file.safetensors>   config, tensors, NF4 size', load: () => import('./inspect.ts') },
  quantize: { summary: 'quantize --model DIR --out DIR [--no-double-quant]   write the NF4 base', load: () => import('./quantize.ts') },
  data: { summary: 'data --model DIR --data FILE.jsonl [...]   check, tokenize and preview a dataset', load: () => import('./data.ts') },
  merge: { summary: 'merge --model DIR --adapter DIR|ZIP --out DIR [--shard-size 2GB] [--from-nf4]   merge an adapter into the base', load: () => import('./merge.ts') },
  export: { summary: 'export --adapter DIR --zip FILE [--model DIR]   an adapter folder as one .zip', load: () => import('./export.ts') },
  generate: { summary: 'generate --model DIR [--adapter DIR] --prompt TEXT [--chat] [...]   stream generated text; --help lists every flag', load: () => import('./generate.ts') },
  eval: { summary: 'eval --model DIR [--adapter DIR] --data FILE.jsonl [--max-examples N] [--out FILE.json|.csv]   base vs tuned ROUGE/BLEU/EM', load: () => import('./eval.ts') },
  train: { summary: 'train --model DIR --data FILE.jsonl --out DIR [...]   QLoRA fine-tuning; --help lists every flag', load: () => import('./train.ts') },
};

function usage(): string {
  const lines = Object.values(verbs).map((v) => `  webtune ${v.summary}`);
  return `usage:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? 0 : 2;
  }
  const verb = verbs[name];
  if (!verb) {
    io.err(`webtune: error: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  try {
    return await (await verb.load()).run(rest, io);
  } catch (e) {
    return reportError(e, io);
  }
}

/** One line on stderr, no stack: exit 2 for bad input, 1 for anything else. */
export function reportError(e: unknown, io: CliIo): number {
  const message = e instanceof Error ? e.message : String(e);
  io.err(`webtune: error: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  if (e instanceof InputError) return 2;
  if (e instanceof WebtuneError) return 1;
  if (process.env.WEBTUNE_DEBUG && e instanceof Error) io.err(`${e.stack}\n`);
  return 1;
}
