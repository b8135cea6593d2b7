import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryIo } from '../../../src/cli/io.ts';
import { main } from '../../../src/cli/main.ts';
import { MALFORMED } from '../../fixtures/malformed_safetensors.ts';
import { TINY_PRESETS, tinyModel, writeTinyModel } from '../../fixtures/tiny_model.ts';

async function inspect(...args: string[]) {
  const io = memoryIo();
  const code = await main(['inspect', ...args], io);
  return { code, ...io };
}

function expectOneLineError(r: { code: number; stdout: string; stderr: string }, pattern: RegExp) {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^webtune: error: /);
  expect(r.stderr).toMatch(pattern);
}

describe('webtune inspect', () => {
  it('summarizes a model folder with its tokenizer', async () => {
    const dir = await writeTinyModel(tinyModel(TINY_PRESETS.llamaTokenizer));
    const r = await inspect(dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(llama, LlamaForCausalLM)');
    expect(r.stdout).toMatch(/layers 2 {3}hidden 32 {3}intermediate 64 {3}heads 4 {3}kv heads 2 {3}head dim 8 {3}vocab 32000/);
    const params = [...tinyModel(TINY_PRESETS.llamaTokenizer).tensors.values()].reduce((n, t) => n + t.values.length, 0);
    expect(r.stdout).toContain(`parameters ${params.toLocaleString('en-US')}`);
    expect(r.stdout).toMatch(/model\.layers\.1\.mlp\.down_proj\.weight +F32 +\[32, 64\] +8,192/);
    expect(r.stdout).toMatch(/NF4 base with double quantization: [\d,]+ bytes/);
    // Natural order: layer 0 before layer 1, embeddings first.
    expect(r.stdout.indexOf('model.layers.0.')).toBeLessThan(r.stdout.indexOf('model.layers.1.'));
  });

  it('reads a sharded folder and prints --json', async () => {
    const m = tinyModel({ ...TINY_PRESETS.qwen3, maxShardSize: 20_000 });
    const dir = await writeTinyModel(m);
    const r = await inspect(dir, '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.config.architecture).toBe('qwen3');
    expect(report.config.headDim).toBe(12);
    expect(report.files.length).toBeGreaterThan(1);
    expect(report.tensors).toHaveLength(m.tensors.size);
    expect(report.tensors[0]).toEqual({ name: 'model.embed_tokens.weight', dtype: 'F32', shape: [89, 40], bytes: 89 * 40 * 4, file: 'model-00001-of-00007.safetensors' });
    expect(report.parameters).toBe([...m.tensors.values()].reduce((n, t) => n + t.values.length, 0));
    expect(report.nf4Bytes).toBeLessThan(report.totalBytes);
  });

  it('inspects a single .safetensors file without a config', async () => {
    const m = tinyModel(TINY_PRESETS.qwen2);
    const dir = await mkdtemp(join(tmpdir(), 'webtune-inspect-'));
    await writeFile(join(dir, 'weights.safetensors'), m.files.get('model.safetensors')!);
    const r = await inspect(join(dir, 'weights.safetensors'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no config.json: tensors only');
    expect(r.stdout).toMatch(/model\.layers\.0\.self_attn\.q_proj\.bias +F16 +\[32\] +64/);
  });

  it.each(MALFORMED)('exits 2 with one line on a malformed file: $label', async ({ bytes, tensor, pattern }) => {
    const dir = await mkdtemp(join(tmpdir(), 'webtune-bad-'));
    const path = join(dir, 'bad.safetensors');
    await writeFile(path, bytes);
    const r = await inspect(path);
    expectOneLineError(r, pattern);
    expect(r.stderr).toContain(path);
    if (tensor) expect(r.stderr).toContain(`tensor "${tensor}"`);
  });

  it('exits 2 naming the tensor when the weights do not match config.json', async () => {
    const m = tinyModel(TINY_PRESETS.mistral);
    m.files.set('config.json', new TextEncoder().encode(JSON.stringify({ ...m.config, num_key_value_heads: 4 })));
    const r = await inspect(await writeTinyModel(m));
    expectOneLineError(r, /tensor "model\.layers\.0\.self_attn\.k_proj\.weight": has shape \[8,32\] but config\.json implies \[16,32\]/);
  });

  it('exits 2 on an unsupported config, a missing shard, a missing path and bad usage', async () => {
    const gemma = tinyModel({ configOverrides: { model_type: 'gemma' } });
    expectOneLineError(await inspect(await writeTinyModel(gemma)), /config\.json: model_type = "gemma" is not supported/);
    const sharded = tinyModel({ ...TINY_PRESETS.qwen2, maxShardSize: 20_000 });
    sharded.files.delete('model-00002-of-00004.safetensors');
    expectOneLineError(await inspect(await writeTinyModel(sharded)), /no such file; download all shards/);
    expectOneLineError(await inspect('/nonexistent/model'), /no such file or folder/);
    expectOneLineError(await inspect(), /inspect takes one path/);
    expectOneLineError(await inspect('a', '--bogus'), /unknown option --bogus/);
  });
});
