import { describe, expect, it } from 'vitest';
import { ChatRenderer, chatmlTemplate } from '../../../src/data/chat_template.ts';
import { LineProblem, TokenizerError } from '../../../src/data/errors.ts';
import type { ChatMessage } from '../../../src/data/formats.ts';
import { llama2ChatTemplate } from './templates.ts';
import { loadTokenizer } from './tokenizers.ts';

const slow = { timeout: 60_000 };

const conversation: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello' },
  { role: 'user', content: '2+2?' },
  { role: 'assistant', content: '4' },
];

function qwen3(): ChatRenderer {
  const t = loadTokenizer('qwen3');
  return new ChatRenderer(t.chatTemplate, t.templateTokens, t.specialTokens.keys());
}

describe('Qwen3 chat template', slow, () => {
  it('renders a known conversation exactly as transformers does', () => {
    // Earlier answers lose their (empty) think block; the last answer after the last user turn
    // gets "<think>\n\n</think>\n\n".
    expect(qwen3().render(conversation)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n' +
        '<|im_start|>user\nHi<|im_end|>\n' +
        '<|im_start|>assistant\nHello<|im_end|>\n' +
        '<|im_start|>user\n2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n',
    );
    expect(qwen3().render(conversation.slice(0, 2), true)).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('splits reasoning out of an answer that contains </think>', () => {
    const text = qwen3().render([{ role: 'user', content: 'Q' }, { role: 'assistant', content: '<think>\nhmm\n</think>\n\nA' }]);
    expect(text).toBe('<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nhmm\n</think>\n\nA<|im_end|>\n');
  });

  it('finds each answer span even though the template rewrites earlier turns', () => {
    const { text, spans } = qwen3().assistantSpans(conversation);
    expect(spans.map((s) => [s.message, text.slice(s.start, s.end), s.endOfTurn])).toEqual([
      [2, 'Hello<|im_end|>', true],
      [4, '<think>\n\n</think>\n\n4<|im_end|>', true],
    ]);
  });

  it('trains tool calls written between the content and <|im_end|>', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get', arguments: '{"c":"Oslo"}' } }] },
      { role: 'tool', content: 'sunny' },
      { role: 'assistant', content: 'Sunny.' },
    ];
    const { text, spans } = qwen3().assistantSpans(messages);
    expect(text.slice(spans[0].start, spans[0].end)).toBe('<tool_call>\n{"name": "get", "arguments": {"c":"Oslo"}}\n</tool_call><|im_end|>');
    expect(text.slice(spans[1].start, spans[1].end)).toBe('<think>\n\n</think>\n\nSunny.<|im_end|>');
  });
});

describe('ChatML default', slow, () => {
  it('is used when the model has no template, and renders ChatML', () => {
    const t = loadTokenizer('llama2');
    const r = new ChatRenderer(t.chatTemplate, t.templateTokens, t.specialTokens.keys());
    expect(r.usesDefault).toBe(true);
    expect(r.render(conversation.slice(1, 3))).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n');
    expect(r.render(conversation.slice(1, 2), true)).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    // "<|im_end|>" is no token of Llama-2, but it still closes the answer span.
    const { text, spans } = r.assistantSpans(conversation.slice(1, 3));
    expect(text.slice(spans[0].start, spans[0].end)).toBe('Hello<|im_end|>');
  });

  it('matches the template transformers shipped as its ChatML default', () => {
    expect(chatmlTemplate).toContain("'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'");
  });
});

describe('Llama-2-chat template', slow, () => {
  const t = loadTokenizer('llama2');
  const r = new ChatRenderer(llama2ChatTemplate, t.templateTokens, t.specialTokens.keys());

  it('spans " answer </s>" after each [/INST]', () => {
    const { text, spans } = r.assistantSpans(conversation);
    expect(text).toBe('<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] 2+2? [/INST] 4 </s>');
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual([' Hello </s>', ' 4 </s>']);
  });

  it('turns raise_exception into a problem for that line', () => {
    expect(() => r.render([{ role: 'assistant', content: 'x' }])).toThrow(LineProblem);
    expect(() => r.render([{ role: 'assistant', content: 'x' }])).toThrow('chat template failed: Conversation roles must alternate user/assistant/user/assistant/...');
  });
});

describe('ChatRenderer edge cases', () => {
  it('leaves an answer without an end-of-turn string ending at its content', () => {
    const r = new ChatRenderer('{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}', {}, []);
    const { text, spans } = r.assistantSpans([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }]);
    expect(spans).toEqual([{ message: 1, start: text.indexOf('b'), end: text.indexOf('b') + 1, endOfTurn: false, endToken: null }]);
  });

  it('finds the content end when the template trims it', () => {
    const r = new ChatRenderer("{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</s>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}", {}, ['</s>']);
    const { text, spans } = r.assistantSpans([{ role: 'user', content: 'a' }, { role: 'assistant', content: '  b c  \n' }]);
    expect(text.slice(spans[0].start, spans[0].end)).toBe('b c</s>');
  });

  it('rejects a template that does not parse, naming tokenizer_config.json', () => {
    expect(() => new ChatRenderer('{% for %}', {}, [])).toThrow(TokenizerError);
    expect(() => new ChatRenderer('{% for %}', {}, [])).toThrow(/^tokenizer_config\.json: chat_template does not parse/);
  });
});
