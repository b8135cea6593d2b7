import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memorySource } from '../../../src/formats/byte_source.ts';
import { byteLengthOf, fromFloat32, type Dtype } from '../../../src/formats/dtype.ts';
import { nodeFileSink } from '../../../src/formats/node_sink.ts';
import { openNodeSource } from '../../../src/formats/node_source.ts';
import { openSafetensors, tensorToFloat32 } from '../../../src/formats/safetensors.ts';
import {
  layoutSafetensors,
  memorySink,
  SafetensorsWriteError,
  SafetensorsWriter,
  serializeSafetensors,
  writeSafetensors,
  type TensorSpec,
} from '../../../src/formats/safetensors_writer.ts';
import { Rng } from '../../helpers/rng.ts';

const ALL: Dtype[] = ['F64', 'I64', 'U64', 'F32', 'I32', 'U32', 'F16', 'BF16', 'I16', 'U16', 'U8', 'I8', 'BOOL', 'F8_E4M3', 'F8_E5M2'];

function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(0, 256);
  return out;
}

function sample(rng: Rng) {
  const tensors: (TensorSpec & { bytes: Uint8Array })[] = [];
  for (const dtype of ALL) {
    for (const [suffix, shape] of [['mat', [3, 5]], ['scalar', []], ['empty', [0, 7]], ['vec', [7]]] as [string, number[]][]) {
      tensors.push({ name: `${dtype.toLowerCase()}.${suffix}`, dtype, shape, bytes: randomBytes(rng, byteLengthOf(dtype, shape)!) });
    }
  }
  return tensors;
}

describe('safetensors writer → reader', () => {
  it('round-trips every dtype, including empty and scalar tensors', async () => {
    const tensors = sample(new Rng(7));
    const file = await openSafetensors(memorySource(serializeSafetensors(tensors, { note: 'hi' }), 'all.safetensors'));
    expect(file.metadata).toEqual({ format: 'pt', note: 'hi' });
    expect(file.names().sort()).toEqual(tensors.map((t) => t.name).sort());
    for (const t of tensors) {
      const back = await file.readTensor(t.name);
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect([...back.bytes]).toEqual([...t.bytes]);
    }
  });

  it('lays out like the reference writer: format first, sorted by dtype then name, padded to 8, aligned', () => {
    const layout = layoutSafetensors([
      { name: 'b', dtype: 'U8', shape: [3] },
      { name: 'a', dtype: 'F16', shape: [1] },
      { name: 'c', dtype: 'F32', shape: [2] },
      { name: 'a2', dtype: 'F32', shape: [1] },
      { name: 'z', dtype: 'BF16', shape: [1] },
    ]);
    expect(layout.order.map((t) => t.name)).toEqual(['a2', 'c', 'z', 'a', 'b']);
    const n = Number(new DataView(layout.header.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(layout.header.length).toBe(8 + n);
    const text = new TextDecoder().decode(layout.header.subarray(8));
    expect(text.startsWith('{"__metadata__":{"format":"pt"},"a2":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},')).toBe(true);
    expect(text.trimEnd()).toBe(JSON.stringify(JSON.parse(text)));
    for (const t of layout.order) expect((layout.header.length + t.begin) % (byteLengthOf(t.dtype, [1]) ?? 1)).toBe(0);
  });

  it('reads the reference writer bytes from safetensors tensor.rs test_serialization', async () => {
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    const bytes = new Uint8Array(8 + header.length + 24);
    bytes[0] = header.length;
    bytes.set(new TextEncoder().encode(header), 8);
    new Uint8Array(bytes.buffer, 8 + header.length).set(new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer));
    const file = await openSafetensors(memorySource(bytes, 'rust.safetensors'));
    expect(file.metadata).toBeNull();
    expect([...(await file.readFloat32('attn.0'))]).toEqual([0, 1, 2, 3, 4, 5]); // header of 64 bytes: misaligned-safe read
  });

  it('decodes misaligned F32/F16/BF16 data by copying', async () => {
    const values = new Float32Array([1.5, -0.25, 3]);
    // A header of odd length puts the data section at an odd offset.
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const data = fromFloat32(values, dtype);
      let header = `{"x":{"dtype":"${dtype}","shape":[3],"data_offsets":[0,${data.length}]}}`;
      while ((8 + header.length) % 4 !== 1) header += ' ';
      const bytes = new Uint8Array(8 + header.length + data.length);
      bytes[0] = header.length;
      bytes.set(new TextEncoder().encode(header), 8);
      bytes.set(data, 8 + header.length);
      expect((8 + header.length) % 2).toBe(1);
      const file = await openSafetensors(memorySource(bytes, 'odd.safetensors'));
      const t = await file.readTensor('x');
      expect([...tensorToFloat32(t, file.name)]).toEqual([1.5, -0.25, 3]);
    }
  });

  it('streams tensor by tensor to a sink, never buffering more than one', async () => {
    const tensors = sample(new Rng(3));
    const sink = memorySink();
    const writes: number[] = [];
    const counting = { write: (c: Uint8Array) => (writes.push(c.byteLength), sink.write(c)), close: () => sink.close() };
    let asked = 0;
    const layout = await writeSafetensors(counting, tensors, async (spec) => {
      asked++;
      return tensors.find((t) => t.name === spec.name)!.bytes;
    });
    expect(asked).toBe(tensors.length);
    expect(writes[0]).toBe(layout.header.length);
    expect(sink.closed).toBe(true);
    expect([...sink.bytes()]).toEqual([...serializeSafetensors(tensors)]);
  });

  it('refuses out-of-order, wrong-size and missing tensors', async () => {
    const specs: TensorSpec[] = [
      { name: 'a', dtype: 'F32', shape: [2] },
      { name: 'b', dtype: 'U8', shape: [2] },
    ];
    const w = await SafetensorsWriter.create(memorySink(), specs);
    expect(w.order).toEqual(['a', 'b']);
    await expect(w.write('b', new Uint8Array(2))).rejects.toThrow(SafetensorsWriteError);
    await expect(w.write('a', new Uint8Array(4))).rejects.toThrow(/expected 8/);
    await w.write('a', new Uint8Array(8));
    await expect(w.close()).rejects.toThrow(/"b" is missing/);
    expect(() => layoutSafetensors([specs[0], specs[0]])).toThrow(/repeated/);
    expect(() => layoutSafetensors([{ name: 'x', dtype: 'F4', shape: [3] }])).toThrow(/whole number of bytes/);
  });

  it('writes through a Node file sink and reads back through a Node file source', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webtune-st-'));
    const path = join(dir, 'model.safetensors');
    const tensors = sample(new Rng(11));
    await writeSafetensors(await nodeFileSink(path), tensors, (s) => tensors.find((t) => t.name === s.name)!.bytes);
    expect([...(await readFile(path))]).toEqual([...serializeSafetensors(tensors)]);
    const file = await openSafetensors(await openNodeSource(path));
    for (const t of tensors) expect([...(await file.readTensor(t.name)).bytes]).toEqual([...t.bytes]);
  });

  it('aborts the sink when a tensor cannot be produced', async () => {
    let aborted = false;
    const sink = { ...memorySink(), abort: async () => void (aborted = true) };
    const failing = writeSafetensors(sink, [{ name: 'a', dtype: 'F32', shape: [1] }], () => {
      throw new Error('GPU readback failed');
    });
    await expect(failing).rejects.toThrow(/GPU readback failed/);
    expect(aborted).toBe(true);
  });

  it('a failed Node write leaves neither the file nor its .partial behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webtune-st-'));
    const path = join(dir, 'model.safetensors');
    const failing = writeSafetensors(await nodeFileSink(path), [{ name: 'a', dtype: 'F32', shape: [1] }], () => new Uint8Array(3));
    await expect(failing).rejects.toThrow(/got 3 bytes, expected 4/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('the empty file is a valid 16-byte safetensors', async () => {
    const bytes = serializeSafetensors([]);
    const file = await openSafetensors(memorySource(bytes, 'empty.safetensors'));
    expect(file.names()).toEqual([]);
    expect(bytes.length % 8).toBe(0);
  });
});
