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
  /** Whether an end-of-turn token was found after the content (and is inside the span). */
  endOfTurn: boolean;
}

// Appended to one assistant message's content to find where that content ends in the rendered
// text. Private-use code points: no real text or template contains them.
const marker = '\u{F0000}webtune\u{F0001}';

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
   * 2. content end: render once more with a marker appended to message k's content; the first
   *    and last differing characters against the full render bound where the content ends,
   *    however the template transforms or moves it.
   * 3. end = just after the first end-of-turn string (a special token such as `<|im_end|>`,
   *    `</s>`, `<|eot_id|>`, `<end_of_turn>`) at or after the content end — tool calls written
   *    between them are trained too — and before the next answer starts. Text after it (ChatML's
   *    "\n") is not trained. With no such string the span ends with the content.
   */
  assistantSpans(messages: ChatMessage[]): { text: string; spans: AssistantSpan[] } {
    const text = this.render(messages);
    if (text.includes(marker)) throw new LineProblem('the conversation contains reserved characters U+F0000/U+F0001');
    const spans: AssistantSpan[] = [];
    messages.forEach((m, k) => {
      if (m.role !== 'assistant') return;
      const contentEnd = this.contentEnd(messages, k, text);
      if (contentEnd === null) return; // the template does not write this message
      const start = Math.min(this.generationStart(messages, k, text), contentEnd);
      spans.push({ message: k, start, end: contentEnd, endOfTurn: false });
    });
    spans.forEach((span, i) => {
      const limit = i + 1 < spans.length ? spans[i + 1].start : text.length;
      const contentEnd = span.end;
      for (const t of this.terminators) {
        const at = text.indexOf(t, contentEnd);
        if (at >= 0 && at + t.length <= limit && (!span.endOfTurn || at + t.length < span.end)) {
          span.endOfTurn = true;
          span.end = at + t.length;
        }
      }
    });
    return { text, spans };
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

  private contentEnd(messages: ChatMessage[], k: number, text: string): number | null {
    const marked = messages.slice();
    marked[k] = { ...messages[k], content: messages[k].content + marker };
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
