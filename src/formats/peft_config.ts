import { InputError } from '../errors.ts';
import type { ModelConfig } from './hf_config.ts';
import { PyFloat, pythonJsonDumps, type PyJson } from './peft_json.ts';
import { expectedTensors, LINEAR_MODULES, type LinearModule } from './tensor_names.ts';

// adapter_config.json (formats.md §2.7, §2.9): written with PEFT 0.19.1's full key set exactly as
// `json.dumps(asdict(config), indent=2, sort_keys=True)` prints it (no trailing newline), and
// read back checked against the base model: every setting that would change what the adapter
// computes must be one webtune implements, and the target modules must exist in the model and
// cover the same projections in every layer.

/** The PEFT release whose adapter_config.json key set and defaults we reproduce. */
export const PEFT_SCHEMA_VERSION = '0.19.1';

/** What an adapter's config fixes: the LoRA shape and the base it belongs to. */
export interface AdapterSettings {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  /** As written in target_modules; the order is kept so that a re-export is byte-identical. */
  targetModules: LinearModule[];
  useRslora: boolean;
  baseModelNameOrPath: string | null;
}

/** A problem with an adapter the user handed us, naming the file and the key or field. */
export class AdapterError extends InputError {
  constructor(
    readonly file: string,
    readonly key: string,
    readonly reason: string,
  ) {
    super('bad_adapter', `${file}: "${key}" ${reason}`);
  }
}

export function adapterConfigJson(s: AdapterSettings): string {
  const config: Record<string, PyJson> = {
    alora_invocation_tokens: null,
    alpha_pattern: {},
    arrow_config: null,
    auto_mapping: null,
    base_model_name_or_path: s.baseModelNameOrPath,
    bias: 'none',
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    // An int in PEFT's type hints; a non-integer alpha is written as the float it is.
    lora_alpha: Number.isInteger(s.loraAlpha) ? s.loraAlpha : new PyFloat(s.loraAlpha),
    lora_bias: false,
    lora_dropout: new PyFloat(s.loraDropout),
    lora_ga_config: null,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    peft_version: PEFT_SCHEMA_VERSION,
    qalora_group_size: 16,
    r: s.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...s.targetModules],
    target_parameters: null,
    task_type: 'CAUSAL_LM',
    trainable_token_indices: null,
    use_bdlora: null,
    use_dora: false,
    use_qalora: false,
    use_rslora: s.useRslora,
  };
  return pythonJsonDumps(config);
}

// PEFT's default targets for llama, mistral and qwen2 (formats.md §2.7), used when none are saved.
const DEFAULT_TARGETS: LinearModule[] = ['q_proj', 'v_proj'];

/** Keys whose non-default values change the computation, with what their default looks like. */
const MUST_BE_DEFAULT: [key: string, isDefault: (v: unknown) => boolean, why: string][] = [
  ['fan_in_fan_out', off, 'is for GPT-2 style Conv1D weights; these models use nn.Linear'],
  ['bias', (v) => v === 'none' || v === null, 'trains base biases; webtune trains LoRA weights only (bias "none")'],
  ['lora_bias', off, 'adds a bias to lora_B, which webtune does not implement'],
  ['use_dora', off, 'is DoRA, which webtune does not implement'],
  ['use_qalora', off, 'is QA-LoRA, which webtune does not implement'],
  ['use_bdlora', off, 'is BD-LoRA, which webtune does not implement'],
  ['modules_to_save', empty, 'trains whole modules besides LoRA, which webtune does not implement'],
  ['rank_pattern', empty, 'gives some modules another rank; webtune uses one r for all'],
  ['alpha_pattern', empty, 'gives some modules another alpha; webtune uses one alpha for all'],
  ['exclude_modules', empty, 'excludes modules; webtune trains the same projections in every layer'],
  ['layers_to_transform', empty, 'limits LoRA to some layers; webtune trains every layer'],
  ['layer_replication', empty, 'replicates layers, which webtune does not implement'],
  ['trainable_token_indices', empty, 'trains token embeddings, which webtune does not implement'],
  ['target_parameters', empty, 'targets nn.Parameters, which webtune does not implement'],
  ['alora_invocation_tokens', empty, 'is activated LoRA, which webtune does not implement'],
  ['arrow_config', empty, 'is an Arrow routing config, which webtune does not implement'],
];

function off(v: unknown): boolean {
  return v === false || v === null;
}

function empty(v: unknown): boolean {
  return v === null || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
}

/** Parses adapter_config.json text and checks it against the base model's config. */
export function parseAdapterConfig(text: string, file: string, model: ModelConfig): AdapterSettings {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new AdapterError(file, '(file)', `is not valid JSON (${(e as Error).message}); re-export the adapter`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new AdapterError(file, '(file)', 'is not a JSON object');
  const c = json as Record<string, unknown>;
  const fail = (key: string, reason: string): never => {
    throw new AdapterError(file, key, reason);
  };
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);

  if (c.peft_type !== 'LORA') fail('peft_type', `is ${show(c.peft_type)}; webtune reads LoRA adapters ("LORA")`);
  if (c.task_type != null && c.task_type !== 'CAUSAL_LM') fail('task_type', `is ${show(c.task_type)}; webtune trains causal language models ("CAUSAL_LM")`);
  for (const [key, isDefault, why] of MUST_BE_DEFAULT) {
    if (c[key] !== undefined && !isDefault(c[key])) fail(key, `is ${show(c[key])}: it ${why}`);
  }
  const init = c.init_lora_weights;
  if (typeof init === 'string' && /^(pissa|olora|corda|loftq)/.test(init)) {
    fail('init_lora_weights', `is ${show(init)}, which changes the base weights too; convert the adapter to plain LoRA before importing it`);
  }

  const r = c.r ?? 8;
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1) fail('r', `must be a positive integer, got ${show(r)}`);
  const alpha = c.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) fail('lora_alpha', `must be a positive number, got ${show(alpha)}`);
  const dropout = c.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) fail('lora_dropout', `must be a number in [0, 1), got ${show(dropout)}`);
  const rslora = c.use_rslora ?? false;
  if (typeof rslora !== 'boolean') fail('use_rslora', `must be true or false, got ${show(rslora)}`);
  const base = c.base_model_name_or_path ?? null;
  if (base !== null && typeof base !== 'string') fail('base_model_name_or_path', `must be a string, got ${show(base)}`);

  return {
    r: r as number,
    loraAlpha: alpha as number,
    loraDropout: dropout as number,
    targetModules: resolveTargets(c.target_modules, model, fail),
    useRslora: rslora as boolean,
    baseModelNameOrPath: base as string | null,
  };
}

/**
 * target_modules → module types, by PEFT's matching (§2.7): a list entry matches a module whose
 * name equals it or ends with "." + entry; a string is "all-linear" or a regex that must match
 * the whole name. Every entry must match a projection of this model, and the matched set must be
 * the same projections in every layer.
 */
function resolveTargets(spec: unknown, model: ModelConfig, fail: (key: string, reason: string) => never): LinearModule[] {
  const key = 'target_modules';
  if (spec == null) return [...DEFAULT_TARGETS];
  if (spec === 'all-linear') return [...LINEAR_MODULES];
  const paths = projections(model);
  const others = ['model.embed_tokens', 'lm_head'];
  let matched: typeof paths;
  let order: LinearModule[] | null = null;
  if (typeof spec === 'string') {
    if (spec.length > 4096 || nestedRepetition(spec)) {
      fail(key, 'is a regular expression with repetition inside repetition (or is very long), which can take forever to match; save the adapter with a list of module names');
    }
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${spec})$`);
    } catch {
      return fail(key, `is a regular expression JavaScript cannot read (${JSON.stringify(spec)}); save the adapter with a list of module names`);
    }
    const hit = others.find((o) => re.test(o));
    if (hit) fail(key, `selects ${hit}, which webtune does not train`);
    matched = paths.filter((p) => re.test(p.path));
    if (matched.length === 0) fail(key, `(${JSON.stringify(spec)}) matches no projection of this ${model.architecture} model`);
  } else if (Array.isArray(spec) && spec.every((e) => typeof e === 'string')) {
    if (spec.length === 0) fail(key, 'is empty');
    const hits = (entry: string, name: string) => name === entry || name.endsWith(`.${entry}`);
    matched = [];
    order = [];
    for (const entry of spec as string[]) {
      const mine = paths.filter((p) => hits(entry, p.path));
      if (mine.length === 0) {
        const other = others.find((o) => hits(entry, o));
        fail(key, other ? `names ${entry}, which webtune does not train` : `names "${entry}", which is not a projection of this ${model.architecture} model (it has ${LINEAR_MODULES.join(', ')})`);
      }
      matched.push(...mine);
      for (const m of mine) if (!order.includes(m.module)) order.push(m.module);
    }
  } else {
    return fail(key, `must be a list of module names or a string, got ${JSON.stringify(spec)}`);
  }
  const modules = new Set(matched.map((p) => p.module));
  for (const module of modules) {
    const layers = new Set(matched.filter((p) => p.module === module).map((p) => p.layer));
    if (layers.size !== model.numLayers) {
      fail(key, `selects ${module} in ${layers.size} of ${model.numLayers} layers; webtune trains the same projections in every layer`);
    }
  }
  return order ?? LINEAR_MODULES.filter((m) => modules.has(m));
}

/**
 * True when a group that contains a quantifier is itself quantified, as in (a+)+ or (.*x)*: the
 * shape behind catastrophic backtracking. The pattern comes from a file the user handed us, and
 * a regex match cannot be interrupted, so such patterns are refused rather than tried.
 */
export function nestedRepetition(pattern: string): boolean {
  const stack: boolean[] = [];
  let quantified = false;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    const isQuantifier = c === '*' || c === '+' || (c === '{' && /^\{\d*,?\d*\}/.test(pattern.slice(i)));
    if (c === '\\') {
      i++;
    } else if (inClass) {
      inClass = c !== ']';
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(') {
      stack.push(quantified);
      quantified = false;
    } else if (c === ')') {
      const inner: boolean = quantified;
      quantified = stack.pop() ?? false;
      const next = pattern[i + 1];
      if (inner && (next === '*' || next === '+' || (next === '{' && /^\{\d*,\d*\}/.test(pattern.slice(i + 1))))) return true;
      quantified ||= inner;
    } else if (isQuantifier) {
      quantified = true;
    }
  }
  return false;
}

/** One nn.Linear of one decoder layer that LoRA can attach to, with W's [out, in]. */
export interface Projection {
  layer: number;
  module: LinearModule;
  /** HF module path, e.g. "model.layers.0.self_attn.q_proj". */
  path: string;
  inFeatures: number;
  outFeatures: number;
}

/** Every projection of the model, layer by layer in LINEAR_MODULES order, shapes from expectedTensors. */
export function projections(model: ModelConfig): Projection[] {
  const out: Projection[] = [];
  for (const t of expectedTensors(model)) {
    if (!t.linear) continue;
    const path = t.name.slice(0, -'.weight'.length);
    const parts = path.split('.');
    out.push({ layer: Number(parts[2]), module: parts[4] as LinearModule, path, inFeatures: t.shape[1], outFeatures: t.shape[0] });
  }
  const rank = (p: Projection) => p.layer * LINEAR_MODULES.length + LINEAR_MODULES.indexOf(p.module);
  return out.sort((a, b) => rank(a) - rank(b));
}
