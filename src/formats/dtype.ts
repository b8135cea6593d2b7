// safetensors dtypes (formats.md §3.2) and conversions between them and float32.
// All data is little-endian; every platform a browser or Node runs on is little-endian too, so
// typed-array views over file bytes are read as-is.

/** Bits per element, in the order of `enum Dtype` in safetensors' tensor.rs (its `Ord`). */
const BITS = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
} as const;

export type Dtype = keyof typeof BITS;
export type FloatDtype = 'F32' | 'F16' | 'BF16';

export const DTYPES = Object.keys(BITS) as Dtype[];
const RANK = new Map<string, number>(DTYPES.map((d, i) => [d, i]));

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && RANK.has(value);
}

export function dtypeBits(dtype: Dtype): number {
  return BITS[dtype];
}

/** Position in the reference writer's ordering: larger sorts first in the data section (§3.4). */
export function dtypeRank(dtype: Dtype): number {
  return RANK.get(dtype)!;
}

/** Bytes for `shape` in `dtype`, or null when the bit count is not a whole number of bytes. */
export function byteLengthOf(dtype: Dtype, shape: readonly number[]): number | null {
  let bits = BigInt(BITS[dtype]);
  for (const d of shape) bits *= BigInt(d);
  return bits % 8n === 0n ? Number(bits / 8n) : null;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// f16 → f32 through a 64K-entry table, built on first use (256 KiB): decoding a whole model's
// f16 weights is then one lookup per element.
let f16Table: Float32Array | null = null;

function buildF16Table(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 31) table[h] = mant ? NaN : sign * Infinity;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return table;
}

export function f16ToF32(bits: number): number {
  f16Table ??= buildF16Table();
  return f16Table[bits & 0xffff];
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** BF16 is the top 16 bits of an f32. */
export function bf16ToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

/** f32 → bf16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function f32ToBf16(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f32 → IEEE half bits, round to nearest even, overflow to ±Inf, subnormals kept. */
export function f32ToF16(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal: value = m · 2^-24 with m = (1.mant · 2^23) >> (14 − e).
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let m = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && m & 1)) m++;
    return sign | m;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent rounds up correctly, to Inf at the top
  return h;
}

type Typed =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

type TypedCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): Typed; BYTES_PER_ELEMENT: number };

const VIEWS: Partial<Record<Dtype, TypedCtor>> = {
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  U16: Uint16Array,
  I16: Int16Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  U32: Uint32Array,
  I32: Int32Array,
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
};

/**
 * A typed array over `bytes` for `dtype` (F16/BF16 as raw Uint16 bits). Shares memory when the
 * bytes are aligned for the element size, copies otherwise (third-party files need not be aligned).
 */
export function typedView(dtype: Dtype, bytes: Uint8Array): Typed {
  const Ctor = VIEWS[dtype];
  if (!Ctor) throw new TypeError(`no typed-array view for dtype ${dtype}`);
  const size = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  return new Ctor(aligned.buffer, aligned.byteOffset, aligned.byteLength / size);
}

/** Decode F32/F16/BF16/F64 bytes to float32. F32 input is returned as a view when aligned. */
export function toFloat32(dtype: Dtype, bytes: Uint8Array): Float32Array {
  const view = typedView(dtype, bytes);
  if (dtype === 'F32') return view as Float32Array;
  if (dtype === 'F64') return Float32Array.from(view as Float64Array);
  const bits = view as Uint16Array;
  const out = new Float32Array(bits.length);
  if (dtype === 'F16') {
    f16Table ??= buildF16Table();
    for (let i = 0; i < bits.length; i++) out[i] = f16Table[bits[i]];
  } else if (dtype === 'BF16') {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  } else {
    throw new TypeError(`cannot convert dtype ${dtype} to float32`);
  }
  return out;
}

/** Encode float32 values as F32/F16/BF16 bytes (round to nearest even). Always a fresh buffer. */
export function fromFloat32(values: Float32Array, dtype: FloatDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.slice().buffer);
  const bits = new Uint16Array(values.length);
  const encode = dtype === 'F16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < values.length; i++) bits[i] = encode(values[i]);
  return new Uint8Array(bits.buffer);
}
