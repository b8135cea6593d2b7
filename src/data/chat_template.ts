import { Template } from '@huggingface/jinja';
import { LineProblem, TokenizerError } from './errors.ts';
import type { ChatMessage } from './formats.ts';

// Chat templates (formats.md §6.3): the model's own `chat_template` rendered with
// @huggingface/jinja (which, like transformers, trims and lstrips blocks), or ChatML when the
// model has none. ChatML is the template transformers used as its class default before 4.43:
//
//   <|im_start|>{role}\n{content}<|im_end|>\n      for every message
//   <|im_start|>assistant\n                          when add_generation_prompt
//
// With a tokenizer that lacks `<|im_start|>`/`<|im_end|>` tokens (Llama-2), these are spelled in
// ordinary tokens, and a model trained on them learns to write "<|im_end|>" as text to stop.

export const chatmlTemplate =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** A character range [start, end) of the rendered conversation that the model must learn to write. */
export interface AssistantSpan {
  /** Index into messages. */
  message: number;
  start: number;
  end: number;
  /** Whether an end-of-turn string was found after the content (and is inside the span). */
  endOfTurn: boolean;
  /** That string (`<|im_end|>`, `</s>` …), which ends the span, or null. */
  endToken: string | null;
}

// Appended to assistant contents to find where each ends in the rendered text: open, message
// index, close. Private-use code points of plane 15, which no real text or template contains.
const markerOpen = '\u{F0000}';
const markerClose = '\u{F0001}';
const markerPattern = /\u{F0000}(\d+)\u{F0001}/gu;

export class ChatRenderer {
  readonly usesDefault: boolean;
  private readonly template: Template;
  /** Strings that close an assistant turn: the special tokens (except BOS) and ChatML's `<|im_end|>`. */
  private readonly terminators: string[];

  constructor(
    source: string | null,
    private readonly tokens: Readonly<Record<string, string | null>>,
    specialTokens: Iterable<string>,
  ) {
    this.usesDefault = source === null;
    try {
      this.template = new Template(source ?? chatmlTemplate);
    } catch (e) {
      throw new TokenizerError('tokenizer_config.json', `chat_template does not parse: ${(e as Error).message}`);
    }
    const set = new Set([...specialTokens, '<|im_end|>']);
    if (tokens.bos_token) set.delete(tokens.bos_token);
    set.delete('');
    this.terminators = [...set];
  }

  /** The conversation as text, exactly as transformers' apply_chat_template(tokenize=False) gives it. */
  render(messages: ChatMessage[], addGenerationPrompt = false): string {
    try {
      return this.template.render({ ...this.tokens, messages, add_generation_prompt: addGenerationPrompt });
    } catch (e) {
      throw new LineProblem(`chat template failed: ${(e as Error).message}`);
    }
  }

  /**
   * The rendered conversation and, for each assistant message, the span the model should learn
   * to produce. Method (TRL's prompt-prefix idea, made robust to templates that rewrite earlier
   * turns, as Qwen3 drops empty <think> blocks from all but the last answer):
   *
   * 1. start = end of render(messages[:k], add_generation_prompt=true) when that is a prefix of
   *    the full render (else their common prefix): everything the model writes after the
   *    generation prompt — for Qwen3's last answer that includes "<think>\n\n</think>\n\n".
   * 2. content end: render once more with a marker appended to each answer's content and find
   *    the markers; the rest of that text must equal the plain render. When it does not (a template
   *    that trims or rewrites the marked content), each answer is marked alone instead and the
   *    first and last differing characters against the plain render bound the content's end.
   * 3. end = just after the first end-of-turn string (a special token such as `<|im_end|>`,
   *    `</s>`, `<|eot_id|>`, `<end_of_turn>`) at or after the content end — tool calls written
   *    between them are trained too — and before the next answer starts. Text after it (ChatML's
   *    "\n") is not trained. With no such string the span ends with the content. (A template
   *    with no end-of-turn token at all would have the next turn's opening special token trained
   *    as the end; every chat template we know closes its turns.)
   *
   * Renders per conversation: 2 + (number of answers); 1 + 2·answers on the fallback.
   */
  assistantSpans(messages: ChatMessage[]): { text: string; spans: AssistantSpan[] } {
    const text = this.render(messages);
    if (text.includes(markerOpen) || text.includes(markerClose)) {
      throw new LineProblem('the conversation contains the reserved characters U+F0000/U+F0001');
    }
    const ends = this.contentEnds(messages, text);
    const spans: AssistantSpan[] = [];
    messages.forEach((m, k) => {
      const contentEnd = ends.get(k);
      if (m.role !== 'assistant' || contentEnd === undefined) return; // not an answer, or not written
      const start = Math.min(this.generationStart(messages, k, text), contentEnd);
      spans.push({ message: k, start, end: contentEnd, endOfTurn: false, endToken: null });
    });
    spans.forEach((span, i) => {
      const limit = i + 1 < spans.length ? spans[i + 1].start : text.length;
      const contentEnd = span.end;
      for (const t of this.terminators) {
        const at = text.indexOf(t, contentEnd);
        if (at >= 0 && at + t.length <= limit && (!span.endOfTurn || at + t.length < span.end)) {
          span.endOfTurn = true;
          span.endToken = t;
          span.end = at + t.length;
        }
      }
    });
    return { text, spans };
  }

  /** Message index → where its content ends in `text`, for every assistant message the template writes. */
  private contentEnds(messages: ChatMessage[], text: string): Map<number, number> {
    const answers = messages.flatMap((m, k) => (m.role === 'assistant' ? [k] : []));
    const marked = messages.map((m, k) => (m.role === 'assistant' ? { ...m, content: m.content + markerOpen + k + markerClose } : m));
    const rendered = this.render(marked);
    const ends = new Map<number, number>();
    let removed = 0;
    let repeated = false;
    for (const match of rendered.matchAll(markerPattern)) {
      const k = Number(match[1]);
      repeated ||= ends.has(k);
      ends.set(k, match.index - removed);
      removed += match[0].length;
    }
    if (!repeated && rendered.replace(markerPattern, '') === text) return ends;
    ends.clear();
    for (const k of answers) {
      const end = this.contentEndAlone(messages, k, text);
      if (end !== null) ends.set(k, end);
    }
    return ends;
  }

  private generationStart(messages: ChatMessage[], k: number, text: string): number {
    let prompt: string;
    try {
      prompt = this.render(messages.slice(0, k), true);
    } catch (e) {
      // A conversation that opens with the assistant: some templates cannot render zero messages.
      if (k === 0) return 0;
      throw e;
    }
    return commonPrefix(prompt, text);
  }

  private contentEndAlone(messages: ChatMessage[], k: number, text: string): number | null {
    const marked = messages.slice();
    marked[k] = { ...messages[k], content: messages[k].content + markerOpen + markerClose };
    const other = this.render(marked);
    if (other === text) return null;
    const prefix = commonPrefix(text, other);
    let suffix = 0;
    const most = Math.min(text.length, other.length) - prefix;
    while (suffix < most && text.charCodeAt(text.length - 1 - suffix) === other.charCodeAt(other.length - 1 - suffix)) suffix++;
    return text.length - suffix;
  }
}

export function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}
