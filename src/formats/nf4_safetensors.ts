import type { Dtype } from './dtype.ts';
import { TensorMismatchError, UnsupportedModelError } from './errors.ts';
import { NESTED_BLOCKSIZE, NF4_BLOCKSIZE, NF4_CODE, numelOfShape, type Nf4Weight } from './nf4.ts';

// A 4-bit weight as bitsandbytes stores it in safetensors (formats.md §1.8), for `P.weight`:
//   P.weight                                   U8 [(n+1)//2, 1]  packed nibbles (or the same bytes
//                                              under another quant_storage dtype)
//   P.weight.absmax                            F32 [blocks], or U8 [blocks] with double quantization
//   P.weight.quant_map                         F32 [16]
//   P.weight.nested_absmax                     F32 [ceil(blocks/256)]   (DQ only)
//   P.weight.nested_quant_map                  F32 [256]                (DQ only)
//   P.weight.quant_state.bitsandbytes__nf4     U8 [len]  json.dumps of quant_type, blocksize, dtype,
//                                              shape (+ nested_blocksize, nested_dtype, nested_offset)

/** bitsandbytes' `str(torch_dtype).strip("torch.")` for the compute dtypes a checkpoint names. */
export type Nf4ComputeDtype = 'bfloat16' | 'float16' | 'float32';

export interface Nf4Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  bytes: Uint8Array;
}

export const NF4_STATE_SUFFIX = '.quant_state.bitsandbytes__nf4';
const AUX_SUFFIXES = ['.absmax', '.quant_map', '.nested_absmax', '.nested_quant_map', NF4_STATE_SUFFIX, '.quant_state.bitsandbytes__fp4'];

/** True for the tensors that travel beside a 4-bit `…weight` (everything but the packed weight). */
export function isNf4AuxiliaryKey(name: string): boolean {
  return AUX_SUFFIXES.some((s) => name.endsWith(`.weight${s}`));
}

/** Python's repr(float) (what json.dumps writes): shortest round-trip digits, exponent outside [-4, 16). */
export function pythonFloatRepr(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`json.dumps would write ${x}, which is not JSON`);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1) || '0';
  return `${sign}${int}.${frac}`;
}

/** The JSON blob, byte for byte as `json.dumps` writes it (", " and ": " separators, this key order). */
export function nf4StateJson(w: Nf4Weight, dtype: Nf4ComputeDtype): string {
  const parts = [`"quant_type": "nf4"`, `"blocksize": ${NF4_BLOCKSIZE}`, `"dtype": "${dtype}"`, `"shape": [${w.shape.join(', ')}]`];
  if (w.nested) {
    parts.push(`"nested_blocksize": ${NESTED_BLOCKSIZE}`, `"nested_dtype": "float32"`, `"nested_offset": ${pythonFloatRepr(w.nested.offset)}`);
  }
  return `{${parts.join(', ')}}`;
}

function bytesOf(a: Float32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The safetensors entries of one 4-bit weight named `weightName` (e.g. `model.layers.0.mlp.up_proj.weight`). */
export function nf4Entries(weightName: string, w: Nf4Weight, dtype: Nf4ComputeDtype): Nf4Entry[] {
  const n = numelOfShape(w.shape);
  const blocks = Math.ceil(n / NF4_BLOCKSIZE);
  const out: Nf4Entry[] = [{ name: weightName, dtype: 'U8', shape: [Math.ceil(n / 2), 1], bytes: w.packed }];
  if (w.nested) {
    out.push({ name: `${weightName}.absmax`, dtype: 'U8', shape: [blocks], bytes: w.nested.qabsmax });
  } else {
    out.push({ name: `${weightName}.absmax`, dtype: 'F32', shape: [blocks], bytes: bytesOf(w.absmax!) });
  }
  out.push({ name: `${weightName}.quant_map`, dtype: 'F32', shape: [16], bytes: bytesOf(NF4_CODE) });
  if (w.nested) {
    out.push({ name: `${weightName}.nested_absmax`, dtype: 'F32', shape: [w.nested.absmax.length], bytes: bytesOf(w.nested.absmax) });
    out.push({ name: `${weightName}.nested_quant_map`, dtype: 'F32', shape: [256], bytes: bytesOf(w.nested.code) });
  }
  const json = new TextEncoder().encode(nf4StateJson(w, dtype));
  out.push({ name: `${weightName}${NF4_STATE_SUFFIX}`, dtype: 'U8', shape: [json.length], bytes: json });
  return out;
}

export interface StoredTensor {
  dtype: Dtype;
  shape: readonly number[];
  bytes: Uint8Array;
}

/**
 * Reads a 4-bit weight back from its entries. `lookup` returns a tensor by name (undefined when
 * absent); `file` names the source in errors. Every field is checked: the file is untrusted.
 */
export function parseNf4Entries(
  weightName: string,
  lookup: (name: string) => StoredTensor | undefined,
  file: string,
): { weight: Nf4Weight; dtype: string } {
  const fail = (tensor: string, reason: string) => new TensorMismatchError(file, tensor, reason);
  const need = (name: string): StoredTensor => {
    const t = lookup(name);
    if (!t) throw fail(name, `is missing; a bitsandbytes 4-bit weight needs it next to ${weightName}`);
    return t;
  };
  const stateName = `${weightName}${NF4_STATE_SUFFIX}`;
  if (!lookup(stateName) && lookup(`${weightName}.quant_state.bitsandbytes__fp4`)) {
    throw new UnsupportedModelError('bnb_4bit_quant_type', 'fp4', 'nf4 only; re-quantize the model with bnb_4bit_quant_type="nf4"', file);
  }
  const state = readState(need(stateName), (reason) => fail(stateName, reason));
  const n = numelOfShape(state.shape);
  const blocks = Math.ceil(n / NF4_BLOCKSIZE);

  const packed = need(weightName);
  if (packed.bytes.byteLength !== Math.ceil(n / 2)) {
    throw fail(weightName, `holds ${packed.bytes.byteLength} bytes but shape ${JSON.stringify(state.shape)} packs into ${Math.ceil(n / 2)}`);
  }
  const quantMap = floats(need(`${weightName}.quant_map`), 16, `${weightName}.quant_map`, fail);
  if (!quantMap.every((v, i) => v === NF4_CODE[i])) {
    throw fail(`${weightName}.quant_map`, 'is not the standard NF4 code (formats.md §1.1); webtune only runs that code');
  }
  const absmaxName = `${weightName}.absmax`;
  const absmaxTensor = need(absmaxName);
  const weight: Nf4Weight = { shape: state.shape, packed: packed.bytes.slice(), absmax: null, nested: null };
  if (state.offset === undefined) {
    weight.absmax = floats(absmaxTensor, blocks, absmaxName, fail);
  } else {
    if (absmaxTensor.dtype !== 'U8' || absmaxTensor.bytes.byteLength !== blocks) {
      throw fail(absmaxName, `must be U8 with ${blocks} values under double quantization, got ${absmaxTensor.dtype} ${JSON.stringify(absmaxTensor.shape)}`);
    }
    const groups = Math.ceil(blocks / NESTED_BLOCKSIZE);
    weight.nested = {
      qabsmax: absmaxTensor.bytes.slice(),
      absmax: floats(need(`${weightName}.nested_absmax`), groups, `${weightName}.nested_absmax`, fail),
      offset: state.offset,
      code: floats(need(`${weightName}.nested_quant_map`), 256, `${weightName}.nested_quant_map`, fail),
    };
  }
  return { weight, dtype: state.dtype };
}

function floats(t: StoredTensor, count: number, name: string, fail: (t: string, r: string) => Error): Float32Array {
  if (t.dtype !== 'F32' || t.bytes.byteLength !== count * 4) {
    throw fail(name, `must be F32 with ${count} values, got ${t.dtype} ${JSON.stringify(t.shape)}`);
  }
  return new Float32Array(t.bytes.slice().buffer);
}

interface QuantStateJson {
  shape: number[];
  dtype: string;
  offset?: number;
}

function readState(t: StoredTensor, fail: (reason: string) => Error): QuantStateJson {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(t.bytes));
  } catch (e) {
    throw fail(`is not UTF-8 JSON (${(e as Error).message}); the checkpoint is corrupt — re-quantize or re-download it`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw fail('must hold a JSON object');
  const s = json as Record<string, unknown>;
  if (s.quant_type !== 'nf4') throw fail(`quant_type is ${JSON.stringify(s.quant_type)}; webtune runs "nf4" only`);
  if (s.blocksize !== NF4_BLOCKSIZE) throw fail(`blocksize is ${JSON.stringify(s.blocksize)}; webtune runs blocksize 64 only — re-quantize with the default`);
  if (typeof s.dtype !== 'string') throw fail('dtype must be a string such as "bfloat16"');
  const shape = s.shape;
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d > 0) || !Number.isSafeInteger(numelOfShape(shape))) {
    throw fail(`shape ${JSON.stringify(shape)} must be a list of positive integers`);
  }
  const out: QuantStateJson = { shape: shape as number[], dtype: s.dtype };
  const nestedKeys = ['nested_blocksize', 'nested_dtype', 'nested_offset'].filter((k) => k in s);
  if (nestedKeys.length === 0) return out;
  if (nestedKeys.length !== 3) throw fail(`has ${nestedKeys.join(', ')} but double quantization needs nested_blocksize, nested_dtype and nested_offset`);
  if (s.nested_blocksize !== NESTED_BLOCKSIZE) throw fail(`nested_blocksize is ${JSON.stringify(s.nested_blocksize)}; bitsandbytes and webtune need 256`);
  if (s.nested_dtype !== 'float32') throw fail(`nested_dtype is ${JSON.stringify(s.nested_dtype)}; expected "float32"`);
  if (typeof s.nested_offset !== 'number' || !Number.isFinite(s.nested_offset)) throw fail('nested_offset must be a finite number');
  out.offset = Math.fround(s.nested_offset);
  return out;
}
