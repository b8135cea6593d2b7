// RoPE reference, HF half-split ("rotate_half", NeoX) layout (formats.md §4.3). For each token row,
// head h and i < d/2, with θ = pos·inv_freq[i]:
//   x'[i]       = x[i]·cosθ − x[i + d/2]·sinθ
//   x'[i + d/2] = x[i + d/2]·cosθ + x[i]·sinθ
// θ is rounded to float32 as torch forms it (`inv_freq.float() @ position_ids.float()`); cos and
// sin are then taken in float64. The backward is the transpose, a rotation by −θ.
// x is (rows, heads·headDim), rows = B·T tokens; positions (rows) restart per packed example.

export interface RopeShape {
  rows: number;
  heads: number;
  headDim: number;
}

export function ropeAngle(position: number, invFreq: number): number {
  return Math.fround(position * invFreq);
}

function rotate(x: ArrayLike<number>, positions: ArrayLike<number>, invFreq: ArrayLike<number>, s: RopeShape, sign: 1 | -1): Float64Array {
  const { rows, heads, headDim } = s;
  const half = headDim / 2;
  const out = Float64Array.from(x);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      const base = (r * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const theta = ropeAngle(positions[r], invFreq[i]);
        const c = Math.cos(theta);
        const sn = sign * Math.sin(theta);
        const a = x[base + i];
        const b = x[base + i + half];
        out[base + i] = a * c - b * sn;
        out[base + i + half] = b * c + a * sn;
      }
    }
  }
  return out;
}

export function ropeForward(x: ArrayLike<number>, positions: ArrayLike<number>, invFreq: ArrayLike<number>, s: RopeShape): Float64Array {
  return rotate(x, positions, invFreq, s, 1);
}

/** dx from dy: each pair rotated by −θ (the rotation matrix is orthogonal). */
export function ropeBackward(dy: ArrayLike<number>, positions: ArrayLike<number>, invFreq: ArrayLike<number>, s: RopeShape): Float64Array {
  return rotate(dy, positions, invFreq, s, -1);
}
