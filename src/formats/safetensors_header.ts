import { byteLengthOf, DTYPES, isDtype, numelOf, type Dtype } from './dtype.ts';
import { SafetensorsFormatError } from './errors.ts';

// Parsing and validation of a safetensors JSON header, exactly per formats.md §3.1 and §3.3,
// with no I/O: the caller supplies the header bytes and the size of the data section after it.

export const MAX_HEADER_SIZE = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  /** Row-major dimensions; [] is a scalar, a 0 anywhere makes the tensor empty. */
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  begin: number;
  end: number;
  byteLength: number;
  numel: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string> | null;
  /** In data-section order. */
  tensors: TensorInfo[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseSafetensorsHeader(file: string, headerBytes: Uint8Array, dataSize: number): SafetensorsHeader {
  const fail = (tensor: string | null, reason: string) => new SafetensorsFormatError(file, tensor, reason);
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch {
    throw fail(null, 'the header is not valid UTF-8; the file is corrupt — re-download or re-export it');
  }
  // JSON whitespace before the "{" is allowed (writers may pad to align), nothing else is.
  const first = text.search(/[^ \t\r\n]/);
  if (first < 0 || text[first] !== '{') {
    const found = first < 0 ? 'only whitespace' : JSON.stringify(text.slice(first, first + 16));
    throw fail(null, `the header does not start with "{" (found ${found}); this is not a safetensors file`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw fail(null, `the header is not valid JSON (${(e as Error).message}); the file is corrupt — re-download or re-export it`);
  }
  const dup = findDuplicateKey(text);
  if (dup) {
    if (dup.path.length === 0 && dup.key === '__metadata__') throw fail(null, '__metadata__ appears twice in the header; re-export the file');
    if (dup.path.length === 0) throw fail(dup.key, 'appears twice in the header; a safetensors file must name each tensor once — re-export it');
    throw fail(dup.path[0], `field "${dup.key}" appears twice in its header entry; re-export the file`);
  }
  const root = parsed as Record<string, unknown>;
  let metadata: Record<string, string> | null = null;
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(root)) {
    if (name === '__metadata__') {
      // serde reads a null __metadata__ as None, so the reference accepts it.
      metadata = entry === null ? null : checkMetadata(entry, fail);
      continue;
    }
    tensors.push(checkEntry(name, entry, dataSize, fail));
  }
  // Sorted by (begin, end) as the reference reader does, so empty tensors precede the one they share a begin with.
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let previous: TensorInfo | null = null;
  for (const t of tensors) {
    if (t.begin < expected) {
      throw fail(t.name, `data_offsets [${t.begin}, ${t.end}] overlap tensor "${previous!.name}" at [${previous!.begin}, ${previous!.end}]; the file is corrupt — re-export it`);
    }
    if (t.begin > expected) {
      const after = previous ? `tensor "${previous.name}" ends at ${expected}` : 'the data section starts at 0';
      throw fail(t.name, `data_offsets start at ${t.begin} but ${after}, leaving a hole of ${t.begin - expected} bytes; the file is corrupt — re-export it`);
    }
    expected = t.end;
    previous = t;
  }
  if (expected !== dataSize) {
    const last = previous ? `the last tensor ends at byte ${expected}` : 'the header lists no tensors';
    throw fail(previous?.name ?? null, `${last} of the data section but the file holds ${dataSize} data bytes (${dataSize - expected} extra); the file is corrupt — re-export it`);
  }
  return { metadata, tensors };
}

type Fail = (tensor: string | null, reason: string) => SafetensorsFormatError;

function checkMetadata(entry: unknown, fail: Fail): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw fail(null, `__metadata__ must be an object mapping strings to strings, got ${describe(entry)}; re-export the file`);
  }
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') {
      throw fail(null, `__metadata__ must map strings to strings, but "${key}" is ${describe(value)}; re-export the file`);
    }
  }
  return entry as Record<string, string>;
}

function checkEntry(name: string, entry: unknown, dataSize: number, fail: Fail): TensorInfo {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw fail(name, `the header entry must be an object with dtype, shape and data_offsets, got ${describe(entry)}`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isDtype(dtype)) {
    throw fail(name, `unknown dtype ${JSON.stringify(dtype) ?? 'undefined'}; safetensors dtypes are ${DTYPES.join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw fail(name, `shape must be a list of non-negative integers, got ${JSON.stringify(shape) ?? 'nothing'}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw fail(name, `data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets) ?? 'nothing'}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataSize) {
    throw fail(name, `data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes); the file is truncated — re-download it`);
  }
  const byteLength = byteLengthOf(dtype, shape);
  if (byteLength === null) {
    throw fail(name, `shape ${JSON.stringify(shape)} of ${dtype} is not a whole number of bytes`);
  }
  if (byteLength !== end - begin) {
    throw fail(name, `dtype ${dtype} with shape ${JSON.stringify(shape)} needs ${byteLength} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}; the header is corrupt — re-export the file`);
  }
  return { name, dtype, shape: shape.slice(), begin, end, byteLength, numel: numelOf(shape) };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * JSON.parse keeps the last of two equal keys silently; the format forbids duplicates. This scan
 * walks already-valid JSON and returns the first key repeated in any object, with the keys of
 * the enclosing objects (path[0] is the tensor name for a duplicate inside an entry).
 */
export function findDuplicateKey(text: string): { key: string; path: string[] } | null {
  type Frame = { keys: Set<string> | null; name: string; lastKey: string };
  const stack: Frame[] = [];
  let prev = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && (prev === '{' || prev === ',')) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { key, path: stack.slice(1).map((f) => f.name) };
        top.keys.add(key);
        top.lastKey = key;
      }
      prev = '"';
      i = j;
    } else if (c === '{' || c === '[') {
      const parent = stack[stack.length - 1];
      stack.push({ keys: c === '{' ? new Set() : null, name: parent ? (parent.keys ? parent.lastKey : parent.name) : '', lastKey: '' });
      prev = c;
    } else if (c === '}' || c === ']') {
      stack.pop();
      prev = c;
    } else if (c === ',' || c === ':') {
      prev = c;
    }
  }
  return null;
}
