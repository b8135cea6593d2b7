import { FileReadError } from './errors.ts';

// Random access to the bytes of one file, wherever it lives (memory, a browser File, a Node
// file). Readers ask only for the ranges they need, so a multi-GB checkpoint is never loaded
// whole: the safetensors reader takes the header first and then one tensor at a time.

export interface ByteSource {
  /** What to call the file in messages (a path or a file name). */
  readonly name: string;
  readonly size: number;
  /**
   * Exactly `length` bytes from `offset`, or a FileReadError. The result may share memory with
   * the source (memory sources return a view), so callers that mutate it must copy first.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Throws unless [offset, offset + length) lies inside the source. */
export function checkRange(source: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > source.size) {
    throw new FileReadError(source.name, `cannot read ${length} bytes at offset ${offset}: the file is ${source.size} bytes`);
  }
}

export function memorySource(data: Uint8Array | ArrayBuffer, name = 'memory'): ByteSource {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(this, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A browser Blob or File; each read is one `slice().arrayBuffer()`, so only that range is loaded. */
export function blobSource(blob: Blob, name?: string): ByteSource {
  const label = name ?? ((blob as Partial<File>).name || 'blob');
  return {
    name: label,
    size: blob.size,
    async read(offset, length) {
      checkRange(this, offset, length);
      const buffer = await blob.slice(offset, offset + length).arrayBuffer();
      if (buffer.byteLength !== length) {
        throw new FileReadError(label, `read ${buffer.byteLength} of ${length} bytes at offset ${offset}; the file changed while reading — pick it again`);
      }
      return new Uint8Array(buffer);
    },
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The whole source as UTF-8 text (for JSON side files, which are small). */
export async function readAllText(source: ByteSource): Promise<string> {
  const bytes = await source.read(0, source.size);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new FileReadError(source.name, 'is not valid UTF-8 text; re-download the file');
  }
}
