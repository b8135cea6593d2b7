// The signed 8-bit dynamic map of double quantization (formats.md §1.6):
// bitsandbytes `create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)`, in float32.
//
// For i = 0..6: b = linspace(0.1, 1, 2^i + 1) in float32, the midpoints (b[j] + b[j+1]) / 2 scaled
// by 10^(i-6) give 2^i positive values and their negatives; with 0 and 1.0 that is 256 values,
// sorted. Checkpoints store the table (`nested_quant_map`) and a loader must use the stored one;
// this generator is for writing checkpoints and for quantizing on the GPU.

export const DYNAMIC_MAP_SIZE = 256;

/**
 * torch.linspace(start, end, steps) in float32, its scalar CPU path: step = (end - start) / (steps - 1),
 * the first half counted up from start, the second half down from end.
 */
export function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const f = Math.fround;
  const s = f(start);
  const e = f(end);
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f(f(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? f(s + f(step * i)) : f(e - f(step * (steps - i - 1)));
  }
  return out;
}

// 10 ** (i - 6) as Python computes it; written out because JS `**` is not always correctly rounded.
const POWERS_OF_TEN = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1];

let cached: Float32Array | undefined;

/** The 256-entry signed dynamic map, ascending: index 127 is 0, index 255 is 1.0. A fresh copy. */
export function dynamicMap(): Float32Array {
  cached ??= buildDynamicMap();
  return cached.slice();
}

function buildDynamicMap(): Float32Array {
  const f = Math.fround;
  const maxExponentBits = 7;
  const values: number[] = [];
  for (let i = 0; i < maxExponentBits; i++) {
    const b = linspaceF32(0.1, 1, 2 ** i + 1);
    // torch multiplies the float32 tensor by a Python scalar: the scalar is cast to float32 first.
    const scale = f(POWERS_OF_TEN[i]);
    for (let j = 0; j + 1 < b.length; j++) {
      const mean = f(f(b[j] + b[j + 1]) / 2);
      values.push(f(scale * mean), f(-scale * mean));
    }
  }
  values.push(0, 1);
  if (values.length !== DYNAMIC_MAP_SIZE) throw new Error(`dynamic map has ${values.length} values`);
  return Float32Array.from(values.sort((a, b) => a - b));
}
