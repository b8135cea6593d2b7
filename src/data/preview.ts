import type { TokenizedExample } from './encode.ts';
import type { TextTokenizer } from './tokenizer.ts';

// One example shown as the model will see it: every token with its vocabulary piece and whether it
// is trained, and the text cut into runs of trained / not-trained tokens. Run text comes from
// decoding growing prefixes and taking the difference, so spaces that SentencePiece decoders drop
// at the start of a decode, and characters split across byte-level tokens, come out right.

export interface PreviewToken {
  id: number;
  piece: string;
  trained: boolean;
}

export interface PreviewRun {
  text: string;
  trained: boolean;
}

export interface ExamplePreview {
  line: number;
  length: number;
  trainedTokens: number;
  truncated: boolean;
  tokens: PreviewToken[];
  runs: PreviewRun[];
}

export function previewExample(tokenizer: TextTokenizer, ex: TokenizedExample): ExamplePreview {
  const ids = Array.from(ex.inputIds);
  const tokens = ids.map((id, i) => ({ id, piece: tokenizer.piece(id), trained: ex.labels[i] !== -100 }));
  const runs: PreviewRun[] = [];
  let previous = '';
  for (let start = 0; start < ids.length; ) {
    let end = start + 1;
    while (end < ids.length && tokens[end].trained === tokens[start].trained) end++;
    const upTo = tokenizer.decode(ids.slice(0, end));
    const text = upTo.startsWith(previous) ? upTo.slice(previous.length) : tokenizer.decode(ids.slice(start, end));
    runs.push({ text, trained: tokens[start].trained });
    previous = upTo;
    start = end;
  }
  return { line: ex.line, length: ids.length, trainedTokens: ex.trainedTokens, truncated: ex.originalLength > ids.length, tokens, runs };
}

/**
 * Plain-text rendering for the CLI: one run per line, marked "train" or "-----", its text as a
 * JSON string so newlines and special tokens stay visible.
 */
export function formatPreview(p: ExamplePreview): string {
  const head = `line ${p.line}: ${p.length} tokens, ${p.trainedTokens} trained${p.truncated ? ' (truncated)' : ''}`;
  return [head, ...p.runs.map((r) => `  ${r.trained ? 'train' : '-----'} ${JSON.stringify(r.text)}`)].join('\n');
}
