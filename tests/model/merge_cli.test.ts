import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuMissing, gpuRuntime } from '../helpers/gpu.ts';
import { Rng } from '../helpers/rng.ts';
import { tinyModel, writeTinyModel, TINY_PRESETS } from '../fixtures/tiny_model.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { parseHfConfig, type ModelConfig } from '../../src/formats/hf_config.ts';
import { memoryFolder } from '../../src/formats/model_folder.ts';
import { adapterFiles, adapterZip, type Adapter } from '../../src/formats/peft.ts';
import { projections } from '../../src/formats/peft_config.ts';
import { memorySink } from '../../src/formats/safetensors_writer.ts';
import type { LinearModule } from '../../src/formats/tensor_names.ts';
import { mergeModel } from '../../src/model/merge.ts';

// `webtune merge` end to end on disk: an adapter folder or its .zip, single file or shards,
// --from-nf4 on a full-precision and on a `webtune quantize`d folder; and every refusal exits 2
// with one line naming the problem.

let rt: Runtime;
beforeAll(async () => {
  if (!gpuMissing) rt = await gpuRuntime();
});
const roots: string[] = [];
afterEach(() => rt?.arena.releaseAll());
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

function makeAdapter(config: ModelConfig, modules: LinearModule[], r: number): Adapter {
  const rng = new Rng(41);
  const weights = projections(config)
    .filter((p) => modules.includes(p.module))
    .map((target) => ({ target, a: rng.normalArray(r * target.inFeatures, 0.2), b: rng.normalArray(target.outFeatures * r, 0.02) }));
  return { settings: { r, loraAlpha: 16, loraDropout: 0.05, targetModules: modules, useRslora: false, baseModelNameOrPath: 'tiny' }, weights, modelCard: '# adapter\n' };
}

async function writeFolder(files: Map<string, Uint8Array>, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of files) await writeFile(join(dir, name), bytes);
  return dir;
}

async function cli(...argv: string[]) {
  const io = memoryIo(rt);
  const code = await main(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describeGpu('webtune merge', () => {
  it('merges an adapter folder or zip; shards; --from-nf4; refusals exit 2', async () => {
    const root = await mkdtemp(join(tmpdir(), 'webtune-merge-'));
    roots.push(root);
    const tiny = tinyModel({ ...TINY_PRESETS.llamaOddTied, seed: 42 });
    const model = await writeTinyModel(tiny, join(root, 'base'));
    await writeFile(join(model, 'generation_config.json'), '{"temperature": 0.7}\n');
    const config = parseHfConfig(tiny.config);
    const adapter = makeAdapter(config, ['q_proj', 'v_proj', 'down_proj'], 4);
    const adapterDir = await writeFolder(adapterFiles(adapter), join(root, 'adapter'));
    const zip = join(root, 'adapter.zip');
    await writeFile(zip, adapterZip(adapter));

    const one = await cli('merge', '--model', model, '--adapter', adapterDir, '--out', join(root, 'merged'));
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^merged 6 LoRA weights \(scale 4\) into the full-precision weights; 14 tensors copied\nwrote .*model\.safetensors/);
    expect((await readdir(join(root, 'merged'))).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    // The same bytes as the library call with in-memory sinks (deterministic, nothing CLI-specific).
    const files = new Map<string, Uint8Array>();
    await mergeModel(rt, {
      model: memoryFolder('base', tiny.files),
      adapter,
      openSink: async (file) => {
        const sink = memorySink();
        return { write: (c) => sink.write(c), close: async () => void files.set(file, sink.bytes()) };
      },
    });
    const single = await readFile(join(root, 'merged', 'model.safetensors'));
    expect(single.equals(Buffer.from(files.get('model.safetensors')!))).toBe(true);

    const zipped = await cli('merge', '--model', model, '--adapter', zip, '--out', join(root, 'from-zip'), '--shard-size', '10KB');
    expect(zipped.code, zipped.stderr).toBe(0);
    const sharded = (await readdir(join(root, 'from-zip'))).filter((f) => f.startsWith('model'));
    expect(sharded).toContain('model.safetensors.index.json');
    expect(sharded.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(2);

    const nf4 = await cli('merge', '--model', model, '--adapter', adapterDir, '--out', join(root, 'nf4'), '--from-nf4');
    expect(nf4.code, nf4.stderr).toBe(0);
    expect(nf4.stdout).toMatch(/into the dequantized NF4 weights/);
    expect((await readFile(join(root, 'nf4', 'model.safetensors'))).equals(single)).toBe(false);

    const quantized = join(root, 'quantized');
    expect((await cli('quantize', '--model', model, '--out', quantized)).code).toBe(0);
    const fromBnb = await cli('merge', '--model', quantized, '--adapter', adapterDir, '--out', join(root, 'bnb'), '--from-nf4');
    expect(fromBnb.code, fromBnb.stderr).toBe(0);
    expect(fromBnb.stdout).toMatch(/, 8 dequantized\n/);
    expect(JSON.parse(await readFile(join(root, 'bnb', 'config.json'), 'utf8'))).not.toHaveProperty('quantization_config');

    const other = makeAdapter(parseHfConfig(tinyModel({ ...TINY_PRESETS.llamaOddTied, hiddenSize: 36 }).config), ['q_proj'], 2);
    const otherDir = await writeFolder(adapterFiles(other), join(root, 'other-adapter'));
    await writeFile(join(root, 'notes.txt'), 'not an adapter');
    const refusals: [string[], RegExp][] = [
      [['--model', quantized, '--adapter', adapterDir, '--out', join(root, 'x1')], /bitsandbytes 4-bit checkpoint.*--from-nf4/],
      [['--model', model, '--adapter', otherDir, '--out', join(root, 'x2')], /"base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" has shape \[2,36\]/],
      [['--model', model, '--adapter', adapterDir, '--out', join(root, 'merged')], /already holds model weights \(model\.safetensors\)/],
      [['--model', model, '--adapter', adapterDir, '--out', model], /--out must be a new folder/],
      [['--model', model, '--adapter', adapterDir, '--out', join(root, 'x3'), '--no-double-quant'], /only matters with --from-nf4/],
      [['--model', model, '--adapter', adapterDir, '--out', join(root, 'x4'), '--shard-size', 'big'], /"big" is not a size/],
      [['--model', model, '--adapter', join(root, 'notes.txt'), '--out', join(root, 'x5')], /not a \.zip/],
      [['--model', model, '--adapter', join(root, 'missing'), '--out', join(root, 'x6')], /cannot open the adapter/],
      [['--model', model, '--out', join(root, 'x7')], /--adapter is required/],
    ];
    for (const [argv, message] of refusals) {
      const r = await cli('merge', ...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
