import { chunksOf, type StreamSource } from './stream_source.ts';

// Streaming JSONL: one JSON object per line, UTF-8 with or without a BOM, LF or CRLF endings,
// blank lines ignored. Memory held at any time is one chunk of the stream plus the bytes of the
// one line being assembled, and that line is capped at `maxLineBytes` — so the reader's footprint
// does not grow with the file. Every bad line becomes a `problem` record carrying its 1-based line
// number (blank lines count, so numbers match an editor); the caller decides to stop or skip.

export interface JsonlOptions {
  /** Longest accepted line in bytes (a CRLF ending's \r counts, the \n does not). */
  maxLineBytes?: number;
  /** Called after each chunk with bytes consumed so far and the source size. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
}

export const defaultMaxLineBytes = 8 * 1024 * 1024;

export type JsonlRecord =
  | { kind: 'value'; line: number; value: Record<string, unknown> }
  | { kind: 'problem'; line: number; reason: string };

/** Filled in while reading; `maxHeldBytes` is what the bounded-memory test checks. */
export interface JsonlStats {
  bytesRead: number;
  lines: number;
  /** Largest (current chunk + line buffer capacity) seen, in bytes. */
  maxHeldBytes: number;
}

export function newJsonlStats(): JsonlStats {
  return { bytesRead: 0, lines: 0, maxHeldBytes: 0 };
}

// fatal: malformed UTF-8 throws instead of becoming U+FFFD. ignoreBOM: keep U+FEFF in the output;
// otherwise every per-line decode() would silently eat one at the start of any line, and only the
// file's first line may carry a BOM.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const newline = 0x0a;

export async function* readJsonl(source: StreamSource, options: JsonlOptions = {}, stats: JsonlStats = newJsonlStats()): AsyncGenerator<JsonlRecord> {
  const maxLineBytes = options.maxLineBytes ?? defaultMaxLineBytes;
  let buffer = new Uint8Array(0); // assembles a line that spans chunks; grows by doubling up to the cap
  let buffered = 0;
  let oversize = false; // the current line already passed the cap: drop its bytes until the newline
  let line = 1;

  const append = (bytes: Uint8Array): void => {
    if (oversize) return;
    if (buffered + bytes.byteLength > maxLineBytes) {
      oversize = true;
      buffered = 0;
      return;
    }
    if (buffered + bytes.byteLength > buffer.byteLength) {
      const grown = new Uint8Array(Math.min(maxLineBytes, Math.max(buffered + bytes.byteLength, buffer.byteLength * 2, 256)));
      grown.set(buffer.subarray(0, buffered));
      buffer = grown;
    }
    buffer.set(bytes, buffered);
    buffered += bytes.byteLength;
  };

  const finish = (tail: Uint8Array): JsonlRecord | null => {
    let bytes = tail; // the common case: the whole line lies in one chunk, parse it in place
    if (buffered > 0 || oversize) {
      append(tail);
      bytes = buffer.subarray(0, buffered);
    } else if (tail.byteLength > maxLineBytes) {
      oversize = true;
    }
    const record: JsonlRecord | null = oversize
      ? { kind: 'problem', line, reason: `line is longer than ${maxLineBytes} bytes (the line size limit)` }
      : parseLine(bytes, line);
    buffered = 0;
    oversize = false;
    stats.lines = line;
    line++;
    return record;
  };

  for await (const chunk of chunksOf(source)) {
    stats.maxHeldBytes = Math.max(stats.maxHeldBytes, chunk.byteLength + buffer.byteLength);
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(newline, start);
      if (end < 0) break;
      const record = finish(chunk.subarray(start, end));
      if (record) yield record;
      start = end + 1;
    }
    if (start < chunk.byteLength) append(chunk.subarray(start));
    // A long line is done with its buffer once it ends; give the memory back rather than
    // keeping the largest line ever seen alive for the rest of the file.
    if (buffered === 0 && buffer.byteLength > 64 * 1024) buffer = new Uint8Array(0);
    stats.bytesRead += chunk.byteLength;
    options.onProgress?.(stats.bytesRead, source.size);
  }
  if (buffered > 0 || oversize) {
    const record = finish(new Uint8Array(0));
    if (record) yield record;
  }
}

/** One line's bytes (no `\n`) → a value record, a problem record, or null for a blank line. */
function parseLine(bytes: Uint8Array, line: number): JsonlRecord | null {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { kind: 'problem', line, reason: `invalid UTF-8 (at byte ${firstInvalidUtf8(bytes)} of the line); save the file as UTF-8` };
  }
  if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if (text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { kind: 'problem', line, reason: `not valid JSON: ${(e as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'problem', line, reason: `expected a JSON object, got ${describeJson(value)}` };
  }
  return { kind: 'value', line, value: value as Record<string, unknown> };
}

/** "an array", "a string", "null" …: how a JSON value is named in messages. */
export function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

/** Byte offset of the first malformed UTF-8 sequence (lead byte, continuation count, overlong, surrogate, > U+10FFFF). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0 || i + need >= bytes.length) return i; // a bad lead byte, or a sequence cut off by the line end
    for (let k = 1; k <= need; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    const second = bytes[i + 1];
    if ((b === 0xe0 && second < 0xa0) || (b === 0xed && second > 0x9f) || (b === 0xf0 && second < 0x90) || (b === 0xf4 && second > 0x8f)) return i;
    i += need + 1;
  }
  return i;
}
