// A dataset file read front to back in chunks, wherever it lives: a browser File/Blob
// (`blob.stream()`), a Node file (node_stream_source.ts, kept apart so the browser bundle never
// sees node:fs) or bytes in memory (tests). Only one chunk is alive at a time, so reading a
// large file costs the chunk size, not the file size.

export interface StreamSource {
  /** What to call the file in messages (a path or a file name). */
  readonly name: string;
  /** Total bytes, for progress; 0 when unknown. */
  readonly size: number;
  /** A fresh stream of the bytes from the start; each call reads the file again. */
  open(): ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** A browser File or Blob. */
export function blobStreamSource(blob: Blob, name?: string): StreamSource {
  return {
    name: name ?? ((blob as Partial<File>).name || 'blob'),
    size: blob.size,
    open: () => blob.stream() as ReadableStream<Uint8Array>,
  };
}

/** Text or bytes held in memory, handed out in `chunkSize` pieces like a file would be. */
export function memoryStreamSource(data: string | Uint8Array, name = 'memory', chunkSize = 64 * 1024): StreamSource {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return {
    name,
    size: bytes.byteLength,
    async *open() {
      for (let at = 0; at < bytes.byteLength; at += chunkSize) yield bytes.subarray(at, at + chunkSize);
    },
  };
}

/**
 * The chunks of a source. ReadableStream is read through its reader rather than `for await`,
 * because Safari and older Chrome do not make ReadableStream async-iterable.
 */
export async function* chunksOf(source: StreamSource): AsyncGenerator<Uint8Array> {
  const stream = source.open();
  if (typeof (stream as ReadableStream<Uint8Array>).getReader !== 'function') {
    yield* stream as AsyncIterable<Uint8Array>;
    return;
  }
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value.byteLength > 0) yield value;
    }
  } finally {
    // Stopping early (first bad line) must release the file, not leave the stream locked.
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
