import { open, stat } from 'node:fs/promises';
import { checkRange, type ByteSource } from './byte_source.ts';
import { FileReadError } from './errors.ts';

// Node-only byte source over a file on disk. Kept apart from byte_source.ts so browser bundles
// never pull in node:fs. Each read opens, reads and closes the file: a checkpoint is read in a
// few hundred large reads, so the open costs nothing, and no handle can leak if a caller stops
// half way.

/** A source for `path`, whose size is taken now (a file that later shrinks fails its reads). */
export async function openNodeSource(path: string, name = path): Promise<ByteSource> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new FileReadError(name, 'is not a regular file');
    size = info.size;
  } catch (e) {
    if (e instanceof FileReadError) throw e;
    throw new FileReadError(name, `cannot open: ${(e as Error).message}`);
  }
  return nodeFileSource(path, size, name);
}

/** A source over `path` when its size is already known (from a directory listing). */
export function nodeFileSource(path: string, size: number, name = path): ByteSource {
  return {
    name,
    size,
    async read(offset, length) {
      checkRange(this, offset, length);
      const out = new Uint8Array(length);
      if (length === 0) return out;
      const handle = await open(path, 'r').catch((e: Error) => {
        throw new FileReadError(name, `cannot open: ${e.message}`);
      });
      try {
        let done = 0;
        while (done < length) {
          // One read call is capped near 2 GiB; loop for partial reads and for larger ranges.
          const chunk = Math.min(length - done, 1 << 30);
          const { bytesRead } = await handle.read(out, done, chunk, offset + done);
          if (bytesRead === 0) {
            throw new FileReadError(name, `ended after ${offset + done} bytes while reading ${length} at offset ${offset}; the file was truncated while in use`);
          }
          done += bytesRead;
        }
      } finally {
        await handle.close();
      }
      return out;
    },
  };
}
