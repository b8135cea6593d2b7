import { blobSource, memorySource, readAllText, type ByteSource } from './byte_source.ts';
import { ModelFolderError } from './errors.ts';

// A Hugging Face model folder (config.json, tokenizer files, one or more .safetensors) however
// the user handed it over: a directory on disk (node_folder.ts), the Files of a browser folder
// picker, or an in-memory map in tests. Paths inside are relative and use "/".

export interface ModelFolder {
  /** What to call the folder in messages. */
  readonly name: string;
  /** Relative paths of every file, sorted. */
  list(): string[];
  has(file: string): boolean;
  /** A byte source for `file`; a ModelFolderError naming the file when it is absent. */
  open(file: string): ByteSource;
  readText(file: string): Promise<string>;
}

/** Builds a folder from a path → source-factory map; shared by the three implementations. */
export function folderFromEntries(name: string, entries: Map<string, () => ByteSource>): ModelFolder {
  const files = [...entries.keys()].sort();
  const folder: ModelFolder = {
    name,
    list: () => files.slice(),
    has: (file) => entries.has(file),
    open(file) {
      const make = entries.get(file);
      if (!make) throw new ModelFolderError(`${name}/${file}`, `no such file in the model folder (it has: ${summarize(files)})`);
      return make();
    },
    readText: (file) => readAllText(folder.open(file)),
  };
  return folder;
}

/** An in-memory folder (tests, fixtures, files already downloaded into memory). */
export function memoryFolder(name: string, files: Map<string, Uint8Array | string> | Record<string, Uint8Array | string>): ModelFolder {
  const entries = new Map<string, () => ByteSource>();
  const pairs = files instanceof Map ? [...files.entries()] : Object.entries(files);
  for (const [path, content] of pairs) {
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    entries.set(path, () => memorySource(bytes, `${name}/${path}`));
  }
  return folderFromEntries(name, entries);
}

/**
 * The Files of an `<input type="file" webkitdirectory>` (or a drop). With webkitRelativePath
 * "SmolLM2/config.json" the folder is "SmolLM2" and the file "config.json"; loose files keep
 * their names.
 */
export function filesFolder(files: ArrayLike<File>, name?: string): ModelFolder {
  const entries = new Map<string, () => ByteSource>();
  let top: string | undefined;
  for (const file of Array.from(files)) {
    const rel = file.webkitRelativePath || file.name;
    const slash = rel.indexOf('/');
    const path = slash < 0 ? rel : rel.slice(slash + 1);
    if (slash >= 0) top ??= rel.slice(0, slash);
    const label = `${name ?? top ?? 'selected files'}/${path}`;
    if (entries.has(path)) throw new ModelFolderError(label, 'was given twice; pick the folder once');
    entries.set(path, () => blobSource(file, label));
  }
  return folderFromEntries(name ?? top ?? 'selected files', entries);
}

/** Parses a JSON side file (config.json, index), naming the file on failure. */
export async function readJson(folder: ModelFolder, file: string): Promise<unknown> {
  const text = await folder.readText(file);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(`${folder.name}/${file}`, `is not valid JSON (${(e as Error).message}); re-download it`);
  }
}

function summarize(files: string[]): string {
  if (files.length === 0) return 'no files';
  const shown = files.slice(0, 8).join(', ');
  return files.length > 8 ? `${shown} and ${files.length - 8} more` : shown;
}
