import { bf16ToF32, f16ToF32, type FloatDtype } from '../../src/formats/dtype.ts';

// The LoRA merge in float64 (formats.md §2.4): W'[o, i] = W[o, i] + scale · Σ_k B[o, k]·A[k, i],
// with W [out, in], A [r, in], B [out, r]; and a direct float64 → F32/F16/BF16 rounding
// (nearest, ties to even), so the expected bytes come from the exact value, not from the f32
// path the GPU takes. `bound` is how far an f32 computation of the same sum may stray from the
// exact value: the dot product's r roundings, the scale, the add, and one ulp of W for a base
// dequantized on the GPU; within it of a rounding midpoint either neighbour is right.

export interface ReferenceMerge {
  /** Exact (float64) merged values, [out·in]. */
  values: Float64Array;
  /** Per element: the most an f32 evaluation may differ from `values`. */
  bound: Float64Array;
}

export function referenceMerge(w: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>, out: number, inF: number, r: number, scale: number): ReferenceMerge {
  const values = new Float64Array(out * inF);
  const bound = new Float64Array(out * inF);
  const u = 2 ** -24;
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      let sum = 0;
      let mag = 0;
      for (let k = 0; k < r; k++) {
        const p = b[o * r + k] * a[k * inF + i];
        sum += p;
        mag += Math.abs(p);
      }
      const base = w[o * inF + i];
      const x = base + scale * sum;
      values[o * inF + i] = x;
      bound[o * inF + i] = (r + 2) * u * Math.abs(scale) * mag + 2 * u * Math.abs(base) + u * Math.abs(x);
    }
  }
  return { values, bound };
}

const DECODE: Record<'F16' | 'BF16', (bits: number) => number> = { F16: f16ToF32, BF16: bf16ToF32 };
const MAX_FINITE = { F16: 0x7bff, BF16: 0x7f7f };

/** The 16-bit pattern nearest to x (ties to the even pattern); ±Inf past the largest finite + half an ulp. */
export function roundTo16(x: number, dtype: 'F16' | 'BF16'): number {
  const decode = DECODE[dtype];
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const mag = Math.abs(x);
  // Positive patterns 0 … max finite decode in increasing order: binary search the last ≤ mag.
  let lo = 0;
  let hi = MAX_FINITE[dtype];
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (decode(mid) <= mag) lo = mid;
    else hi = mid - 1;
  }
  const below = decode(lo);
  if (below === mag) return sign | lo;
  const next = lo + 1; // the next pattern up (lo + 1 = Inf past the top)
  const above = next > MAX_FINITE[dtype] ? 2 * below - decode(lo - 1) : decode(next); // Inf rounds from max + half an ulp
  const dBelow = mag - below;
  const dAbove = above - mag;
  const pick = dBelow < dAbove || (dBelow === dAbove && (lo & 1) === 0) ? lo : next;
  return sign | pick;
}

/** x rounded to dtype, decoded back to a number. */
export function roundToDtype(x: number, dtype: FloatDtype): number {
  if (dtype === 'F32') return Math.fround(x);
  return DECODE[dtype](roundTo16(x, dtype));
}

export interface MergeCheck {
  /** Elements outside what the reference allows. */
  failures: number;
  /** Elements equal to the exact value rounded to the dtype. */
  exact: number;
  /** Elements whose allowed range spans two values of the dtype (a midpoint within the f32 bound). */
  ambiguous: number;
  /** The first failure, for the message. */
  first?: { index: number; actual: number; expected: number };
}

/**
 * Decoded merged values against the reference: F16/BF16 must be the exact value rounded to the
 * dtype, or, where x ± bound straddles a rounding midpoint, a value between those two roundings;
 * F32 must lie within bound + half an ulp of x.
 */
export function checkMerged(actual: ArrayLike<number>, ref: ReferenceMerge, dtype: FloatDtype): MergeCheck {
  const check: MergeCheck = { failures: 0, exact: 0, ambiguous: 0 };
  for (let i = 0; i < ref.values.length; i++) {
    const x = ref.values[i];
    const got = actual[i];
    const expected = roundToDtype(x, dtype);
    if (got === expected) check.exact++;
    let ok: boolean;
    if (dtype === 'F32') {
      ok = Math.abs(got - x) <= ref.bound[i] + 2 ** -24 * Math.abs(x);
    } else {
      const lo = roundToDtype(x - ref.bound[i], dtype);
      const hi = roundToDtype(x + ref.bound[i], dtype);
      if (lo !== hi) check.ambiguous++;
      ok = got >= lo && got <= hi;
    }
    if (!ok) {
      check.failures++;
      check.first ??= { index: i, actual: got, expected };
    }
  }
  return check;
}
