import { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from './errors.ts';

// The model's tokenizer, built from the text of tokenizer.json + tokenizer_config.json (so the
// browser and Node load it the same way), with the special-token rules of transformers made
// explicit:
//
// - BOS/EOS added by `encode(text, true)` come from the tokenizer.json post_processor (probed by
//   encoding a probe string with and without special tokens), except that an explicit
//   `add_bos_token` / `add_eos_token` in tokenizer_config.json wins — LlamaTokenizerFast rebuilds
//   its post-processor from those flags (`update_post_processor`). Llama-2 (and Mistral): BOS
//   `<s>` = 1 is prepended, no EOS. Qwen3: no BOS token at all, nothing added.
// - bos_token / eos_token / pad_token in tokenizer_config.json may be a string, an AddedToken
//   object `{ "content": … }`, or null.
// - The pad id is pad_token's, else eos's (TRL's collator, formats.md §6.6), else 0.

export interface TokenizerFiles {
  /** tokenizer.json, as text or already parsed. */
  tokenizerJson: string | object;
  /** tokenizer_config.json, as text or already parsed. */
  tokenizerConfig: string | object;
  /** chat_template.jinja, which newer transformers save beside tokenizer_config.json. */
  chatTemplate?: string;
  /** config.json `vocab_size`: the embedding rows, often more than the tokenizer's ids. */
  vocabSize?: number;
}

type TokenConfigValue = string | { content?: unknown } | null | undefined;

export class TextTokenizer {
  readonly bosToken: string | null;
  readonly bosId: number | null;
  readonly eosToken: string | null;
  readonly eosId: number | null;
  readonly padId: number;
  /** `encode(text, true)` prepends BOS. */
  readonly addBos: boolean;
  /** `encode(text, true)` appends EOS. */
  readonly addEos: boolean;
  /** The model's Jinja chat template, or null when it has none. */
  readonly chatTemplate: string | null;
  /** Ids must be below this: config.json vocab_size when known, else the tokenizer's largest id + 1. */
  readonly vocabSize: number;
  /** Content → id of every added token marked special (`<|im_end|>`, `</s>` …). */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** The same, id → content. */
  readonly specialContents: ReadonlyMap<number, string>;
  /** Variables every chat template may read (bos_token, eos_token, pad_token, unk_token). */
  readonly templateTokens: Readonly<Record<string, string | null>>;

  /** Ids `encode(text, true)` puts before the text ([1] for Llama-2) and after it. */
  readonly prefixIds: readonly number[];
  readonly suffixIds: readonly number[];

  private readonly tokenizer: Tokenizer;

  constructor(files: TokenizerFiles) {
    const json = parseJson(files.tokenizerJson, 'tokenizer.json');
    const config = parseJson(files.tokenizerConfig, 'tokenizer_config.json');
    try {
      this.tokenizer = new Tokenizer(json, config);
    } catch (e) {
      throw new TokenizerError('tokenizer.json', `cannot build the tokenizer: ${(e as Error).message}`);
    }
    const special = new Map<string, number>();
    for (const [id, token] of this.tokenizer.get_added_tokens_decoder()) if (token.special) special.set(token.content, id);
    this.specialTokens = special;
    this.specialContents = new Map([...special].map(([content, id]) => [id, content]));

    this.bosToken = tokenContent(config.bos_token as TokenConfigValue);
    this.eosToken = tokenContent(config.eos_token as TokenConfigValue);
    const padToken = tokenContent(config.pad_token as TokenConfigValue);
    this.bosId = this.idOf(this.bosToken);
    this.eosId = this.idOf(this.eosToken);
    this.padId = this.idOf(padToken) ?? this.eosId ?? 0;
    this.templateTokens = {
      bos_token: this.bosToken,
      eos_token: this.eosToken,
      pad_token: padToken,
      unk_token: tokenContent(config.unk_token as TokenConfigValue),
    };

    // What the post-processor wraps around a plain encoding: e.g. [1] before for Llama-2.
    const probe = 'a';
    const bare = this.tokenizer.encode(probe, { add_special_tokens: false }).ids;
    const full = this.tokenizer.encode(probe, { add_special_tokens: true }).ids;
    const at = indexOfRun(full, bare);
    let prefix = at < 0 ? [] : full.slice(0, at);
    let suffix = at < 0 ? [] : full.slice(at + bare.length);
    this.addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token && this.bosId !== null : this.bosId !== null && prefix.includes(this.bosId);
    this.addEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token && this.eosId !== null : this.eosId !== null && suffix.includes(this.eosId);
    prefix = prefix.filter((id) => id !== this.bosId);
    suffix = suffix.filter((id) => id !== this.eosId);
    this.prefixIds = this.addBos ? [this.bosId!, ...prefix] : prefix;
    this.suffixIds = this.addEos ? [...suffix, this.eosId!] : suffix;

    this.chatTemplate = files.chatTemplate ?? pickChatTemplate(config.chat_template);
    let maxId = -1;
    for (const id of this.tokenizer.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = Math.max(files.vocabSize ?? 0, maxId + 1);
  }

  /**
   * Token ids of `text`. With `addSpecialTokens`, BOS/EOS as described above (TRL's default for
   * text and prompt-completion); without, the bare tokens (TRL's chat path, formats.md §6.3,
   * because the template already wrote any BOS).
   */
  encode(text: string, addSpecialTokens = false): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (!addSpecialTokens || (this.prefixIds.length === 0 && this.suffixIds.length === 0)) return ids;
    return [...this.prefixIds, ...ids, ...this.suffixIds];
  }

  decode(ids: ArrayLike<number>, skipSpecialTokens = false): string {
    return this.tokenizer.decode(Array.from(ids), { skip_special_tokens: skipSpecialTokens });
  }

  /** The vocabulary string of one id ("▁Hello", "Ġworld", "<|im_end|>"), for previews. */
  piece(id: number): string {
    return this.tokenizer.id_to_token(id) ?? `<id ${id}>`;
  }

  private idOf(content: string | null): number | null {
    if (content === null) return null;
    return this.tokenizer.token_to_id(content) ?? null;
  }
}

function parseJson(v: string | object, file: string): Record<string, unknown> {
  if (typeof v !== 'string') return v as Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(v);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    throw new Error('not a JSON object');
  } catch (e) {
    throw new TokenizerError(file, `is not valid JSON: ${(e as Error).message}`);
  }
}

function tokenContent(v: TokenConfigValue): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof v.content === 'string') return v.content;
  return null;
}

/** `chat_template` is a string, or a list of `{ name, template }` of which "default" is the one. */
function pickChatTemplate(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) return null;
  const named = v as { name?: unknown; template?: unknown }[];
  const chosen = named.find((t) => t.name === 'default') ?? named[0];
  return chosen && typeof chosen.template === 'string' ? chosen.template : null;
}

function indexOfRun(haystack: number[], needle: number[]): number {
  for (let i = 0; i + needle.length <= haystack.length; i++) {
    let k = 0;
    while (k < needle.length && haystack[i + k] === needle[k]) k++;
    if (k === needle.length) return i;
  }
  return -1;
}
