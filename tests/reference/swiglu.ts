// SwiGLU reference (formats.md §4.3 MLP, §4.10): a = silu(g) ⊙ u with silu(g) = g·σ(g).
// Elementwise over n = B·T·intermediate values; float64 throughout.

export function sigmoid(v: number): number {
  // Stable both ways: exp of a non-positive number never overflows.
  const e = Math.exp(-Math.abs(v));
  return v >= 0 ? 1 / (1 + e) : e / (1 + e);
}

export function swigluForward(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  const out = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
  return out;
}

/**
 * From da: dg = da·u·silu'(g) with silu'(g) = σ(g)·(1 + g·(1 − σ(g))), and du = da·silu(g).
 */
export function swigluBackward(dout: ArrayLike<number>, gate: ArrayLike<number>, up: ArrayLike<number>): { dgate: Float64Array; dup: Float64Array } {
  const n = gate.length;
  const dgate = new Float64Array(n);
  const dup = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const s = sigmoid(g);
    dgate[i] = dout[i] * up[i] * s * (1 + g * (1 - s));
    dup[i] = dout[i] * g * s;
  }
  return { dgate, dup };
}
