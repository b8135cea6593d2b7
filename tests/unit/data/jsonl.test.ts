import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newJsonlStats, readJsonl, type JsonlRecord } from '../../../src/data/jsonl.ts';
import { openNodeStreamSource } from '../../../src/data/node_stream_source.ts';
import { blobStreamSource, memoryStreamSource, type StreamSource } from '../../../src/data/stream_source.ts';
import { DatasetError } from '../../../src/data/errors.ts';

async function readAll(source: StreamSource, maxLineBytes?: number): Promise<JsonlRecord[]> {
  const out: JsonlRecord[] = [];
  for await (const r of readJsonl(source, { maxLineBytes })) out.push(r);
  return out;
}

const enc = (s: string) => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
};

describe('readJsonl', () => {
  it('reads LF and CRLF lines, skips blank lines, and keeps editor line numbers', async () => {
    const text = '{"a":1}\r\n\r\n   \n{"a":2}\n{"a":"x\\r"}\r\n\n';
    for (const chunk of [1, 3, 7, 1024]) {
      const records = await readAll(memoryStreamSource(text, 'f', chunk));
      expect(records).toEqual([
        { kind: 'value', line: 1, value: { a: 1 } },
        { kind: 'value', line: 4, value: { a: 2 } },
        { kind: 'value', line: 5, value: { a: 'x\r' } },
      ]);
    }
  });

  it('strips a UTF-8 BOM at the start of the file only, even when split across chunks', async () => {
    const bytes = concat(new Uint8Array([0xef, 0xbb, 0xbf]), enc('{"t":"é"}\n\uFEFF{"t":2}\n'));
    for (const chunk of [1, 2, 64]) {
      const records = await readAll(memoryStreamSource(bytes, 'f', chunk));
      expect(records[0]).toEqual({ kind: 'value', line: 1, value: { t: 'é' } });
      // A BOM in the middle of a file is not a BOM: the line is not valid JSON.
      expect(records[1]).toMatchObject({ kind: 'problem', line: 2 });
    }
  });

  it('reads a last line without a newline', async () => {
    expect(await readAll(memoryStreamSource('{"a":1}\n{"a":2}', 'f', 4))).toHaveLength(2);
  });

  it('reports invalid UTF-8 with its line and byte, and keeps reading', async () => {
    const bytes = concat(enc('{"a":1}\n{"a":"'), new Uint8Array([0xc3, 0x28]), enc('"}\n{"a":3}\n'));
    const records = await readAll(memoryStreamSource(bytes, 'f', 5));
    expect(records[1]).toEqual({ kind: 'problem', line: 2, reason: 'invalid UTF-8 (at byte 6 of the line); save the file as UTF-8' });
    expect(records[2]).toEqual({ kind: 'value', line: 3, value: { a: 3 } });
  });

  it('flags overlong, surrogate and truncated UTF-8 sequences', async () => {
    for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      const records = await readAll(memoryStreamSource(concat(enc('"'), new Uint8Array(bad)), 'f'));
      expect(records[0]).toMatchObject({ kind: 'problem', line: 1, reason: expect.stringContaining('invalid UTF-8 (at byte 1') });
    }
  });

  it('names lines that are not JSON or not objects', async () => {
    const records = await readAll(memoryStreamSource('{"a":\n[1,2]\n"s"\n3\nnull\n{"ok":true}\n'));
    expect(records.map((r) => (r.kind === 'problem' ? `${r.line}: ${r.reason}` : `${r.line}: ok`))).toEqual([
      expect.stringMatching(/^1: not valid JSON: /),
      '2: expected a JSON object, got an array',
      '3: expected a JSON object, got a string',
      '4: expected a JSON object, got an integer',
      '5: expected a JSON object, got null',
      '6: ok',
    ]);
  });

  it('rejects a line over the size bound without buffering it, then reads on', async () => {
    const long = `{"text":"${'x'.repeat(5000)}"}`;
    const source = memoryStreamSource(`{"a":1}\n${long}\n{"a":3}\n${long}`, 'f', 100);
    const stats = newJsonlStats();
    const records: JsonlRecord[] = [];
    for await (const r of readJsonl(source, { maxLineBytes: 1000 }, stats)) records.push(r);
    expect(records).toEqual([
      { kind: 'value', line: 1, value: { a: 1 } },
      { kind: 'problem', line: 2, reason: 'line is longer than 1000 bytes (the line size limit)' },
      { kind: 'value', line: 3, value: { a: 3 } },
      { kind: 'problem', line: 4, reason: 'line is longer than 1000 bytes (the line size limit)' },
    ]);
    expect(stats.maxHeldBytes).toBeLessThanOrEqual(100 + 1000);
  });

  it('reports progress up to the file size', async () => {
    const text = '{"a":1}\n'.repeat(100);
    const seen: [number, number][] = [];
    for await (const _ of readJsonl(memoryStreamSource(text, 'f', 64), { onProgress: (a, b) => seen.push([a, b]) })) void _;
    expect(seen.length).toBe(Math.ceil(text.length / 64));
    expect(seen.at(-1)).toEqual([text.length, text.length]);
    expect(seen.every(([a], i) => i === 0 || a > seen[i - 1][0])).toBe(true);
  });

  it('streams a browser Blob through blob.stream()', async () => {
    const blob = new Blob(['{"a":1}\n', '{"a":', '2}\n']);
    const source = blobStreamSource(blob, 'drop.jsonl');
    expect(source.size).toBe(blob.size);
    expect((await readAll(source)).map((r) => r.kind === 'value' && r.value.a)).toEqual([1, 2]);
  });

  it('streams a Node file, and names a missing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webtune-jsonl-'));
    writeFileSync(join(dir, 'd.jsonl'), '{"a":1}\r\n{"a":2}\r\n');
    const source = await openNodeStreamSource(join(dir, 'd.jsonl'), 'd.jsonl');
    expect(source.size).toBe(18);
    expect(await readAll(source)).toHaveLength(2);
    await expect(openNodeStreamSource(join(dir, 'missing.jsonl'), 'missing.jsonl')).rejects.toThrow(new DatasetError('missing.jsonl', 'no such file'));
  });

  it('holds one chunk plus one line however long the file is', async () => {
    // 10,000 lines of about 200 bytes (2 MB) through 64 KiB chunks: the reader never holds more
    // than a chunk and the line being assembled, not the file.
    const lines = Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ text: `example ${i} `.padEnd(200, 'y') }));
    const source = memoryStreamSource(lines.join('\n'), 'big', 64 * 1024);
    const stats = newJsonlStats();
    let n = 0;
    for await (const r of readJsonl(source, {}, stats)) if (r.kind === 'value') n++;
    expect(n).toBe(10_000);
    expect(stats.bytesRead).toBe(source.size);
    expect(source.size).toBeGreaterThan(2_000_000);
    expect(stats.maxHeldBytes).toBeLessThanOrEqual(64 * 1024 + 512);
  });
});
