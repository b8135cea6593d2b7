// Central finite differences in float64, to check every reference backward: a reference
// gradient that disagrees with (f(x+h) − f(x−h)) / 2h is wrong, whatever the GPU says.

/**
 * d loss / d x[i] for every i (or for the sampled indices), by central differences.
 * `loss` must read `x` afresh on every call; `x` is restored afterwards.
 */
export function numericGradient(loss: () => number, x: Float64Array, indices?: readonly number[], h = 1e-6): Float64Array {
  const grad = new Float64Array(x.length);
  for (const i of indices ?? x.keys()) {
    const saved = x[i];
    x[i] = saved + h;
    const plus = loss();
    x[i] = saved - h;
    const minus = loss();
    x[i] = saved;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

/** The largest |a − b| / max(1, |b|) over the indices, with where it happened. */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>, indices?: readonly number[]): { error: number; at: number } {
  let error = 0;
  let at = -1;
  const all = indices ?? Array.from({ length: b.length }, (_, i) => i);
  for (const i of all) {
    const e = Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i]));
    if (e > error || Number.isNaN(e)) {
      error = Number.isNaN(e) ? Infinity : e;
      at = i;
    }
  }
  return { error, at };
}

/** A scalar loss Σ dy·y with fixed random weights dy: its gradient w.r.t. inputs is the VJP of dy. */
export function dotLoss(y: ArrayLike<number>, dy: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
  return s;
}
