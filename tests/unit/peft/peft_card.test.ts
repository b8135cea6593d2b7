import { describe, expect, it } from 'vitest';
import { adapterModelCard, type ModelCardInfo } from '../../../src/formats/peft_card.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../../src/train/config.ts';
import { adapterSettingsFor, modelCardSettings } from '../../../src/train/config_adapter.ts';

const config = { ...DEFAULT_TRAIN_CONFIG, model: 'models/SmolLM2-135M', data: 'alpaca_small.jsonl', out: 'out', warmupRatio: 0.03 };
const info: ModelCardInfo = {
  baseModel: 'HuggingFaceTB/SmolLM2-135M',
  dataset: 'alpaca_small.jsonl',
  adapter: adapterSettingsFor(config, 'HuggingFaceTB/SmolLM2-135M'),
  settings: modelCardSettings(config),
  results: { steps: 120, epochs: 3, trainLoss: 1.23456, evalLoss: 1.5, tokens: 98_304 },
  producer: 'webtune 0.1.0',
};

describe('adapter model card', () => {
  it('has PEFT’s front matter, the base, the dataset, the settings and the final losses', () => {
    const card = adapterModelCard(info);
    expect(card.startsWith('---\nbase_model: HuggingFaceTB/SmolLM2-135M\nlibrary_name: peft\n')).toBe(true);
    expect(card).toContain('- "base_model:adapter:HuggingFaceTB/SmolLM2-135M"');
    expect(card).toContain('[HuggingFaceTB/SmolLM2-135M](https://huggingface.co/HuggingFaceTB/SmolLM2-135M), fine-tuned with webtune 0.1.0 on `alpaca_small.jsonl`');
    expect(card).toContain('Rank 16, alpha 32 (scaling alpha/r = 2), on q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj in every layer.');
    expect(card).toContain('| Final training loss | 1.2346 |');
    expect(card).toContain('| Final eval loss | 1.5000 |');
    expect(card).toContain('| Learning rate | 0.0002 |');
    expect(card).toContain('| Warmup ratio | 0.03 |');
    expect(card).not.toContain('Warmup steps');
    expect(card).toContain('| Target modules | q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj |');
    expect(card).toContain('base = AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M")');
    expect(adapterModelCard(info)).toBe(card);
  });

  it('handles a local base, no eval set, rsLoRA and awkward text', () => {
    const card = adapterModelCard({
      ...info,
      baseModel: 'my model: v2',
      dataset: null,
      adapter: { ...info.adapter, useRslora: true },
      settings: { 'Odd | label': 'a\nb' },
      results: { steps: 1, epochs: 0.5, trainLoss: null, evalLoss: null },
    });
    expect(card).toContain('base_model: "my model: v2"');
    expect(card).toContain('for `my model: v2`, fine-tuned with webtune 0.1.0.');
    expect(card).toContain('scaling alpha/√r = 8 (rsLoRA)');
    expect(card).toContain('| Final eval loss | n/a |');
    expect(card).toContain('| Odd \\| label | a b |');
    expect(card).not.toContain('Trained tokens');
  });
});
