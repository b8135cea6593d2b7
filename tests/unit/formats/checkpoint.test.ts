import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../src/formats/checkpoint.ts';
import { fromFloat32 } from '../../../src/formats/dtype.ts';
import { ModelFolderError, SafetensorsFormatError } from '../../../src/formats/errors.ts';
import { memoryFolder } from '../../../src/formats/model_folder.ts';
import { nodeFileSink } from '../../../src/formats/node_sink.ts';
import { openNodeFolder } from '../../../src/formats/node_folder.ts';
import { tensorToFloat32 } from '../../../src/formats/safetensors.ts';
import { memorySink, serializeSafetensors, type TensorSpec } from '../../../src/formats/safetensors_writer.ts';
import { parseSize, planShards, shardFileName, writeCheckpoint } from '../../../src/formats/shard_plan.ts';
import { TINY_PRESETS, tinyModel, writeTinyModel } from '../../fixtures/tiny_model.ts';

const u8 = (name: string, n: number): TensorSpec => ({ name, dtype: 'U8', shape: [n] });

describe('planShards (huggingface_hub split_state_dict_into_shards)', () => {
  it('packs greedily in state-dict order', () => {
    const plan = planShards([u8('a', 4), u8('b', 4), u8('c', 3), u8('d', 5), u8('e', 1)], 8);
    expect(plan.shards).toEqual([
      { file: 'model-00001-of-00003.safetensors', tensors: ['a', 'b'] },
      { file: 'model-00002-of-00003.safetensors', tensors: ['c', 'd'] },
      { file: 'model-00003-of-00003.safetensors', tensors: ['e'] },
    ]);
    expect(plan.index!.metadata.total_size).toBe(17);
    expect(Object.keys(plan.index!.weight_map)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(plan.index!.weight_map.d).toBe('model-00002-of-00003.safetensors');
  });

  it('gives a tensor larger than the limit a shard of its own, without closing the current one', () => {
    const plan = planShards([u8('a', 2), u8('big', 20), u8('b', 2)], 8);
    expect(plan.shards.map((s) => s.tensors)).toEqual([['big'], ['a', 'b']]);
  });

  it('one shard is model.safetensors with no index', () => {
    const plan = planShards([u8('a', 4), u8('b', 4)], 8);
    expect(plan).toEqual({ shards: [{ file: 'model.safetensors', tensors: ['a', 'b'] }], index: null });
    expect(shardFileName(11, 12)).toBe('model-00012-of-00012.safetensors');
  });

  it('parses sizes like transformers', () => {
    expect(parseSize('5GB')).toBe(5e9);
    expect(parseSize('500MB')).toBe(5e8);
    expect(parseSize('2GiB')).toBe(2 ** 31);
    expect(parseSize('1024')).toBe(1024);
    expect(() => parseSize('five')).toThrow(/not a size/);
  });
});

describe('checkpoints', () => {
  it('reads a single-file fixture, values exactly as generated (bf16)', async () => {
    const m = tinyModel(TINY_PRESETS.llamaOddTied);
    const cp = await openCheckpoint(memoryFolder('odd', m.files));
    expect(cp.names().sort()).toEqual([...m.tensors.keys()].sort());
    expect([...cp.shards.keys()]).toEqual(['model.safetensors']);
    for (const [name, t] of m.tensors) {
      const data = await cp.readTensor(name);
      expect(data.dtype).toBe('BF16');
      expect(data.shape).toEqual(t.shape);
      expect(tensorToFloat32(data)).toEqual(t.values);
    }
  });

  it('reads a sharded fixture as one lookup', async () => {
    const m = tinyModel({ ...TINY_PRESETS.qwen2, maxShardSize: 20_000 });
    const shardFiles = [...m.files.keys()].filter((f) => f.startsWith('model-'));
    expect(shardFiles.length).toBeGreaterThan(2);
    const cp = await openCheckpoint(memoryFolder('q2', m.files));
    expect(cp.shards.size).toBe(shardFiles.length);
    expect(new Set(cp.names())).toEqual(new Set(m.tensors.keys()));
    expect(cp.info('lm_head.weight').file).toBe(shardFiles.at(-1));
    for (const [name, t] of m.tensors) expect(tensorToFloat32(await cp.readTensor(name))).toEqual(t.values);
    await expect(cp.readTensor('nope')).rejects.toThrow(/q2: tensor "nope": is not in the checkpoint/);
  });

  it('writeCheckpoint produces the same files as the fixture, one tensor at a time', async () => {
    const m = tinyModel({ ...TINY_PRESETS.mistral, maxShardSize: 30_000 });
    const specs = [...m.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
    const sinks = new Map<string, ReturnType<typeof memorySink>>();
    const plan = await writeCheckpoint(
      specs,
      (s) => fromFloat32(m.tensors.get(s.name)!.values, 'F32'),
      async (file) => {
        const sink = memorySink();
        sinks.set(file, sink);
        return sink;
      },
      { maxShardSize: 30_000 },
    );
    expect(plan.shards.length).toBe([...m.files.keys()].filter((f) => f.startsWith('model-')).length);
    expect(plan.shards.length).toBeGreaterThan(2);
    expect([...sinks.keys()].sort()).toEqual([...m.files.keys()].filter((f) => f !== 'config.json').sort());
    for (const [file, sink] of sinks) expect([...sink.bytes()], file).toEqual([...m.files.get(file)!]);
  });

  it('writes through Node file sinks to a folder that reads back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webtune-ckpt-'));
    const m = tinyModel({ ...TINY_PRESETS.qwen3, maxShardSize: 10_000 });
    const specs = [...m.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
    await writeCheckpoint(specs, (s) => fromFloat32(m.tensors.get(s.name)!.values, 'F32'), (file) => nodeFileSink(join(dir, file)), { maxShardSize: 10_000 });
    const cp = await openCheckpoint(await openNodeFolder(dir));
    expect(cp.shards.size).toBeGreaterThan(5);
    expect(cp.names().length).toBe(m.tensors.size);
    for (const [name, t] of m.tensors) expect(tensorToFloat32(await cp.readTensor(name))).toEqual(t.values);
    const path = await writeTinyModel(m);
    expect((await openCheckpoint(await openNodeFolder(path))).names().length).toBe(m.tensors.size);
  });
});

describe('checkpoint errors name the file', () => {
  const sharded = () => tinyModel({ ...TINY_PRESETS.qwen2, maxShardSize: 20_000 }).files;
  const index = (files: Map<string, Uint8Array>) => JSON.parse(new TextDecoder().decode(files.get('model.safetensors.index.json')!));
  const setIndex = (files: Map<string, Uint8Array>, value: unknown) => files.set('model.safetensors.index.json', new TextEncoder().encode(JSON.stringify(value)));

  it('a folder without weights', async () => {
    await expect(openCheckpoint(memoryFolder('empty', { 'config.json': '{}' }))).rejects.toThrow(/^empty: has no model\.safetensors or model\.safetensors\.index\.json/);
    await expect(openCheckpoint(memoryFolder('ad', { 'adapter_model.safetensors': serializeSafetensors([]) }))).rejects.toThrow(/found adapter_model\.safetensors/);
  });

  it('a shard named in the index that is not in the folder', async () => {
    const files = sharded();
    files.delete('model-00002-of-00004.safetensors');
    await expect(openCheckpoint(memoryFolder('q2', files))).rejects.toThrow(ModelFolderError);
    await expect(openCheckpoint(memoryFolder('q2', files))).rejects.toThrow(/q2\/model\.safetensors\.index\.json: weight_map puts tensor ".*" in "model-00002-of-00004\.safetensors", but the folder has no such file/);
  });

  it('a tensor in two shards', async () => {
    const files = sharded();
    // Shard 4 gains a copy of the embedding, which the index leaves in shard 1.
    const last = 'model-00004-of-00004.safetensors';
    const cp = await openCheckpoint(memoryFolder('q2', sharded()));
    const keep = cp.names().filter((n) => cp.info(n).file === last);
    const tensors = await Promise.all([...keep, 'model.embed_tokens.weight'].map((n) => cp.readTensor(n)));
    files.set(last, serializeSafetensors(tensors));
    await expect(openCheckpoint(memoryFolder('q2', files))).rejects.toThrow(/tensor "model\.embed_tokens\.weight" is in two shards/);
  });

  it('a weight_map entry pointing at the wrong shard or at nothing', async () => {
    const files = sharded();
    const idx = index(files);
    idx.weight_map['model.norm.weight'] = 'model-00001-of-00004.safetensors';
    setIndex(files, idx);
    await expect(openCheckpoint(memoryFolder('q2', files))).rejects.toThrow(/puts tensor "model\.norm\.weight" in "model-00001-of-00004\.safetensors", but it is in "model-00003-of-00004\.safetensors"/);
    idx.weight_map['ghost.weight'] = 'model-00001-of-00004.safetensors';
    delete idx.weight_map['model.norm.weight'];
    setIndex(files, idx);
    await expect(openCheckpoint(memoryFolder('q2', files))).rejects.toThrow(/tensor "ghost\.weight".*no shard holds it/);
  });

  it('a malformed index, and a malformed shard', async () => {
    const files = sharded();
    setIndex(files, { metadata: {} });
    await expect(openCheckpoint(memoryFolder('q2', files))).rejects.toThrow(/has no "weight_map" object/);
    files.set('model.safetensors.index.json', new TextEncoder().encode('{"weight_map":'));
    await expect(openCheckpoint(memoryFolder('q2', files))).rejects.toThrow(/q2\/model\.safetensors\.index\.json: is not valid JSON/);
    const good = sharded();
    good.set('model-00002-of-00004.safetensors', new Uint8Array(3));
    await expect(openCheckpoint(memoryFolder('q2', good))).rejects.toThrow(SafetensorsFormatError);
    await expect(openCheckpoint(memoryFolder('q2', good))).rejects.toThrow(/^q2\/model-00002-of-00004\.safetensors: the file is 3 bytes/);
  });
});
