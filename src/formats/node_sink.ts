import { open, rename, rm } from 'node:fs/promises';
import type { ByteSink } from './safetensors_writer.ts';

// A ByteSink onto a file on disk (Node only). It writes to "<path>.partial" and renames on
// close, so an interrupted export never leaves a truncated file under the real name.

export async function nodeFileSink(path: string): Promise<ByteSink & { abort(): Promise<void> }> {
  const partial = `${path}.partial`;
  const handle = await open(partial, 'w');
  let isOpen = true;
  return {
    async write(chunk) {
      let done = 0;
      while (done < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done);
        done += bytesWritten;
      }
    },
    async close() {
      if (!isOpen) return;
      isOpen = false;
      await handle.close();
      await rename(partial, path);
    },
    /** Drops what was written (after an error). */
    async abort() {
      if (isOpen) {
        isOpen = false;
        await handle.close();
      }
      await rm(partial, { force: true });
    },
  };
}
