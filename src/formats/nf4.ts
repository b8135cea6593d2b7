import { dynamicMap } from './nf4_dynamic_map.ts';

// bitsandbytes NF4 with blocksize 64 and QLoRA double quantization, on the CPU (formats.md §1).
// Product code (`webtune quantize`, checks) and the reference the GPU kernels must match bit for
// bit. All arithmetic is float32: every step goes through Math.fround. For + − × ÷ of float32
// operands, rounding the exact double result to float32 gives the correctly rounded float32
// result, so this is what torch computes in float32.
//
// Two choices where bitsandbytes' own backends disagree (§1.2):
// - Nearest code: the float32 midpoints of consecutive codes, a value exactly on a midpoint going
//   to the LOWER code (torch.bucketize, right=False; CUDA's strict `x > threshold` tree).
// - All-zero blocks: absmax is stored as 0 and every element gets nibble 7 (0.0), as torch's
//   reference does once it guards absmax ≥ 1e-38. CUDA stores nibble 0 there (NaN comparisons);
//   both dequantize to 0.
// Double quantization's offset is mean(absmax) summed in the fixed order of `absmaxMean` (the
// order the GPU reduction uses), not torch's: the offset, and rarely a code, can differ from a
// torch run by an ulp. Loading a pre-quantized checkpoint uses its stored offset, so this only
// affects weights we quantize ourselves.

export const NF4_BLOCKSIZE = 64;
export const NESTED_BLOCKSIZE = 256;

const f = Math.fround;

/** The NF4 code (index = nibble), §1.1. Each value is exact in float32. */
export const NF4_CODE = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
]);

/** Float32 midpoints between consecutive values of a sorted code: (c[i] + c[i+1]) / 2. */
export function codeMidpoints(code: Float32Array): Float32Array {
  const mid = new Float32Array(code.length - 1);
  for (let i = 0; i < mid.length; i++) mid[i] = f(f(code[i] + code[i + 1]) / 2);
  return mid;
}

export const NF4_MIDPOINTS = codeMidpoints(NF4_CODE);

/** torch.bucketize(s, mid, right=False): how many midpoints lie strictly below s (binary search). */
export function bucketize(s: number, mid: Float32Array): number {
  let lo = 0;
  let hi = mid.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (mid[m] < s) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** A weight in bitsandbytes NF4 form. Exactly one of `absmax` and `nested` is set. */
export interface Nf4Weight {
  /** The original shape; n = product. */
  shape: readonly number[];
  /** ceil(n/2) bytes, first element in the high nibble (§1.3). */
  packed: Uint8Array;
  /** Per-block absmax, float32, without double quantization. */
  absmax: Float32Array | null;
  /** The double-quantized absmax (§1.5). */
  nested: Nf4Nested | null;
}

export interface Nf4Nested {
  /** One u8 index per 64-element block into `code`. */
  qabsmax: Uint8Array;
  /** float32 per group of 256 blocks. */
  absmax: Float32Array;
  /** The float32 mean subtracted before quantizing. */
  offset: number;
  /** The 256-entry dynamic map (nested_quant_map). */
  code: Float32Array;
}

export function numelOfShape(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** First-level NF4: packed nibbles and float32 absmax per block of 64. */
export function quantizeNf4Blocks(data: Float32Array): { packed: Uint8Array; absmax: Float32Array } {
  const n = data.length;
  const blocks = Math.ceil(n / NF4_BLOCKSIZE);
  const absmax = new Float32Array(blocks);
  const packed = new Uint8Array(Math.ceil(n / 2));
  for (let b = 0; b < blocks; b++) {
    const start = b * NF4_BLOCKSIZE;
    const end = Math.min(start + NF4_BLOCKSIZE, n);
    let amax = 0;
    for (let i = start; i < end; i++) amax = Math.max(amax, Math.abs(data[i]));
    absmax[b] = amax;
    const inv = f(1 / amax);
    for (let i = start; i < end; i++) {
      const q = amax === 0 ? 7 : bucketize(Math.min(1, Math.max(-1, f(data[i] * inv))), NF4_MIDPOINTS);
      packed[i >>> 1] |= (i & 1) === 0 ? q << 4 : q;
    }
  }
  if (n % 2 === 1) packed[n >>> 1] |= 7; // the padding element is 0.0, code 7
  return { packed, absmax };
}

/**
 * mean(absmax) in float32, in the order the GPU reduction uses: a pairwise tree over each group
 * of 256 blocks (missing blocks count as 0), then lane t of 256 sums the group totals t, t+256, …
 * in increasing order, then a pairwise tree over the 256 lanes; the sum is divided by the count.
 */
export function absmaxMean(absmax: Float32Array): number {
  const groups = Math.ceil(absmax.length / NESTED_BLOCKSIZE);
  const partial = new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    const lanes = new Float32Array(NESTED_BLOCKSIZE);
    lanes.set(absmax.subarray(g * NESTED_BLOCKSIZE, (g + 1) * NESTED_BLOCKSIZE));
    partial[g] = treeSum(lanes);
  }
  const lanes = new Float32Array(NESTED_BLOCKSIZE);
  for (let g = 0; g < groups; g++) lanes[g % NESTED_BLOCKSIZE] = f(lanes[g % NESTED_BLOCKSIZE] + partial[g]);
  return f(treeSum(lanes) / absmax.length);
}

/** s[i] += s[i + stride] for stride = len/2 … 1 (len a power of two); consumes `s`. */
function treeSum(s: Float32Array): number {
  for (let stride = s.length >> 1; stride > 0; stride >>= 1) {
    for (let i = 0; i < stride; i++) s[i] = f(s[i] + s[i + stride]);
  }
  return s[0];
}

/** quantize_blockwise(absmax − offset, dynamic map, blocksize 256), §1.5. */
export function doubleQuantize(absmax: Float32Array, code: Float32Array = dynamicMap()): Nf4Nested {
  const offset = absmaxMean(absmax);
  const mid = codeMidpoints(code);
  const zero = bucketize(0, mid);
  const groups = Math.ceil(absmax.length / NESTED_BLOCKSIZE);
  const nestedAbsmax = new Float32Array(groups);
  const qabsmax = new Uint8Array(absmax.length);
  for (let g = 0; g < groups; g++) {
    const start = g * NESTED_BLOCKSIZE;
    const end = Math.min(start + NESTED_BLOCKSIZE, absmax.length);
    let amax = 0;
    for (let i = start; i < end; i++) amax = Math.max(amax, Math.abs(f(absmax[i] - offset)));
    nestedAbsmax[g] = amax;
    const inv = f(1 / amax);
    for (let i = start; i < end; i++) {
      qabsmax[i] = amax === 0 ? zero : bucketize(Math.min(1, Math.max(-1, f(f(absmax[i] - offset) * inv))), mid);
    }
  }
  return { qabsmax, absmax: nestedAbsmax, offset, code };
}

/** Quantizes a float32 tensor (row-major, any shape) to NF4, with or without double quantization. */
export function quantizeNf4(data: Float32Array, shape: readonly number[], options: { doubleQuant: boolean }): Nf4Weight {
  if (numelOfShape(shape) !== data.length) throw new Error(`quantizeNf4: shape ${JSON.stringify(shape)} does not hold ${data.length} values`);
  const { packed, absmax } = quantizeNf4Blocks(data);
  if (!options.doubleQuant) return { shape: shape.slice(), packed, absmax, nested: null };
  return { shape: shape.slice(), packed, absmax: null, nested: doubleQuantize(absmax) };
}

/** The per-block absmax in float32: stored, or rebuilt as code[q]·nested_absmax[b/256] + offset. */
export function blockAbsmax(w: Nf4Weight): Float32Array {
  if (w.absmax) return w.absmax;
  const { qabsmax, absmax, offset, code } = w.nested!;
  const out = new Float32Array(qabsmax.length);
  for (let b = 0; b < out.length; b++) out[b] = f(f(code[qabsmax[b]] * absmax[b >>> 8]) + offset);
  return out;
}

/** w[k] = code[nibble k] · absmax[k / 64], float32, flattened (§1.4). */
export function dequantizeNf4(w: Nf4Weight): Float32Array {
  const n = numelOfShape(w.shape);
  const absmax = blockAbsmax(w);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = w.packed[i >>> 1];
    const q = (i & 1) === 0 ? byte >> 4 : byte & 15;
    out[i] = f(NF4_CODE[q] * absmax[Math.floor(i / NF4_BLOCKSIZE)]);
  }
  return out;
}

/** The nibble of element i (tests and checks). */
export function nf4Nibble(packed: Uint8Array, i: number): number {
  const byte = packed[i >>> 1];
  return (i & 1) === 0 ? byte >> 4 : byte & 15;
}
