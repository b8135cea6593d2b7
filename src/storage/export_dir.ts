import { InputError } from '../errors.ts';
import type { ByteSink } from '../formats/safetensors_writer.ts';

// Files written into a directory handle: a folder the user picked (File System Access API) or the
// Origin Private File System. Only the subset of FileSystemDirectoryHandle / FileSystemFileHandle
// the merged export uses is named here, so Node tests can hand in an in-memory one
// (tests/helpers/memory_dir.ts).
//
// A file is written through createWritable(), whose changes the spec keeps in a swap file until
// close() (WHATWG File System: "changes … won't be reflected in the file … until the stream has
// been closed") — the browser's own write-to-temporary-then-rename. So an interrupted write never
// shows half a file under the real name; what remains is the empty entry getFileHandle(create)
// made, which abort() removes. Where createWritable is missing (Safari's OPFS), a worker's sync
// access handle writes in place and abort() removes the file.

export interface WritableLike {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
}

interface SyncAccessLike {
  write(data: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

export interface FileHandleLike {
  readonly name: string;
  getFile(): Promise<File>;
  createWritable?(): Promise<WritableLike>;
  createSyncAccessHandle?(): Promise<SyncAccessLike>;
}

export interface DirectoryLike {
  readonly name: string;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandleLike>;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryLike>;
  removeEntry(name: string): Promise<void>;
  keys(): AsyncIterable<string>;
}

/** `webtune-exports/` in the Origin Private File System: where downloads are assembled. */
export async function opfsExportDir(): Promise<DirectoryLike> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.getDirectory) throw new Error('This browser has no Origin Private File System to assemble the download in; pick a folder to write the merged model into instead.');
  const root = (await storage.getDirectory()) as unknown as DirectoryLike;
  return root.getDirectoryHandle('webtune-exports', { create: true });
}

/** Names of the entries directly in `dir`. */
export async function entryNames(dir: DirectoryLike): Promise<string[]> {
  const names: string[] = [];
  for await (const name of dir.keys()) names.push(name);
  return names;
}

/** A sink writing `dir/name`; abort() drops what was written and the entry itself. */
export async function directoryFileSink(dir: DirectoryLike, name: string): Promise<ByteSink & { readonly bytes: number; abort(): Promise<void> }> {
  let handle: FileHandleLike;
  let writer: WritableLike;
  try {
    handle = await dir.getFileHandle(name, { create: true });
    writer = await openWriter(handle);
  } catch (e) {
    if ((e as Error).name === 'NotAllowedError') throw new InputError('folder_permission', `The browser did not allow writing ${name} into "${dir.name}": pick the folder again and allow webtune to edit it.`);
    throw e;
  }
  let bytes = 0;
  let state: 'open' | 'closed' | 'aborted' = 'open';
  return {
    get bytes() {
      return bytes;
    },
    async write(chunk) {
      await writer.write(chunk);
      bytes += chunk.byteLength;
    },
    async close() {
      if (state !== 'open') return;
      await writer.close();
      state = 'closed';
    },
    async abort() {
      if (state === 'open') await writer.abort().catch(() => undefined);
      state = 'aborted';
      await dir.removeEntry(name).catch(() => undefined);
    },
  };
}

async function openWriter(handle: FileHandleLike): Promise<WritableLike> {
  if (handle.createWritable) return handle.createWritable();
  if (!handle.createSyncAccessHandle) throw new Error(`cannot write ${handle.name}: this browser offers neither createWritable nor sync access handles`);
  const access = await handle.createSyncAccessHandle();
  access.truncate(0);
  let at = 0;
  return {
    async write(data) {
      at += access.write(data, { at });
    },
    async close() {
      access.flush();
      access.close();
    },
    async abort() {
      access.close();
    },
  };
}
