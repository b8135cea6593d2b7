import { expect } from 'vitest';

// Named tolerances for comparing GPU results with the references: |actual − expected| must stay
// within atol + rtol·|expected| everywhere. Pick by what the kernel does, not by what passes.

export interface Tolerance {
  name: string;
  atol: number;
  rtol: number;
  /** Why this much error is expected. */
  reason: string;
}

/** Bit-for-bit: data movement, integer work, and float ops done in the same order as the reference. */
export const exact: Tolerance = { name: 'exact', atol: 0, rtol: 0, reason: 'no rounding differs from the reference' };

/** f32 arithmetic against a float64 reference: sums of up to a few thousand O(1) terms, norms, softmax. */
export const balanced: Tolerance = {
  name: 'balanced',
  atol: 1e-4,
  rtol: 1e-4,
  reason: 'f32 accumulation error grows like √n·2⁻²⁴ of the summed magnitude; 1e-4 covers n ≲ 10⁴',
};

/** Long reductions of large terms, approximate transcendentals, chained ops (a whole block's output). */
export const loose: Tolerance = {
  name: 'loose',
  atol: 1e-3,
  rtol: 1e-2,
  reason: 'several f32 stages compound (exp/log approximations, cancellations in long sums)',
};

export interface Mismatch {
  /** Flat index of the worst element, and its multi-dimensional index when a shape was given. */
  index: number;
  at: number[];
  actual: number;
  expected: number;
  /** |actual − expected| and what the tolerance allowed there. */
  error: number;
  allowed: number;
}

export interface Comparison {
  ok: boolean;
  /** The element with the largest error relative to what was allowed (NaN counts as infinite). */
  worst: Mismatch | undefined;
  maxAbsError: number;
  failures: number;
}

export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, shape?: readonly number[]): Comparison {
  if (actual.length !== expected.length) throw new Error(`compare: ${actual.length} values against ${expected.length}`);
  let worst: Mismatch | undefined;
  let worstRatio = -1;
  let maxAbsError = 0;
  let failures = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const error = a === e ? 0 : Math.abs(a - e); // equal infinities are a match
    const allowed = tol.atol + tol.rtol * Math.abs(e);
    const ratio = Number.isNaN(error) ? Infinity : allowed === 0 ? (error === 0 ? 0 : Infinity) : error / allowed;
    if (!(error <= allowed)) failures++;
    if (error > maxAbsError || Number.isNaN(error)) maxAbsError = Number.isNaN(error) ? Infinity : error;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: i, at: unravel(i, shape), actual: a, expected: e, error, allowed };
    }
  }
  return { ok: failures === 0, worst, maxAbsError, failures };
}

/** Fails the test with the worst element's position and values when any element is out of tolerance. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'result', shape?: readonly number[]): void {
  const c = compare(actual, expected, tol, shape);
  if (c.ok) return;
  const w = c.worst!;
  const message =
    `${what}: ${c.failures} of ${expected.length} elements outside ${tol.name} (atol ${tol.atol}, rtol ${tol.rtol}); ` +
    `worst at [${w.at.join(', ')}]: got ${w.actual}, expected ${w.expected} (error ${w.error.toExponential(3)}, allowed ${w.allowed.toExponential(3)})`;
  expect.fail(message);
}

function unravel(index: number, shape?: readonly number[]): number[] {
  if (!shape || shape.length === 0) return [index];
  const at = new Array<number>(shape.length);
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    at[d] = rest % shape[d];
    rest = Math.floor(rest / shape[d]);
  }
  return at;
}
