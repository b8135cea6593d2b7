import { alpacaPrompt } from './alpaca.ts';
import { ChatRenderer } from './chat_template.ts';
import type { ChatMessage, Example } from './formats.ts';
import { matchedPrefix, TokenBoundaries } from './token_boundaries.ts';
import type { TextTokenizer } from './tokenizer.ts';

// One example → token ids and loss labels, following TRL's preparation (formats.md §6.2, §8
// item 14):
//
//   text               [BOS?] tokens(text) EOS                       every token trained
//   prompt-completion  [BOS?] tokens(prompt + completion) EOS        completion + EOS trained
//   alpaca             the same, with prompt = alpacaPrompt(), completion = output
//   messages           tokens(chat_template(messages)), no BOS/EOS added (the template writes
//                      them), assistant spans of ChatRenderer.assistantSpans trained
//   tokenized          input_ids as given; labels as given, or input_ids when absent
//
// `lossOn: 'all'` trains every token of every format (given labels are then ignored).
// EOS is appended only if the ids do not already end with it (TRL checks the text likewise).
//
// Prompt/answer boundaries are mapped from text to tokens the way TRL does for prompt-completion:
// tokenize the text up to the boundary alone and check that it is a prefix of the whole
// (token_boundaries.ts). When a token straddles the boundary (rare; BPE merged across it), that
// token is trained and the example is flagged, as TRL warns "prompt tokens are not a prefix".

export type LossOn = 'completion' | 'all';

export interface TokenizedExample {
  /** 1-based line of the source file. */
  line: number;
  /** (L,) with 1 ≤ L ≤ maxLength. */
  inputIds: Int32Array;
  /**
   * (L,) aligned with inputIds, NOT shifted: labels[t] is the target of the logits at t-1
   * (formats.md §5.1). -100 = no loss. labels[0] is always -100 because nothing precedes it, so
   * count(labels != -100) is exactly the number of loss targets.
   */
  labels: Int32Array;
  /** Tokens before truncation; > inputIds.length when truncated (a lower bound for texts over maxLength·32 characters). */
  originalLength: number;
  /** count(labels != -100). */
  trainedTokens: number;
  /** A prompt/answer boundary fell inside a token, so the mask is approximate at that token. */
  boundaryMismatch: boolean;
  /** Assistant turns after which the template wrote no end-of-turn token. */
  turnsWithoutEnd: number;
}

export interface EncodeOptions {
  /** Keep the first maxLength tokens (TRL `truncation_mode="keep_start"`). */
  maxLength: number;
  lossOn: LossOn;
}

const ignore = -100;

export class ExampleEncoder {
  private chatRenderer: ChatRenderer | null = null;

  constructor(
    readonly tokenizer: TextTokenizer,
    readonly options: EncodeOptions,
  ) {}

  /** Built on first use, so a model whose template does not parse can still train on plain text. */
  get chat(): ChatRenderer {
    const t = this.tokenizer;
    this.chatRenderer ??= new ChatRenderer(t.chatTemplate, t.templateTokens, t.specialTokens.keys());
    return this.chatRenderer;
  }

  /** Throws LineProblem when the chat template rejects the conversation. */
  encode(example: Example, line: number): TokenizedExample {
    const raw = this.encodeFull(example);
    const originalLength = raw.ids.length;
    const length = Math.min(originalLength, this.options.maxLength);
    const inputIds = Int32Array.from(raw.ids.slice(0, length));
    const labels = Int32Array.from(raw.labels.slice(0, length));
    labels[0] = ignore;
    let trainedTokens = 0;
    for (let i = 0; i < length; i++) if (labels[i] !== ignore) trainedTokens++;
    return { line, inputIds, labels, originalLength, trainedTokens, boundaryMismatch: raw.mismatch, turnsWithoutEnd: raw.turnsWithoutEnd };
  }

  private encodeFull(ex: Example): { ids: number[]; labels: number[]; mismatch: boolean; turnsWithoutEnd: number } {
    const all = this.options.lossOn === 'all';
    const plain = (ids: number[]) => ({ ids, labels: ids, mismatch: false, turnsWithoutEnd: 0 });
    switch (ex.format) {
      case 'text':
        return plain(this.withEos(this.encodeHead(ex.text, true).ids));
      case 'alpaca':
        return this.promptCompletion(alpacaPrompt(ex.instruction, ex.input), ex.output, all);
      case 'prompt-completion':
        return this.promptCompletion(ex.prompt, ex.completion, all);
      case 'tokenized':
        return { ids: ex.inputIds, labels: all || ex.labels === null ? ex.inputIds : ex.labels, mismatch: false, turnsWithoutEnd: 0 };
      case 'messages':
        if (all) return plain(this.encodeHead(this.chat.render(ex.messages), false).ids);
        return this.chatExample(ex.messages);
    }
  }

  private promptCompletion(prompt: string, completion: string, all: boolean) {
    const ids = this.withEos(this.encodeHead(prompt + completion, true).ids);
    if (all) return { ids, labels: ids, mismatch: false, turnsWithoutEnd: 0 };
    const offset = this.tokenizer.prefixIds.length;
    const promptIds = this.encodeHead(prompt, false).ids;
    const matched = matchedPrefix(ids, offset, promptIds);
    const labels = ids.slice();
    labels.fill(ignore, 0, offset + matched);
    return { ids, labels, mismatch: matched !== promptIds.length, turnsWithoutEnd: 0 };
  }

  private chatExample(messages: ChatMessage[]) {
    const rendered = this.chat.assistantSpans(messages);
    const { ids, text } = this.encodeHead(rendered.text, false);
    // Answers past a cut are truncated away anyway; one that straddles it is cut with the text.
    const spans = rendered.spans.filter((s) => s.start < text.length).map((s) => ({ ...s, end: Math.min(s.end, text.length) }));
    const labels = new Array<number>(ids.length).fill(ignore);
    let mismatch = false;
    let turnsWithoutEnd = 0;
    const boundaries = new TokenBoundaries(this.tokenizer, text, ids);
    for (const span of spans) {
      const start = boundaries.at(span.start);
      const end = boundaries.at(span.end);
      mismatch ||= !start.exact || !end.exact;
      // A straddling token at the end holds some answer text: train it (end.index is then the lcp).
      const stop = end.exact ? end.index : Math.min(end.index + 1, ids.length);
      for (let t = start.index; t < stop; t++) labels[t] = ids[t];
      if (!span.endOfTurn) turnsWithoutEnd++;
    }
    return { ids, labels, mismatch, turnsWithoutEnd };
  }

  /**
   * Tokens of `text`, or of only its first maxLength·32 characters when it is longer: it is cut
   * to maxLength tokens anyway, and tokenizing a megabyte line for a thousand tokens would stall
   * the tab for seconds. 32 characters a token is far more than any tokenizer averages on real
   * text, so the cut lies well past token maxLength and the tokens kept are those of the whole
   * text; a text so sparse that the cut does not reach maxLength + 64 tokens is tokenized whole.
   * Returns the text actually tokenized.
   */
  private encodeHead(text: string, addSpecialTokens: boolean): { ids: number[]; text: string } {
    const budget = this.options.maxLength * 32;
    if (text.length > budget) {
      // Do not split a surrogate pair.
      const head = text.slice(0, isHighSurrogate(text.charCodeAt(budget - 1)) ? budget - 1 : budget);
      const ids = this.tokenizer.encode(head, addSpecialTokens);
      if (ids.length > this.options.maxLength + 64) return { ids, text: head };
    }
    return { ids: this.tokenizer.encode(text, addSpecialTokens), text };
  }

  private withEos(ids: number[]): number[] {
    const eos = this.tokenizer.eosId;
    if (eos !== null && ids[ids.length - 1] !== eos) ids.push(eos);
    return ids;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
