import { InputError } from '../errors.ts';
import { Prng } from '../train/rng.ts';
import { intFlag, parseArgs, requireFlag, stringFlag } from './args.ts';
import { decoderOf, encodePrompt, loadForGeneration, quantFromArgs, SAMPLING_FLAGS, samplingFromArgs, stopIdsOf } from './generate_setup.ts';
import { withCliRuntime } from './gpu.ts';
import type { CliIo } from './io.ts';
import { loadModelTokenizer } from './model_tokenizer.ts';

// `webtune generate --model DIR [--adapter DIR] --prompt TEXT [...]`: text streamed to stdout as
// it is generated, on the GPU with a KV cache (model/generate.ts); the base NF4-quantized as
// training saw it, the adapter's LoRA pairs applied unmerged. Load notes and the timing line go
// to stderr, so stdout is only the generated text. Ctrl-C stops after the current token.

const USAGE =
  'usage: webtune generate --model DIR [--adapter DIR] --prompt TEXT [--chat] [--max-new-tokens N]\n' +
  '         [--temperature F] [--top-k N] [--top-p F] [--repetition-penalty F] [--seed N] [--quant nf4|none]\n' +
  '  --temperature 0 (the default) is greedy; --chat wraps the prompt in the model\'s chat template\n';

const FLAGS = { model: 'string', adapter: 'string', prompt: 'string', chat: 'boolean', 'max-new-tokens': 'string', quant: 'string', help: 'boolean', ...SAMPLING_FLAGS } as const;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.flags.help) {
    io.out(USAGE);
    return 0;
  }
  if (args.positionals.length > 0) throw new InputError('bad_argument', `unexpected argument "${args.positionals[0]}"; the prompt goes in --prompt`);
  const model = requireFlag(args, 'model');
  const prompt = requireFlag(args, 'prompt');
  const maxNewTokens = intFlag(args, 'max-new-tokens', 128, 1, 1 << 20);
  const sampling = samplingFromArgs(args);
  const seed = intFlag(args, 'seed', 0, 0, 2 ** 32 - 1);
  const quant = quantFromArgs(args);
  const tokenizer = await loadModelTokenizer(model);
  const ids = encodePrompt(tokenizer, prompt, args.flags.chat === true);

  return withCliRuntime(io, async (rt) => {
    const setup = await loadForGeneration(rt, io, { model, adapter: stringFlag(args, 'adapter'), quant, maxSeq: ids.length + maxNewTokens });
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once('SIGINT', onSigint);
    try {
      const result = await setup.generator.generate(ids, {
        maxNewTokens,
        sampling,
        rng: Prng.stream(seed, 'generate'),
        stopIds: stopIdsOf(tokenizer),
        decode: decoderOf(tokenizer),
        signal: controller.signal,
        onText: (text) => io.out(text),
      });
      io.out('\n');
      const decodeRate = result.decodeSteps > 0 ? `, decode ${((1000 * result.decodeSteps) / result.decodeMs).toFixed(1)} tokens/s` : '';
      io.err(`webtune: ${result.tokens.length} tokens (${result.finish}); prefill ${result.promptTokens} tokens in ${result.prefillMs.toFixed(0)} ms${decodeRate}\n`);
      return result.finish === 'aborted' ? 130 : 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  });
}
