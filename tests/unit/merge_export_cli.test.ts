import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../helpers/rng.ts';
import { tinyModel, writeTinyModel, TINY_PRESETS } from '../fixtures/tiny_model.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { parseHfConfig } from '../../src/formats/hf_config.ts';
import { adapterFiles, adapterFolderFromZip, adapterZip, readAdapter, type Adapter } from '../../src/formats/peft.ts';
import { projections } from '../../src/formats/peft_config.ts';

// `webtune export --adapter DIR --zip FILE [--model DIR]`: the folder's files zipped unchanged,
// which for a folder webtune wrote is exactly adapterZip's bytes, and imports back as the same
// adapter; a folder that is not a LoRA adapter, or (with --model) belongs to another model, exits
// 2 with one line. No GPU.

const config = parseHfConfig(tinyModel(TINY_PRESETS.qwen3).config);
const root = await mkdtemp(join(tmpdir(), 'webtune-export-'));
afterAll(() => rm(root, { recursive: true, force: true }));

function makeAdapter(modelCard: string | null): Adapter {
  const rng = new Rng(5);
  const weights = projections(config)
    .filter((p) => p.module === 'q_proj' || p.module === 'down_proj')
    .map((target) => ({ target, a: rng.normalArray(3 * target.inFeatures, 0.1), b: rng.normalArray(target.outFeatures * 3, 0.1) }));
  return { settings: { r: 3, loraAlpha: 6, loraDropout: 0.1, targetModules: ['q_proj', 'down_proj'], useRslora: true, baseModelNameOrPath: 'tiny/qwen3' }, weights, modelCard };
}

async function folder(name: string, files: Map<string, Uint8Array>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [file, bytes] of files) await writeFile(join(dir, file), bytes);
  return dir;
}

async function cli(...argv: string[]) {
  const io = memoryIo();
  return { code: await main(argv, io), stdout: io.stdout, stderr: io.stderr };
}

describe('webtune export', () => {
  it('zips an adapter folder to adapterZip’s exact bytes, which import back as the same adapter', async () => {
    const adapter = makeAdapter('# my adapter\n');
    const dir = await folder('adapter', adapterFiles(adapter));
    const zip = join(root, 'adapter.zip');
    const r = await cli('export', '--adapter', dir, '--zip', zip);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*adapter\.zip: adapter_model\.safetensors, adapter_config\.json, README\.md \(/);
    const bytes = new Uint8Array(await readFile(zip));
    expect(Buffer.from(bytes).equals(Buffer.from(adapterZip(adapter)))).toBe(true);
    const back = await readAdapter(adapterFolderFromZip(bytes, 'adapter.zip'), config);
    expect(back.settings).toEqual(adapter.settings);
    expect(back.modelCard).toBe(adapter.modelCard);
    back.weights.forEach((w, i) => {
      expect(w.target).toEqual(adapter.weights[i].target);
      expect(w.a).toEqual(adapter.weights[i].a);
      expect(w.b).toEqual(adapter.weights[i].b);
    });
  });

  it('checks against the base with --model, and leaves out a missing README', async () => {
    const model = await writeTinyModel(tinyModel(TINY_PRESETS.qwen3), join(root, 'model'));
    const dir = await folder('no-card', adapterFiles(makeAdapter(null)));
    const zip = join(root, 'checked.zip');
    const ok = await cli('export', '--adapter', dir, '--zip', zip, '--model', model);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).not.toMatch(/README/);
    const other = await writeTinyModel(tinyModel({ ...TINY_PRESETS.qwen3, numLayers: 3 }), join(root, 'deeper'));
    const bad = await cli('export', '--adapter', dir, '--zip', join(root, 'x.zip'), '--model', other);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"base_model\.model\.model\.layers\.2\.self_attn\.q_proj\.lora_A\.weight" is missing/);
  });

  it('refuses what is not a LoRA adapter folder, with one line and exit 2', async () => {
    const files = adapterFiles(makeAdapter(null));
    const noConfig = await folder('no-config', new Map([['adapter_model.safetensors', files.get('adapter_model.safetensors')!]]));
    const notLora = await folder('ia3', new Map([...files, ['adapter_config.json', new TextEncoder().encode('{"peft_type": "IA3"}')]]));
    const notSafetensors = await folder('junk', new Map([...files, ['adapter_model.safetensors', new Uint8Array([1, 2, 3])]]));
    const cases: [string[], RegExp][] = [
      [['--adapter', noConfig, '--zip', join(root, 'a.zip')], /adapter_config\.json: is missing/],
      [['--adapter', notLora, '--zip', join(root, 'b.zip')], /"peft_type" is "IA3"/],
      [['--adapter', notSafetensors, '--zip', join(root, 'c.zip')], /too short for the 8-byte header length/],
      [['--adapter', join(root, 'nowhere'), '--zip', join(root, 'd.zip')], /cannot open/],
      [['--adapter', noConfig], /--zip is required/],
      [['--adapter', noConfig, '--zip', noConfig], /--zip must be a file path/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli('export', ...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
