import type { TextTokenizer } from './tokenizer.ts';

// Character offsets of a rendered conversation → token indices of its encoding. The tokenizer
// offers no offset mapping, so a boundary is found the way TRL checks prompt-completion data:
// tokenize the text before the boundary on its own and check that those tokens are a prefix of
// the whole encoding.
//
// To avoid re-tokenizing ever longer prefixes, the search starts from the last special token
// before the boundary. Tokenizers split special tokens out before normalizing or pre-tokenizing,
// so the encoding up to a special token never depends on what follows it: only the text between
// that token and the boundary is tokenized. If that piece does not match (a tokenizer whose
// normalizer treats the first piece of a text differently), the whole prefix is tokenized instead.

export interface TokenBoundary {
  /** Tokens [0, index) encode text before the boundary. */
  index: number;
  /** False when a token straddles the boundary; index is then the common prefix length. */
  exact: boolean;
}

export class TokenBoundaries {
  /** For each special token in ids, in order: the text offset and the token index just after it. */
  private readonly anchors: { textEnd: number; tokenEnd: number }[] = [];

  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly text: string,
    private readonly ids: readonly number[],
  ) {
    const contentOf = tokenizer.specialContents;
    let cursor = 0;
    for (let t = 0; t < ids.length; t++) {
      const content = contentOf.get(ids[t]);
      if (content === undefined) continue;
      const at = text.indexOf(content, cursor);
      if (at < 0) break; // not where expected (cannot happen for a faithful tokenizer): stop anchoring here
      cursor = at + content.length;
      this.anchors.push({ textEnd: cursor, tokenEnd: t + 1 });
    }
  }

  /** The token boundary at character offset `offset` of the text. */
  at(offset: number): TokenBoundary {
    let k = this.anchors.length - 1;
    while (k >= 0 && this.anchors[k].textEnd > offset) k--;
    if (k >= 0) {
      const { textEnd, tokenEnd } = this.anchors[k];
      if (textEnd === offset) return { index: tokenEnd, exact: true };
      const piece = this.tokenizer.encode(this.text.slice(textEnd, offset));
      const matched = matchedPrefix(this.ids, tokenEnd, piece);
      if (matched === piece.length) return { index: tokenEnd + matched, exact: true };
    }
    if (offset === 0) return { index: 0, exact: true };
    const own = this.tokenizer.encode(this.text.slice(0, offset));
    const matched = matchedPrefix(this.ids, 0, own);
    return { index: matched, exact: matched === own.length };
  }
}

/** Length of the common prefix of ids[offset…] and part. */
export function matchedPrefix(ids: readonly number[], offset: number, part: readonly number[]): number {
  let k = 0;
  while (k < part.length && offset + k < ids.length && ids[offset + k] === part[k]) k++;
  return k;
}
