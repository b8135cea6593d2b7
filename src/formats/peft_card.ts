import type { AdapterSettings } from './peft_config.ts';

// README.md for an adapter folder: a Hugging Face model card with PEFT's front matter
// (base_model, library_name: peft, the adapter tags the Hub uses to link adapter and base), then
// what was trained on what, the settings, the final losses and how to load it. Deterministic: the
// same inputs give the same bytes (no clock), so an export can be compared byte for byte.

export type CardValue = string | number | boolean | null | readonly string[];

export interface ModelCardInfo {
  /** base_model_name_or_path: a Hub id ("HuggingFaceTB/SmolLM2-135M") or a folder name. */
  baseModel: string;
  /** The training file's name, or null when unknown. */
  dataset: string | null;
  adapter: AdapterSettings;
  /** Training settings in display order, label → value (train/config.ts's modelCardSettings). */
  settings: Readonly<Record<string, CardValue>>;
  results: {
    steps: number;
    epochs: number;
    trainLoss: number | null;
    evalLoss: number | null;
    /** Target tokens trained on, over the whole run. */
    tokens?: number;
  };
  /** e.g. "webtune 0.1.0". */
  producer?: string;
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export function adapterModelCard(info: ModelCardInfo): string {
  const { baseModel, dataset, adapter, results } = info;
  const producer = info.producer ?? 'webtune';
  const base = HUB_ID.test(baseModel) ? `[${baseModel}](https://huggingface.co/${baseModel})` : `\`${baseModel}\``;
  const scaling = adapter.useRslora ? `alpha/√r = ${format(adapter.loraAlpha / Math.sqrt(adapter.r))} (rsLoRA)` : `alpha/r = ${format(adapter.loraAlpha / adapter.r)}`;
  const lines = [
    '---',
    `base_model: ${yamlString(baseModel)}`,
    'library_name: peft',
    'pipeline_tag: text-generation',
    'tags:',
    `- ${yamlString(`base_model:adapter:${baseModel}`)}`,
    '- lora',
    '- webtune',
    '---',
    '',
    `# LoRA adapter for ${baseModel}`,
    '',
    `A LoRA adapter (PEFT format) for ${base}, fine-tuned with ${producer}${dataset ? ` on \`${dataset}\`` : ''}.`,
    `Rank ${adapter.r}, alpha ${format(adapter.loraAlpha)} (scaling ${scaling}), on ${adapter.targetModules.join(', ')} in every layer.`,
    '',
    '## Results',
    '',
    '| | |',
    '|---|---|',
    `| Optimizer steps | ${results.steps} |`,
    `| Epochs | ${format(results.epochs)} |`,
    ...(results.tokens !== undefined ? [`| Trained tokens | ${results.tokens} |`] : []),
    `| Final training loss | ${results.trainLoss === null ? 'n/a' : results.trainLoss.toFixed(4)} |`,
    `| Final eval loss | ${results.evalLoss === null ? 'n/a' : results.evalLoss.toFixed(4)} |`,
    '',
    '## Training settings',
    '',
    '| Setting | Value |',
    '|---|---|',
    ...Object.entries(info.settings).map(([label, value]) => `| ${cell(label)} | ${cell(show(value))} |`),
    '',
    '## Use it',
    '',
    '```python',
    'from peft import PeftModel',
    'from transformers import AutoModelForCausalLM',
    '',
    `base = AutoModelForCausalLM.from_pretrained(${JSON.stringify(baseModel)})`,
    'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
    '```',
    '',
    'To merge it into the base weights: `model = model.merge_and_unload()`.',
    '',
  ];
  return lines.join('\n');
}

function show(value: CardValue): string {
  if (value === null) return '—';
  if (Array.isArray(value)) return value.join(', ');
  if (typeof value === 'number') return format(value);
  return String(value);
}

/** Numbers as people write them: 0.0002, 32, 2 (not 2.0000). */
function format(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

/** A table cell: pipes escaped and newlines flattened, so one value stays one cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** A YAML scalar: plain when it is safe, else a double-quoted (JSON-compatible) string. */
function yamlString(s: string): string {
  return /^[A-Za-z0-9][\w./-]*$/.test(s) ? s : JSON.stringify(s);
}
