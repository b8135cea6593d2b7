import type { Runtime } from '../engine/runtime.ts';
import { InputError } from '../errors.ts';
import { INDEX_FILE } from '../formats/checkpoint.ts';
import type { ModelFolder } from '../formats/model_folder.ts';
import { adapterFolderFromZip, readAdapter } from '../formats/peft.ts';
import type { ByteSink } from '../formats/safetensors_writer.ts';
import { ZipStreamWriter } from '../formats/zip_stream.ts';
import { mergeModel } from '../model/merge.ts';
import { isCompanionFile } from '../model/merge_plan.ts';
import { directoryFileSink, entryNames, type DirectoryLike } from '../storage/export_dir.ts';
import type { MergedStore } from '../storage/merged_store.ts';
import type { MergedExport, MergeRequest, ProgressCallback } from './api.ts';
import type { ModelSession } from './model_session.ts';
import type { RunsApi } from './runs_api.ts';

// The app's merged export (issue #5): model/merge.ts streams the Hugging Face folder file by file,
// tensor by tensor, and each file goes where the request says —
//   folder     every file into the directory the user picked (export_dir.ts: nothing half-written
//              stays under a real name), and
//   download   one stored .zip (formats/zip_stream.ts) assembled in OPFS and handed back as a File;
// and, for a saved run, the same .zip also into IndexedDB beside the run (storage/merged_store.ts)
// when the quota allows: the zip's bytes are teed into the chunk store as they are written, so the
// model is never held in memory. A full quota only loses the kept copy, never the export.

export interface MergeExportInputs {
  rt: Runtime;
  model: ModelSession;
  /** The adapter's PEFT .zip. */
  adapter: { fileName: string; bytes: Uint8Array };
  /** The saved run to keep a copy with; null keeps none. */
  runId: string | null;
  request: MergeRequest;
  /** Where a download is assembled (OPFS's webtune-exports/ in the browser). */
  scratch: () => Promise<DirectoryLike>;
  store: MergedStore;
  signal: AbortSignal;
  onProgress: ProgressCallback;
}

type Sink = ByteSink & { abort(): Promise<void> };

export async function exportMergedModel(x: MergeExportInputs): Promise<MergedExport> {
  const { request, model } = x;
  if (request.maxShardSize !== undefined && !(Number.isSafeInteger(request.maxShardSize) && request.maxShardSize >= 1)) {
    throw new InputError('bad_merge_request', `The shard size must be a whole number of bytes, at least 1; got ${request.maxShardSize}.`);
  }
  const adapter = await readAdapter(adapterFolderFromZip(x.adapter.bytes, x.adapter.fileName), model.base.config);
  const name = mergedName(x.adapter.fileName);
  const zipName = `${name}.zip`;
  const target = request.target;
  const picked = target.kind === 'folder' ? (target.handle as unknown as DirectoryLike) : null;
  if (picked) await refuseOldWeights(picked);
  const scratch = target.kind === 'download' ? await x.scratch() : null;
  // One download at a time: the previous one's multi-GB .zip would otherwise stay in OPFS for good.
  if (scratch) for (const old of await entryNames(scratch)) await scratch.removeEntry(old);
  const where = picked ? `the merged model is in the folder "${picked.name}" you picked` : `download ${zipName} now: it is not kept for later`;

  const keep = await keeper(x, zipName, where);
  const download = scratch ? await directoryFileSink(scratch, zipName) : null;
  const zipOut = tee([download, keep.sink].filter((s): s is Sink => s !== null));
  const zip = zipOut ? new ZipStreamWriter(zipOut) : null;
  const folderSinks: (Sink & { readonly bytes: number; file: string })[] = [];
  const cancelled = () => new InputError('cancelled', `The merged export of ${name} was cancelled; nothing was written${picked ? ` to "${picked.name}"` : ''} or kept.`);
  const check = () => {
    if (x.signal.aborted) throw cancelled();
  };

  try {
    const report = await mergeModel(x.rt, {
      model: model.folder,
      adapter,
      adapterName: x.adapter.fileName,
      maxShardSize: request.maxShardSize,
      fromNf4: request.fromNf4,
      // Quantize as the loaded base was, so fromNf4 merges into the weights the adapter trained on.
      doubleQuant: model.doubleQuant,
      onProgress: (p) => x.onProgress({ stage: `Merging ${p.tensor}`, done: p.done, total: p.total }),
      openSink: async (file) => {
        check();
        const sinks: Sink[] = [];
        if (picked) {
          const s = Object.assign(await directoryFileSink(picked, file), { file });
          folderSinks.push(s);
          sinks.push(s);
        }
        if (zip) sinks.push((await zip.entry(file)) as Sink);
        const out = tee(sinks)!;
        return { ...out, write: async (chunk) => (check(), out.write(chunk)) };
      },
    });
    check();
    x.onProgress({ stage: keep.sink ? 'Finishing the .zip and the copy kept with the run' : 'Finishing', done: 0, total: 0 });
    const zipBytes = zip ? await zip.finish() : 0;
    const kept = await keep.result();
    return {
      name: picked ? name : zipName,
      files: report.files,
      bytes: picked ? folderSinks.reduce((n, s) => n + s.bytes, 0) : zipBytes,
      merged: report.merged,
      copied: report.copied,
      source: report.source,
      file: scratch ? await (await scratch.getFileHandle(zipName)).getFile() : null,
      kept: kept.kept,
      keptNote: kept.note,
    };
  } catch (e) {
    await zip?.abort();
    for (const s of folderSinks) await s.abort();
    throw x.signal.aborted ? cancelled() : e;
  }
}

/** The copy kept with the run: a chunk writer whose failure (a full quota) only costs the copy. */
async function keeper(x: MergeExportInputs, zipName: string, where: string) {
  let note: string | null = null;
  let sink: Sink | null = null;
  if (x.runId === null) {
    note = `Not kept in the browser: it was merged from an adapter with no saved run; ${where}.`;
  } else {
    const why = await x.store.noRoomFor(estimateBytes(x.model.folder));
    if (why) note = `Not kept with the saved run: ${why}; ${where}.`;
    else {
      const writer = await x.store.writer(x.runId, zipName);
      let dead = false;
      const lost = async (e: unknown) => {
        // The store has deleted its chunks already (quota) or we do it now (anything else).
        dead = true;
        await writer.abort().catch(() => undefined);
        note = `Not kept with the saved run: ${(e as Error).message} ${where[0].toUpperCase()}${where.slice(1)}.`;
      };
      sink = {
        write: async (chunk) => (dead ? undefined : writer.write(chunk).catch(lost)),
        close: async () => (dead ? undefined : writer.close().catch(lost)),
        abort: () => writer.abort(),
      };
    }
  }
  return {
    get sink() {
      return sink;
    },
    result: async () => ({ kept: sink !== null && note === null, note }),
  };
}

/** Writes every chunk to each sink in turn; close and abort reach all of them. */
function tee(sinks: Sink[]): Sink | null {
  if (sinks.length === 0) return null;
  if (sinks.length === 1) return sinks[0];
  return {
    async write(chunk) {
      for (const s of sinks) await s.write(chunk);
    },
    async close() {
      for (const s of sinks) await s.close();
    },
    async abort() {
      for (const s of sinks) await s.abort();
    },
  };
}

/**
 * Stale weights beside new ones would be loaded instead of them (transformers prefers
 * model.safetensors over an index), so a picked folder holding weights is refused, as the CLI does.
 */
async function refuseOldWeights(dir: DirectoryLike): Promise<void> {
  const old = (await entryNames(dir)).filter((n) => n === INDEX_FILE || /^model.*\.safetensors$/.test(n));
  if (old.length) throw new InputError('output_exists', `The folder "${dir.name}" already holds model weights (${old.join(', ')}); pick an empty folder, or delete them first.`);
}

/** About the merged folder's size: its weights keep the source dtype, so the source's size. */
function estimateBytes(folder: ModelFolder): number {
  return folder.list().filter((f) => f.endsWith('.safetensors') || isCompanionFile(f)).reduce((n, f) => n + folder.open(f).size, 0);
}

/** "demo-chat-lora.zip" → "demo-chat-merged". */
export function mergedName(adapterFileName: string): string {
  return `${adapterFileName.replace(/\.zip$/i, '').replace(/-lora$/i, '') || 'model'}-merged`;
}

/** The last run trained in this engine: which saved run, on which model, and its adapter .zip. */
export interface LastRunAdapter {
  runId: string;
  model: string;
  dataset: { name: string };
  adapter: { fileName: string; bytes: Uint8Array };
}

/**
 * The adapter to merge and the saved run to keep the copy with: a saved run's (`runId`), or the
 * last run's. Either way its model must be the loaded one (`wrong_model`).
 */
export async function mergeSource(runId: string | undefined, model: ModelSession, last: LastRunAdapter | undefined, runs: RunsApi): Promise<{ runId: string | null; adapter: { fileName: string; bytes: Uint8Array } }> {
  const wrongModel = (name: string, trained: string) =>
    new InputError('wrong_model', `The run "${name}" fine-tuned ${trained}, but ${model.card.name} is loaded: load ${trained} first, then merge.`);
  if (runId === undefined) {
    if (!last) throw new InputError('no_adapter', 'There is no adapter to merge yet: train first, or pick a saved run.');
    if (last.model !== model.card.name) throw wrongModel(`${last.dataset.name} on ${last.model}`, last.model);
    // A run deleted since keeps no copy (its keys would outlive it).
    const saved = await runs.store.record(last.runId).then(() => true, () => false);
    return { runId: saved ? last.runId : null, adapter: last.adapter };
  }
  const record = await runs.store.record(runId);
  if (record.model !== model.card.name) throw wrongModel(record.name, record.model);
  return { runId, adapter: await runs.adapter(runId) };
}
