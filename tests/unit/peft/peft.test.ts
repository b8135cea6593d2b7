import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.ts';
import { ModelFolderError } from '../../../src/formats/errors.ts';
import { parseHfConfig, type ModelConfig } from '../../../src/formats/hf_config.ts';
import { memoryFolder } from '../../../src/formats/model_folder.ts';
import {
  AdapterError,
  adapterFiles,
  adapterFolderFromZip,
  adapterZip,
  readAdapter,
  type Adapter,
  type AdapterSettings,
} from '../../../src/formats/peft.ts';
import { openSafetensors } from '../../../src/formats/safetensors.ts';
import { serializeSafetensors } from '../../../src/formats/safetensors_writer.ts';
import { memorySource } from '../../../src/formats/byte_source.ts';
import { fromFloat32, type Dtype } from '../../../src/formats/dtype.ts';
import { initLoraPairs } from '../../../src/model/lora_init.ts';
import { loraTargets } from '../../../src/model/lora_targets.ts';
import { loraInitStream } from '../../../src/train/rng.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../../src/train/config.ts';
import { adapterSettingsFor, withAdapterSettings } from '../../../src/train/config_adapter.ts';
import { tinyModel, TINY_PRESETS } from '../../fixtures/tiny_model.ts';
import { Rng } from '../../helpers/rng.ts';

const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
const llama = parseHfConfig(tinyModel({ architecture: 'llama', hiddenSize: 48, intermediateSize: 80, numHeads: 4, numKvHeads: 2, numLayers: 2 }).config);
const qwen3 = parseHfConfig(tinyModel(TINY_PRESETS.qwen3).config);
const Q0_A = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';

function makeAdapter(model: ModelConfig, settings: Partial<AdapterSettings> = {}): Adapter {
  const s: AdapterSettings = { r: 4, loraAlpha: 8, loraDropout: 0.05, targetModules: [...ALL], useRslora: false, baseModelNameOrPath: 'tiny/llama', ...settings };
  const pairs = initLoraPairs(loraTargets(model, s.targetModules, s.r), (t) => loraInitStream(42, t));
  // A trained B is not zero; give it values so a lost or swapped B would show.
  const rng = new Rng(3);
  for (const p of pairs) p.b.set(rng.normalArray(p.b.length, 0.01));
  return { settings: s, weights: pairs, modelCard: '# card\n\nsome text é\n' };
}

const same = (x: Uint8Array, y: Uint8Array) => Buffer.from(x).equals(Buffer.from(y));
const folderOf = (files: Map<string, Uint8Array>) => memoryFolder('adapter', files);

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}

describe('PEFT adapter out', () => {
  it('writes PEFT’s keys and shapes as F32 with format pt', async () => {
    const adapter = makeAdapter(llama);
    const files = adapterFiles(adapter);
    expect([...files.keys()]).toEqual(['adapter_model.safetensors', 'adapter_config.json', 'README.md']);
    const st = await openSafetensors(memorySource(files.get('adapter_model.safetensors')!, 'w'));
    expect(st.metadata).toEqual({ format: 'pt' });
    expect(st.names()).toHaveLength(2 * 7 * 2);
    expect(st.info(Q0_A)).toMatchObject({ dtype: 'F32', shape: [4, 48] });
    expect(st.info('base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight').shape).toEqual([24, 4]);
    expect(st.info('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight').shape).toEqual([4, 80]);
    expect(st.info('base_model.model.model.layers.1.mlp.up_proj.lora_B.weight').shape).toEqual([80, 4]);
    expect(await st.readFloat32('base_model.model.model.layers.1.mlp.up_proj.lora_B.weight')).toEqual(adapter.weights[12].b);
    expect(JSON.parse(new TextDecoder().decode(files.get('adapter_config.json')))).toMatchObject({ r: 4, lora_alpha: 8, target_modules: [...ALL] });
  });

  it('refuses weights whose sizes do not match r (a programming error, not input)', () => {
    const adapter = makeAdapter(llama);
    expect(() => adapterFiles({ ...adapter, settings: { ...adapter.settings, r: 5 } })).toThrow(RangeError);
  });
});

describe('PEFT adapter in', () => {
  it('round-trips byte for byte, as a folder and as a zip', async () => {
    const adapter = makeAdapter(llama, { targetModules: ['v_proj', 'q_proj', 'down_proj'], useRslora: true, loraAlpha: 12.5, loraDropout: 0 });
    const files = adapterFiles(adapter);
    const back = await readAdapter(folderOf(files), llama);
    expect(back.settings).toEqual(adapter.settings);
    expect(back.weights.map((w) => w.target.path)).toEqual(adapter.weights.map((w) => w.target.path));
    const again = adapterFiles(back);
    for (const [name, bytes] of files) expect(same(again.get(name)!, bytes), name).toBe(true);

    const zip = adapterZip(adapter);
    const fromZip = await readAdapter(adapterFolderFromZip(zip, 'adapter.zip'), llama);
    expect(same(adapterZip(fromZip), zip)).toBe(true);
  });

  it('gives --init-adapter back the settings of the run that wrote it', async () => {
    const run = { ...DEFAULT_TRAIN_CONFIG, loraR: 8, loraAlpha: 16, rslora: true, targetModules: ['q_proj', 'v_proj', 'up_proj'] as AdapterSettings['targetModules'] };
    const settings = adapterSettingsFor(run, 'tiny/llama');
    const weights = initLoraPairs(loraTargets(llama, settings.targetModules, settings.r), (t) => loraInitStream(run.seed, t));
    const back = await readAdapter(folderOf(adapterFiles({ settings, weights, modelCard: null })), llama);
    expect(withAdapterSettings(DEFAULT_TRAIN_CONFIG, back.settings)).toEqual({ ...run, loraDropout: DEFAULT_TRAIN_CONFIG.loraDropout });
  });

  it('reads what PEFT writes: CRLF, any target order, unknown keys, no card, BF16', async () => {
    const adapter = makeAdapter(llama, { targetModules: ['q_proj', 'v_proj'] });
    const files = adapterFiles({ ...adapter, modelCard: null });
    const config = JSON.parse(new TextDecoder().decode(files.get('adapter_config.json')));
    config.target_modules = ['v_proj', 'q_proj'];
    config.some_future_key = { x: 1 };
    config.runtime_config = null;
    files.set('adapter_config.json', new TextEncoder().encode(JSON.stringify(config, null, 2).replace(/\n/g, '\r\n')));
    const st = await openSafetensors(memorySource(files.get('adapter_model.safetensors')!, 'w'));
    const bf16 = await Promise.all(st.names().map(async (name) => ({ name, dtype: 'BF16' as const, shape: st.info(name).shape, bytes: fromFloat32(await st.readFloat32(name), 'BF16') })));
    files.set('adapter_model.safetensors', serializeSafetensors(bf16));
    const back = await readAdapter(folderOf(files), llama);
    expect(back.settings.targetModules).toEqual(['v_proj', 'q_proj']);
    expect(back.modelCard).toBeNull();
    const a = back.weights[0].a;
    const want = adapter.weights[0].a;
    for (let i = 0; i < a.length; i += 17) expect(Math.abs(a[i] - want[i])).toBeLessThanOrEqual(Math.abs(want[i]) / 128);
  });

  it('resolves all-linear, regular expressions, suffixes and the default targets', async () => {
    const base = makeAdapter(llama);
    const withTargets = async (targets: unknown, adapter = base) => {
      const files = adapterFiles(adapter);
      const config = JSON.parse(new TextDecoder().decode(files.get('adapter_config.json')));
      if (targets === undefined) delete config.target_modules;
      else config.target_modules = targets;
      files.set('adapter_config.json', new TextEncoder().encode(JSON.stringify(config)));
      return (await readAdapter(folderOf(files), llama)).settings.targetModules;
    };
    expect(await withTargets('all-linear')).toEqual([...ALL]);
    expect(await withTargets('.*\\.(self_attn|mlp)\\.[a-z]+_proj')).toEqual([...ALL]);
    expect(await withTargets(['self_attn.q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'])).toEqual([...ALL]);
    const qv = makeAdapter(llama, { targetModules: ['q_proj', 'v_proj'] });
    expect(await withTargets(undefined, qv)).toEqual(['q_proj', 'v_proj']);
  });

  it('names the key of each mismatch', async () => {
    const adapter = makeAdapter(llama);
    const files = adapterFiles(adapter);
    const withConfig = (patch: Record<string, unknown>) => {
      const config = { ...JSON.parse(new TextDecoder().decode(files.get('adapter_config.json'))), ...patch };
      return folderOf(new Map([...files, ['adapter_config.json', new TextEncoder().encode(JSON.stringify(config))]]));
    };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ r: 8 }, new RegExp(`"${Q0_A.replace(/\./g, '\\.')}" has shape \\[4,48\\] but r = 8 and this model need \\[8,48\\]`)],
      [{ target_modules: ['q_proj', 'c_attn'] }, /"target_modules" names "c_attn", which is not a projection of this llama model/],
      [{ target_modules: ['q_proj', 'lm_head'] }, /"target_modules" names lm_head, which webtune does not train/],
      [{ target_modules: ['q_proj'] }, /"base_model\.model\.model\.layers\.0\.mlp\.down_proj\.lora_A\.weight" is not a LoRA weight of the modules adapter_config\.json targets \(q_proj\)/],
      [{ target_modules: 'model\\.layers\\.0\\..*' }, /"target_modules" selects q_proj in 1 of 2 layers/],
      [{ target_modules: '(' }, /"target_modules" is a regular expression JavaScript cannot read/],
      [{ target_modules: '(.*a)*b' }, /"target_modules" is a regular expression with repetition inside repetition/],
      [{ peft_type: 'IA3' }, /"peft_type" is "IA3"; webtune reads LoRA adapters/],
      [{ task_type: 'SEQ_CLS' }, /"task_type" is "SEQ_CLS"/],
      [{ use_dora: true }, /"use_dora" is true: it is DoRA/],
      [{ layers_to_transform: [0] }, /"layers_to_transform" is \[0\]: it limits LoRA to some layers/],
      [{ modules_to_save: ['lm_head'] }, /"modules_to_save"/],
      [{ rank_pattern: { q_proj: 8 } }, /"rank_pattern"/],
      [{ fan_in_fan_out: true }, /"fan_in_fan_out"/],
      [{ bias: 'all' }, /"bias" is "all"/],
      [{ init_lora_weights: 'pissa_niter_4' }, /"init_lora_weights" is "pissa_niter_4", which changes the base weights/],
      [{ lora_alpha: 0 }, /"lora_alpha" must be a positive number, got 0/],
      [{ r: 2.5 }, /"r" must be a positive integer, got 2\.5/],
      [{ lora_dropout: 1 }, /"lora_dropout" must be a number in \[0, 1\), got 1/],
    ];
    for (const [patch, message] of cases) {
      const e = await failure(readAdapter(withConfig(patch), llama));
      expect(e, JSON.stringify(patch)).toBeInstanceOf(AdapterError);
      expect(e.message, JSON.stringify(patch)).toMatch(message);
      expect(e.message.startsWith('adapter/adapter_')).toBe(true);
    }
    expect((await failure(readAdapter(withConfig({}), qwen3))).message).toMatch(/has shape \[4,48\] but r = 4 and this model need \[4,40\]/);
  });

  it('names missing, extra and corrupt tensors', async () => {
    const adapter = makeAdapter(llama, { targetModules: ['q_proj'] });
    const files = adapterFiles(adapter);
    const st = await openSafetensors(memorySource(files.get('adapter_model.safetensors')!, 'w'));
    const tensors = await Promise.all(st.names().map(async (name) => ({ name, dtype: 'F32' as Dtype, shape: st.info(name).shape, bytes: (await st.readTensor(name)).bytes.slice() })));
    const withTensors = (list: typeof tensors) => folderOf(new Map([...files, ['adapter_model.safetensors', serializeSafetensors(list)]]));
    const drop = tensors.filter((t) => t.name !== Q0_A);
    expect((await failure(readAdapter(withTensors(drop), llama))).message).toMatch(/"base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" is missing/);
    const named = tensors.map((t) => (t.name === Q0_A ? { ...t, name: Q0_A.replace('lora_A.weight', 'lora_A.default.weight') } : t));
    expect((await failure(readAdapter(withTensors(named), llama))).message).toMatch(/still carries an adapter name/);
    const nan = tensors.map((t) => (t.name === Q0_A ? { ...t, bytes: new Uint8Array(new Float32Array(4 * 48).fill(Number.NaN).buffer) } : t));
    expect((await failure(readAdapter(withTensors(nan), llama))).message).toMatch(/holds NaN at index 0/);
    const ints = tensors.map((t) => (t.name === Q0_A ? { ...t, dtype: 'I32' as Dtype } : t));
    expect(await failure(readAdapter(withTensors(ints), llama))).toBeInstanceOf(InputError);
  });

  it('says which file is missing', async () => {
    const files = adapterFiles(makeAdapter(llama));
    const without = (name: string, extra: [string, Uint8Array][] = []) => folderOf(new Map([...[...files].filter(([n]) => n !== name), ...extra]));
    const noConfig = await failure(readAdapter(without('adapter_config.json'), llama));
    expect(noConfig).toBeInstanceOf(ModelFolderError);
    expect(noConfig.message).toMatch(/adapter_config\.json: is missing/);
    const pickle = await failure(readAdapter(without('adapter_model.safetensors', [['adapter_model.bin', new Uint8Array(4)]]), llama));
    expect(pickle.message).toMatch(/adapter_model\.bin is a pickle/);
    const broken = await failure(readAdapter(folderOf(new Map([...files, ['adapter_config.json', new TextEncoder().encode('{"r": 4,')]])), llama));
    expect(broken.message).toMatch(/adapter\/adapter_config\.json: "\(file\)" is not valid JSON/);
  });

  it('opens a zip of the folder made elsewhere, and refuses two adapters in one zip', async () => {
    const files = adapterFiles(makeAdapter(llama));
    const nested: Record<string, Uint8Array> = { '__MACOSX/my-adapter/._adapter_config.json': new Uint8Array(3), 'my-adapter/tokenizer.json': new Uint8Array(10) };
    for (const [name, bytes] of files) nested[`my-adapter/${name}`] = bytes;
    const back = await readAdapter(adapterFolderFromZip(zipSync(nested), 'my-adapter.zip'), llama);
    expect(back.weights).toHaveLength(14);
    const two = zipSync({ 'a/adapter_config.json': files.get('adapter_config.json')!, 'b/adapter_config.json': files.get('adapter_config.json')! });
    expect(() => adapterFolderFromZip(two, 'two.zip')).toThrow(/"adapter_config\.json" is in the archive twice \(a\/adapter_config\.json and b\/adapter_config\.json\)/);
  });
});
