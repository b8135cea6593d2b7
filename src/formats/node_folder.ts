import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { ByteSource } from './byte_source.ts';
import { ModelFolderError } from './errors.ts';
import { folderFromEntries, type ModelFolder } from './model_folder.ts';
import { nodeFileSource } from './node_source.ts';

// A model folder on disk (Node only). The listing and sizes are taken once, up front, so that
// `list()` and `open()` stay synchronous. Symlinks are followed, because a Hugging Face cache
// snapshot is a folder of links into `blobs/`. Hidden entries (.git, .cache) are skipped, and
// subfolders are walked a few levels deep (some repos keep an `original/` copy).

const MAX_DEPTH = 3;
// A model folder holds tens of files; past this we were pointed at the wrong place (a home
// directory), and walking it all would look like a hang.
const MAX_FILES = 10_000;

export async function openNodeFolder(dir: string): Promise<ModelFolder> {
  const root = resolve(dir);
  const info = await stat(root).catch((e: Error) => {
    throw new ModelFolderError(dir, `cannot open the model folder: ${e.message}`);
  });
  if (!info.isDirectory()) throw new ModelFolderError(dir, 'is not a folder');
  const entries = new Map<string, () => ByteSource>();
  await walk(root, '', 0, dir, entries);
  return folderFromEntries(basename(root) || dir, entries);
}

async function walk(root: string, rel: string, depth: number, label: string, entries: Map<string, () => ByteSource>): Promise<void> {
  const names = await readdir(join(root, rel));
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const path = rel ? `${rel}/${name}` : name;
    const full = join(root, path);
    const info = await stat(full).catch(() => null); // a dangling link is not a file we can use
    if (!info) continue;
    if (info.isDirectory()) {
      if (depth + 1 < MAX_DEPTH) await walk(root, path, depth + 1, label, entries);
    } else if (info.isFile()) {
      const size = info.size;
      entries.set(path, () => nodeFileSource(full, size, join(label, path)));
      if (entries.size > MAX_FILES) throw new ModelFolderError(label, `holds more than ${MAX_FILES} files; point at the model's own folder`);
    }
  }
}
