import { blobSource, type ByteSource } from '../formats/byte_source.ts';
import { folderFromEntries, type ModelFolder } from '../formats/model_folder.ts';

// Downloaded model files, kept in the Origin Private File System (DESIGN §3: multi-GB blobs
// belong there, not in IndexedDB). One folder per repository under webtune-hub/, files under
// their repository paths (flattened: "/" becomes "__"). A file is complete when its size is the
// size the Hub listed; a shorter one is a download to resume. Written through a sync access
// handle, which only a dedicated worker has — the engine's worker is one.

const ROOT = 'webtune-hub';
const LISTING = '.webtune-listing.json';

export interface CachedFile {
  path: string;
  bytes: number;
}

export class OpfsModelCache {
  private constructor(private readonly dir: FileSystemDirectoryHandle) {}

  /** The cache folder of one repository; `null` when this browser has no OPFS. */
  static async open(repo: string): Promise<OpfsModelCache | null> {
    const storage = (globalThis.navigator as Navigator | undefined)?.storage;
    if (!storage?.getDirectory) return null;
    const root = await (await storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
    return new OpfsModelCache(await root.getDirectoryHandle(safeName(repo), { create: true }));
  }

  /** Bytes already on disk for `path` (0 when absent). */
  async size(path: string): Promise<number> {
    const handle = await this.handle(path, false);
    return handle ? (await handle.getFile()).size : 0;
  }

  /**
   * Appends a stream of bytes to `path` starting at `offset` (0 truncates first). `onBytes` is told
   * each chunk's length as it lands.
   */
  async write(path: string, offset: number, chunks: AsyncIterable<Uint8Array>, onBytes: (n: number) => void): Promise<void> {
    const handle = (await this.handle(path, true))!;
    const access = await handle.createSyncAccessHandle();
    try {
      access.truncate(offset);
      let at = offset;
      for await (const chunk of chunks) {
        access.write(chunk, { at });
        at += chunk.byteLength;
        onBytes(chunk.byteLength);
      }
      access.flush();
    } finally {
      access.close();
    }
  }

  /** The repository's file list as last fetched, so a cached model also loads offline. */
  async saveListing(files: CachedFile[]): Promise<void> {
    const bytes = new TextEncoder().encode(JSON.stringify(files));
    await this.write(LISTING, 0, single(bytes), () => {});
  }

  async listing(): Promise<CachedFile[] | null> {
    return (await this.json(LISTING)) as CachedFile[] | null;
  }

  /** A cached JSON file, parsed; null when absent or not JSON. */
  async json(path: string): Promise<unknown> {
    const handle = await this.handle(path, false);
    if (!handle) return null;
    try {
      return JSON.parse(await (await handle.getFile()).text());
    } catch {
      return null;
    }
  }

  /** The cached files as a model folder (every file must be complete). */
  async folder(name: string, files: CachedFile[]): Promise<ModelFolder> {
    const entries = new Map<string, () => ByteSource>();
    for (const f of files) {
      const file = await (await this.handle(f.path, false))!.getFile();
      entries.set(f.path, () => blobSource(file, `${name}/${f.path}`));
    }
    return folderFromEntries(name, entries);
  }

  private async handle(path: string, create: boolean): Promise<FileSystemFileHandle | null> {
    try {
      return await this.dir.getFileHandle(safeName(path), { create });
    } catch (e) {
      if (!create && (e as DOMException).name === 'NotFoundError') return null;
      throw e;
    }
  }
}

function safeName(path: string): string {
  return path.replace(/\//g, '__');
}

async function* single(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
