import { describe, expect, it } from 'vitest';

// Building a real tokenizer takes 0.2–0.5 s alone and several seconds on a loaded two-core box.
const slow = { timeout: 60_000 };
import { TokenizerError } from '../../../src/data/errors.ts';
import { TextTokenizer } from '../../../src/data/tokenizer.ts';
import { loadTokenizer, tokenizerFiles } from './tokenizers.ts';

describe('TextTokenizer with the Llama-2 family tokenizer', slow, () => {
  const tok = loadTokenizer('llama2');

  it('prepends BOS <s> = 1 and adds no EOS, as add_bos_token / add_eos_token say', () => {
    expect([tok.bosToken, tok.bosId, tok.eosToken, tok.eosId]).toEqual(['<s>', 1, '</s>', 2]);
    expect([tok.addBos, tok.addEos]).toEqual([true, false]);
    expect(tok.encode('Hello world', true)).toEqual([1, 22557, 1526]);
    expect(tok.encode('Hello world')).toEqual([22557, 1526]);
  });

  it('pads with EOS because pad_token is null (TRL collator rule)', () => {
    expect(tok.padId).toBe(2);
  });

  it('has no chat template and the tokenizer vocabulary size', () => {
    expect(tok.chatTemplate).toBeNull();
    expect(tok.vocabSize).toBe(32000);
    expect(tok.templateTokens).toEqual({ bos_token: '<s>', eos_token: '</s>', pad_token: null, unk_token: '<unk>' });
  });

  it('lets tokenizer_config flags override the post-processor, like LlamaTokenizerFast', () => {
    const files = tokenizerFiles('llama2');
    const config = files.tokenizerConfig as Record<string, unknown>;
    const noBos = new TextTokenizer({ ...files, tokenizerConfig: { ...config, add_bos_token: false } });
    expect(noBos.encode('Hello world', true)).toEqual([22557, 1526]);
    const withEos = new TextTokenizer({ ...files, tokenizerConfig: { ...config, add_eos_token: true } });
    expect(withEos.encode('Hello world', true)).toEqual([1, 22557, 1526, 2]);
    // Without the flags the tokenizer.json post_processor decides: it prepends <s>.
    const { add_bos_token: _a, add_eos_token: _b, ...bare } = config;
    expect(new TextTokenizer({ ...files, tokenizerConfig: bare }).encode('Hello world', true)).toEqual([1, 22557, 1526]);
  });

  it('reads special tokens written as AddedToken objects', () => {
    const files = tokenizerFiles('llama2');
    const config = { ...(files.tokenizerConfig as object), bos_token: { content: '<s>', lstrip: false }, eos_token: { __type: 'AddedToken', content: '</s>' } };
    const t = new TextTokenizer({ ...files, tokenizerConfig: config });
    expect([t.bosId, t.eosId]).toEqual([1, 2]);
  });

  it('takes vocab size from config.json when larger, and a chat_template.jinja file', () => {
    const t = new TextTokenizer({ ...tokenizerFiles('llama2'), vocabSize: 32064, chatTemplate: '{{ messages[0].content }}' });
    expect(t.vocabSize).toBe(32064);
    expect(t.chatTemplate).toBe('{{ messages[0].content }}');
  });
});

describe('TextTokenizer with the Qwen3 tokenizer', slow, () => {
  const tok = loadTokenizer('qwen3');

  it('has no BOS at all; EOS is <|im_end|>, pad <|endoftext|>', () => {
    expect([tok.bosToken, tok.bosId, tok.addBos, tok.addEos]).toEqual([null, null, false, false]);
    expect([tok.eosToken, tok.eosId, tok.padId]).toEqual(['<|im_end|>', 151645, 151643]);
    expect(tok.encode('Hello world', true)).toEqual([9707, 1879]);
    expect(tok.encode('Hello world', true)).toEqual(tok.encode('Hello world'));
  });

  it('splits special tokens out of text and lists them', () => {
    expect(tok.encode('<|im_start|>user\nHi<|im_end|>')).toEqual([151644, 872, 198, 13048, 151645]);
    expect(tok.specialTokens.get('<|im_end|>')).toBe(151645);
    expect(tok.specialTokens.has('<think>')).toBe(false); // added but not special
    expect(tok.chatTemplate).toContain('<|im_start|>');
  });

  it('picks the "default" template when chat_template is a list', () => {
    const files = tokenizerFiles('qwen3');
    const config = { ...(files.tokenizerConfig as object), chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] };
    expect(new TextTokenizer({ ...files, tokenizerConfig: config }).chatTemplate).toBe('D');
  });
});

describe('TextTokenizer errors', slow, () => {
  it('names the file that is not JSON', () => {
    expect(() => new TextTokenizer({ tokenizerJson: '{', tokenizerConfig: '{}' })).toThrow(TokenizerError);
    expect(() => new TextTokenizer({ tokenizerJson: '{', tokenizerConfig: '{}' })).toThrow(/^tokenizer\.json: is not valid JSON/);
    expect(() => new TextTokenizer({ tokenizerJson: tokenizerFiles('qwen3').tokenizerJson, tokenizerConfig: '[]' })).toThrow(/^tokenizer_config\.json: is not valid JSON: not a JSON object/);
  });
});
