import { describe, expect, it } from 'vitest';
import { memorySource } from '../../src/formats/byte_source.ts';
import { TensorMismatchError, UnsupportedModelError } from '../../src/formats/errors.ts';
import { quantizeNf4, type Nf4Weight } from '../../src/formats/nf4.ts';
import { isNf4AuxiliaryKey, nf4Entries, nf4StateJson, parseNf4Entries, pythonFloatRepr, type StoredTensor } from '../../src/formats/nf4_safetensors.ts';
import { openSafetensors } from '../../src/formats/safetensors.ts';
import { serializeSafetensors } from '../../src/formats/safetensors_writer.ts';
import { rng } from '../helpers/rng.ts';

const W = 'model.layers.0.self_attn.q_proj.weight';

function lookupOf(entries: { name: string; dtype: StoredTensor['dtype']; shape: number[]; bytes: Uint8Array }[]) {
  const byName = new Map(entries.map((e) => [e.name, e]));
  return (name: string) => byName.get(name);
}

describe('Python float repr (json.dumps)', () => {
  it('writes floats as Python does', () => {
    const cases: [number, string][] = [
      [0, '0.0'],
      [1, '1.0'],
      [-2.5, '-2.5'],
      [0.1, '0.1'],
      [1e-4, '0.0001'],
      [1e-5, '1e-05'],
      [1.5e-7, '1.5e-07'],
      [123456789012345.6, '123456789012345.6'],
      [1e16, '1e+16'],
      [1.2345e20, '1.2345e+20'],
      [Math.fround(0.012345), '0.01234500017017126'],
      [Math.fround(3.3e-5), '3.300000025774352e-05'],
      [5e-324, '5e-324'],
    ];
    for (const [x, text] of cases) expect(pythonFloatRepr(x)).toBe(text);
  });
});

describe('bitsandbytes safetensors entries (formats.md §1.8)', () => {
  it('writes the JSON blob with json.dumps separators and key order', () => {
    const data = rng(1).normalArray(4 * 64, 0.02);
    const plain = quantizeNf4(data, [4, 64], { doubleQuant: false });
    expect(nf4StateJson(plain, 'bfloat16')).toBe('{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4, 64]}');
    const dq = quantizeNf4(data, [4, 64], { doubleQuant: true });
    expect(nf4StateJson(dq, 'float16')).toBe(
      `{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [4, 64], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": ${pythonFloatRepr(dq.nested!.offset)}}`,
    );
  });

  it('lists the tensors with the shapes and dtypes of §1.8', () => {
    const data = rng(2).normalArray(16 * 1000, 0.02);
    const dq = quantizeNf4(data, [16, 1000], { doubleQuant: true });
    const entries = nf4Entries(W, dq, 'bfloat16');
    expect(entries.map((e) => [e.name.slice(W.length), e.dtype, e.shape])).toEqual([
      ['', 'U8', [8000, 1]],
      ['.absmax', 'U8', [250]],
      ['.quant_map', 'F32', [16]],
      ['.nested_absmax', 'F32', [1]],
      ['.nested_quant_map', 'F32', [256]],
      ['.quant_state.bitsandbytes__nf4', 'U8', [entries[5].bytes.length]],
    ]);
    expect(entries.slice(1).every((e) => isNf4AuxiliaryKey(e.name))).toBe(true);
    expect(isNf4AuxiliaryKey(W)).toBe(false);
    const plain = nf4Entries(W, quantizeNf4(data, [16, 1000], { doubleQuant: false }), 'bfloat16');
    expect(plain.map((e) => [e.name.slice(W.length), e.dtype, e.shape[0]])).toEqual([
      ['', 'U8', 8000],
      ['.absmax', 'F32', 250],
      ['.quant_map', 'F32', 16],
      ['.quant_state.bitsandbytes__nf4', 'U8', plain[3].bytes.length],
    ]);
  });

  for (const doubleQuant of [false, true]) {
    it(`round-trips through a safetensors file (doubleQuant=${doubleQuant})`, async () => {
      const data = rng(3).normalArray(7 * 97, 0.1);
      const w = quantizeNf4(data, [7, 97], { doubleQuant });
      const file = await openSafetensors(memorySource(serializeSafetensors(nf4Entries(W, w, 'bfloat16'))));
      const tensors = new Map<string, StoredTensor>();
      for (const name of file.names()) tensors.set(name, await file.readTensor(name));
      const back = parseNf4Entries(W, (n) => tensors.get(n), 'model.safetensors');
      expect(back.dtype).toBe('bfloat16');
      expect(back.weight).toEqual(w satisfies Nf4Weight);
    });
  }

  it('reads packed bytes stored under another quant_storage dtype', () => {
    const w = quantizeNf4(rng(4).normalArray(128), [2, 64], { doubleQuant: false });
    const entries = nf4Entries(W, w, 'bfloat16');
    entries[0] = { ...entries[0], dtype: 'BF16', shape: [32, 1] };
    expect(parseNf4Entries(W, lookupOf(entries), 'f').weight.packed).toEqual(w.packed);
  });

  it('rejects malformed or unsupported entries with a precise message', () => {
    const w = quantizeNf4(rng(5).normalArray(300), [3, 100], { doubleQuant: true });
    const entries = nf4Entries(W, w, 'bfloat16');
    const edit = (suffix: string, change: Partial<(typeof entries)[0]> | null) => {
      const out = entries.map((e) => (e.name === W + suffix ? (change ? { ...e, ...change } : null) : e)).filter((e) => e !== null);
      return () => parseNf4Entries(W, lookupOf(out), 'x.safetensors');
    };
    const json = (text: string) => ({ bytes: new TextEncoder().encode(text) });
    expect(edit('.nested_absmax', null)).toThrow(/nested_absmax": is missing/);
    expect(edit('', { bytes: new Uint8Array(10) })).toThrow(/holds 10 bytes/);
    expect(edit('.absmax', { dtype: 'F32' })).toThrow(TensorMismatchError);
    expect(edit('.quant_map', { bytes: new Uint8Array(64) })).toThrow(/standard NF4 code/);
    const state = '.quant_state.bitsandbytes__nf4';
    expect(edit(state, json('{"quant_type": "nf4", "blocksize": 128, "dtype": "bfloat16", "shape": [3, 100]}'))).toThrow(/blocksize 64/);
    expect(edit(state, json('{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [3, -1]}'))).toThrow(/positive integers/);
    expect(edit(state, json('{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [3, 100], "nested_offset": 0.1}'))).toThrow(/needs nested_blocksize/);
    expect(edit(state, json('not json'))).toThrow(/not UTF-8 JSON/);
    const fp4 = entries.map((e) => (e.name === W + state ? { ...e, name: `${W}.quant_state.bitsandbytes__fp4` } : e));
    expect(() => parseNf4Entries(W, lookupOf(fp4), 'x')).toThrow(UnsupportedModelError);
  });
});
