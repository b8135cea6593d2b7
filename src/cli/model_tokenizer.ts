import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TokenizerError } from '../data/errors.ts';
import { TextTokenizer } from '../data/tokenizer.ts';

// The tokenizer of a Hugging Face model folder on disk, for the CLI verbs that read datasets.

/** tokenizer.json + tokenizer_config.json (required), chat_template.jinja and config.json (optional). */
export async function loadModelTokenizer(dir: string): Promise<TextTokenizer> {
  const read = async (name: string, required: boolean): Promise<string | undefined> => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch (e) {
      if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new TokenizerError(join(dir, name), (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found; --model must be a Hugging Face model folder' : (e as Error).message);
    }
  };
  // Read together, but a problem is reported for the first file in this order, not whichever
  // read happened to fail first.
  const settled = await Promise.allSettled([
    read('tokenizer.json', true), read('tokenizer_config.json', true), read('chat_template.jinja', false), read('config.json', false),
  ]);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const [tokenizerJson, tokenizerConfig, chatTemplate, configJson] = settled.map((r) => (r as PromiseFulfilledResult<string | undefined>).value);
  let vocabSize: number | undefined;
  if (configJson !== undefined) {
    try {
      const v = (JSON.parse(configJson) as { vocab_size?: unknown }).vocab_size;
      if (Number.isInteger(v)) vocabSize = v as number;
    } catch (e) {
      throw new TokenizerError(join(dir, 'config.json'), `is not valid JSON: ${(e as Error).message}`);
    }
  }
  return new TextTokenizer({ tokenizerJson: tokenizerJson!, tokenizerConfig: tokenizerConfig!, chatTemplate, vocabSize });
}
