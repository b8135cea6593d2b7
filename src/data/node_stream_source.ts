import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { DatasetError } from './errors.ts';
import type { StreamSource } from './stream_source.ts';

// Node-only: a dataset file on disk as a StreamSource. Not exported from src/data/index.ts, so
// the browser bundle never pulls in node:fs.

const chunkBytes = 64 * 1024;

/** A source over `path`; fails now (not mid-read) when the file is missing or not a file. */
export async function openNodeStreamSource(path: string, name = path): Promise<StreamSource> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new DatasetError(name, 'is not a regular file');
    size = info.size;
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new DatasetError(name, code === 'ENOENT' ? 'no such file' : `cannot open: ${(e as Error).message}`);
  }
  return {
    name,
    size,
    open: () => createReadStream(path, { highWaterMark: chunkBytes }) as AsyncIterable<Uint8Array>,
  };
}
