import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { MemoryDirectory } from '../helpers/memory_dir.ts';
import type { GpuContext } from '../../src/engine/device.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { openCheckpoint } from '../../src/formats/checkpoint.ts';
import { toFloat32 } from '../../src/formats/dtype.ts';
import { parseHfConfig } from '../../src/formats/hf_config.ts';
import { memoryFolder } from '../../src/formats/model_folder.ts';
import { adapterFolderFromZip, readAdapter, type Adapter } from '../../src/formats/peft.ts';
import { memorySink } from '../../src/formats/safetensors_writer.ts';
import { readZip } from '../../src/formats/zip.ts';
import { demoModelFolder } from '../../src/model/demo_model.ts';
import { loraScaling } from '../../src/model/lora_targets.ts';
import { mergeModel } from '../../src/model/merge.ts';
import { memoryKeyValue, type KeyValue } from '../../src/storage/key_value.ts';
import type { MergedMeta } from '../../src/storage/merged_store.ts';
import type { MergeRequest, Outcome } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';

// Engine.exportMerged on the demo model after a two-step run (Node, SwiftShader):
// - download: one .zip (read back by zip.ts's strict reader) holding the Hugging Face folder whose
//   files are byte for byte what model/merge.ts (the CLI's merge) writes for the same adapter; its
//   LoRA targets equal W + scale·B·A computed here in float64, every other tensor is the demo's own
//   bytes; a copy is kept with the run (mergedmeta last) and runMerged gives back the same bytes;
// - folder: the same files in the picked folder, and the kept copy (now the folder's files zipped)
//   is byte-identical to the download;
// - a quota error while keeping gives kept:false with a note, deletes what it wrote, and the
//   earlier copy stays; a cancel leaves nothing in the folder, OPFS or IndexedDB;
// - wrong_model for a run of another model, output_exists for a folder holding weights.

const SETTINGS = { epochs: 1, batchSize: 2, gradAccum: 1, maxLength: 32, loraR: 4, loraAlpha: 8, lr: 5e-3, warmupSteps: 0, seed: 3, loraDropout: 0 };
const DATASET = Array.from({ length: 4 }, (_, i) => JSON.stringify({ prompt: `Q: ${i} + 1?\nA:`, completion: ` ${i + 1}.` })).join('\n') + '\n';
const demoDir = new URL('../../public/demo-model/', import.meta.url);
const tokenizerFiles = { tokenizerJson: readFileSync(new URL('tokenizer.json', demoDir), 'utf8'), tokenizerConfig: readFileSync(new URL('tokenizer_config.json', demoDir), 'utf8') };

function ok<T extends object>(out: Outcome<T>): T {
  if (!out.ok) throw new Error(`${out.error.code}: ${out.error.message}`);
  return out;
}

/** The memory store, with a switch that makes writes of merged chunks fail as a full quota does. */
function quotaSwitch(inner: KeyValue): KeyValue & { full: boolean } {
  const kv = {
    full: false,
    get: inner.get,
    keys: inner.keys,
    delMany: inner.delMany,
    setMany: async (entries: [string, unknown][]) => {
      if (kv.full && entries.some(([k]) => k.startsWith('merged'))) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return inner.setMany(entries);
    },
  };
  return kv;
}

const bytesOf = async (blob: Blob) => new Uint8Array(await blob.arrayBuffer());

/** Byte equality by memcmp: toEqual walks a multi-MB typed array element by element, for minutes here. */
function expectSameBytes(got: Uint8Array | undefined, want: Uint8Array, what: string): void {
  expect(got, `${what}: missing`).toBeDefined();
  expect(got!.length, `${what}: length`).toBe(want.length);
  expect(Buffer.from(got!.buffer, got!.byteOffset, got!.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), `${what}: bytes differ`).toBe(true);
}

describeGpu('Engine: merged export', () => {
  let gpu: GpuContext;
  let rt: Runtime;
  const inner = memoryKeyValue();
  const kv = quotaSwitch(inner);
  const scratch = new MemoryDirectory('webtune-exports');
  let engine: Engine;
  let runId: string;
  let adapter: Adapter;
  let cliFiles: Map<string, Uint8Array>;
  let download: Uint8Array;

  const exportTo = (request: Partial<MergeRequest>, onProgress?: Parameters<Engine['exportMerged']>[1]) => engine.exportMerged({ fromNf4: false, target: { kind: 'download' }, ...request }, onProgress);

  beforeAll(async () => {
    rt = await gpuRuntime();
    gpu = rt.gpu;
    engine = new Engine({ acquire: async () => gpu, demoTokenizer: async () => tokenizerFiles, storage: kv, exportDir: async () => scratch });
    ok(await engine.loadDemoModel());
    ok(await engine.loadDataset(new File([DATASET], 'plus-one.jsonl'), {}));
    ({ summary: { runId } } = ok(await engine.train(SETTINGS, {})));
    const zip = ok(await engine.exportAdapter());
    const demo = demoModelFolder(tokenizerFiles);
    const config = parseHfConfig(JSON.parse(await demo.readText('config.json')));
    adapter = await readAdapter(adapterFolderFromZip(zip.bytes, zip.fileName), config);
    // What `webtune merge` writes for this adapter (model/merge.ts into memory sinks).
    cliFiles = new Map();
    await mergeModel(rt, {
      model: demo,
      adapter,
      openSink: async (file) => {
        const sink = memorySink();
        return { write: (c) => sink.write(c), close: async () => void cliFiles.set(file, sink.bytes()) };
      },
    });
  });

  it('downloads one .zip of the merged folder, equal to the CLI merge and to W + scale·B·A; a copy is kept with the run', async () => {
    const steps: string[] = [];
    const { merged } = ok(await exportTo({}, (p) => void steps.push(p.stage)));
    expect(merged).toMatchObject({ kept: true, keptNote: null, source: 'full-precision', merged: 14, name: 'webtune-demo-untrained-plus-one-merged.zip' });
    expect(steps.filter((s) => s.startsWith('Merging ')).length).toBe(merged.merged + merged.copied);
    download = await bytesOf(merged.file!);
    expect(merged.bytes).toBe(download.length);
    expect([...scratch.files.keys()]).toEqual([merged.name]);

    const files = readZip(download, merged.name);
    expect([...files.keys()]).toEqual(merged.files);
    expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect([...cliFiles.keys()]).toEqual(merged.files);
    for (const [name, bytes] of cliFiles) expectSameBytes(files.get(name), bytes, name);

    // Independently: each target is W + scale·B·A (float64 here), every other tensor the demo's bytes.
    const out = await openCheckpoint(memoryFolder('merged', files));
    const base = await openCheckpoint(demoModelFolder(tokenizerFiles));
    const pairs = new Map(adapter.weights.map((w) => [`${w.target.path}.weight`, w]));
    expect(pairs.size).toBe(14);
    const scale = loraScaling(adapter.settings.loraAlpha, adapter.settings.r, adapter.settings.useRslora);
    const r = adapter.settings.r;
    expect(out.names().sort()).toEqual(base.names().sort());
    for (const name of base.names()) {
      const got = (await out.readTensor(name)).bytes;
      const w = (await base.readTensor(name)).bytes;
      const pair = pairs.get(name);
      if (!pair) {
        expectSameBytes(got, w, name);
        continue;
      }
      const { inFeatures: n, outFeatures: m } = pair.target;
      const W = toFloat32('F32', w);
      const values = toFloat32('F32', got);
      let moved = 0;
      let worst = 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let ba = 0;
          for (let k = 0; k < r; k++) ba += pair.b[i * r + k] * pair.a[k * n + j];
          const want = W[i * n + j] + scale * ba;
          worst = Math.max(worst, Math.abs(values[i * n + j] - want) / (1e-6 + 1e-6 * Math.abs(want)));
          moved = Math.max(moved, Math.abs(scale * ba));
        }
      }
      expect(worst, `${name}: error in units of 1e-6 (abs + rel)`).toBeLessThanOrEqual(1);
      expect(moved, `${name}: the adapter changed it`).toBeGreaterThan(1e-5);
    }

    const meta = (await inner.get<MergedMeta>(`mergedmeta:${runId}`))!;
    expect(meta).toMatchObject({ fileName: merged.name, bytes: download.length, chunks: 1 });
    const kept = ok(await engine.runMerged(runId));
    expect(kept.fileName).toBe(merged.name);
    expectSameBytes(await bytesOf(kept.file), download, 'kept copy');
  });

  it('writes the same files into a picked folder, and keeps the same .zip with the run', async () => {
    const picked = new MemoryDirectory('my-model');
    const before = (await inner.get<MergedMeta>(`mergedmeta:${runId}`))!;
    const { merged } = ok(await exportTo({ target: { kind: 'folder', handle: picked as unknown as FileSystemDirectoryHandle } }));
    expect(merged).toMatchObject({ kept: true, file: null, name: 'webtune-demo-untrained-plus-one-merged' });
    expect([...picked.files.keys()]).toEqual(merged.files);
    for (const [name, bytes] of cliFiles) expectSameBytes(picked.files.get(name), bytes, name);
    expect(merged.bytes).toBe([...cliFiles.values()].reduce((n, b) => n + b.length, 0));
    const meta = (await inner.get<MergedMeta>(`mergedmeta:${runId}`))!;
    expect(meta.savedAt).toBeGreaterThan(before.savedAt);
    expectSameBytes(await bytesOf(ok(await engine.runMerged(runId)).file), download, 'kept copy');
    // The replaced copy's chunks are gone.
    expect((await inner.keys()).filter((k) => k.startsWith(`merged:${runId}:`))).toEqual([`merged:${runId}:${meta.savedAt}:0`]);
    // Weights already in the folder are refused (they would be loaded instead of the new ones).
    const again = await exportTo({ target: { kind: 'folder', handle: picked as unknown as FileSystemDirectoryHandle } });
    expect(again.ok || again.error.code).toBe('output_exists');
  });

  it('a full quota loses only the kept copy: kept false with a note, the earlier copy intact', async () => {
    const before = (await inner.keys()).sort();
    kv.full = true;
    try {
      const { merged } = ok(await exportTo({}));
      expect(merged.kept).toBe(false);
      expect(merged.keptNote).toMatch(/quota/);
      expect(merged.keptNote).toContain(merged.name);
      expectSameBytes(await bytesOf(merged.file!), download, 'kept copy');
      const picked = new MemoryDirectory('elsewhere');
      const inFolder = ok(await exportTo({ target: { kind: 'folder', handle: picked as unknown as FileSystemDirectoryHandle } })).merged;
      expect(inFolder.kept).toBe(false);
      expect(inFolder.keptNote).toContain('"elsewhere"');
    } finally {
      kv.full = false;
    }
    expect((await inner.keys()).sort()).toEqual(before);
    expectSameBytes(await bytesOf(ok(await engine.runMerged(runId)).file), download, 'kept copy');
  });

  it('cancel leaves nothing behind: no file in the folder or OPFS, no new chunks', async () => {
    const before = (await inner.keys()).sort();
    for (const target of [{ kind: 'folder', handle: new MemoryDirectory('cancelled') }, { kind: 'download' }] as const) {
      let calls = 0;
      const out = await exportTo({ target: target as MergeRequest['target'] }, () => {
        if (++calls === 3) void engine.cancelMerge();
      });
      expect(out.ok || out.error.code).toBe('cancelled');
      if (target.kind === 'folder') expect([...target.handle.files.keys()]).toEqual([]);
      else expect([...scratch.files.keys()]).toEqual([]);
      expect((await inner.keys()).sort()).toEqual(before);
    }
    expectSameBytes(await bytesOf(ok(await engine.runMerged(runId)).file), download, 'kept copy');
  });

  it('refuses a run of another model (wrong_model), an unknown run, and runMerged without a copy', async () => {
    const record = (await inner.get<Record<string, unknown>>(`run:${runId}`))!;
    await inner.setMany([[`run:other`, { ...record, id: 'other', name: 'other run', model: 'SmolLM2-135M' }]]);
    const wrong = await exportTo({ runId: 'other' });
    expect(wrong.ok || wrong.error.code).toBe('wrong_model');
    expect(wrong.ok || wrong.error.message).toContain('SmolLM2-135M');
    const unknown = await exportTo({ runId: 'nope' });
    expect(unknown.ok || unknown.error.code).toBe('run_not_found');
    const none = await engine.runMerged('other');
    expect(none.ok || none.error.code).toBe('no_merged');
  });
});
