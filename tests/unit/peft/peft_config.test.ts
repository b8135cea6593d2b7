import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { adapterConfigJson, nestedRepetition, type AdapterSettings } from '../../../src/formats/peft_config.ts';

describe('adapter_config.json', () => {
  const settings: AdapterSettings = {
    r: 8,
    loraAlpha: 16,
    loraDropout: 0.05,
    targetModules: ['q_proj', 'up_proj', 'o_proj', 'gate_proj', 'v_proj', 'k_proj', 'down_proj'],
    useRslora: false,
    baseModelNameOrPath: 'Qwen/Qwen2-VL-2B-Instruct',
  };

  it('is byte-identical to a file PEFT 0.19.1 wrote', () => {
    // A published adapter_config.json saved by PEFT 0.19.1 (on Windows, hence CRLF line ends):
    // 1150 bytes, sha256 cfac22dc…; these settings are the ones it records.
    const text = adapterConfigJson(settings);
    const windows = new TextEncoder().encode(text.replace(/\n/g, '\r\n'));
    expect(windows.length).toBe(1150);
    expect(createHash('sha256').update(windows).digest('hex')).toBe('cfac22dc2e571284b9347d1f1402bc5c3eacbbbb4272913843911df4c4be7f05');
  });

  it('has the fields formats.md §2.9 asks for, sorted', () => {
    const text = adapterConfigJson({ ...settings, loraDropout: 0, loraAlpha: 32.5, useRslora: true, baseModelNameOrPath: null });
    const json = JSON.parse(text);
    expect(Object.keys(json)).toEqual(Object.keys(json).sort());
    expect(json).toMatchObject({ inference_mode: true, peft_type: 'LORA', task_type: 'CAUSAL_LM', bias: 'none', fan_in_fan_out: false, init_lora_weights: true, use_rslora: true, base_model_name_or_path: null, r: 8 });
    expect(text).toContain('"lora_dropout": 0.0,');
    expect(text).toContain('"lora_alpha": 32.5,');
    expect(text.endsWith('}')).toBe(true);
  });
});

describe('target_modules regular expressions', () => {
  it('refuses repetition inside repetition, which can backtrack for ever', () => {
    for (const bad of ['(a+)+', '(.*x)*', '((a)*)+', '(?:\\w+\\.)*q_proj', '(a{2,})+', '(a*){2,5}']) expect(nestedRepetition(bad), bad).toBe(true);
    // The patterns PEFT and Unsloth write for real adapters.
    const unsloth =
      '(?:.*?(?:language|text).*?(?:self_attn|attention|attn|mixer|mlp|feed_forward|ffn|dense|mixer).*?\\.(?:q_proj|v_proj|o_proj))|(?:\\bmodel\\.layers\\.[\\d]{1,}(?!.*\\.experts\\.\\d)\\..*?(?:self_attn|attention|attn|mixer|mlp|feed_forward|ffn|dense|mixer).*?\\.(?:(?:q_proj|v_proj|o_proj)))';
    for (const good of ['.*\\.(q|v)_proj', 'model\\.layers\\.\\d+\\.self_attn\\.(q_proj|v_proj)', '(a+)b', '[(+]+', '\\(a+\\)+', unsloth]) expect(nestedRepetition(good), good).toBe(false);
  });
});
