import type { RopeScaling } from '../formats/hf_config.ts';

// RoPE inverse frequencies on the CPU, in float32 exactly as transformers forms them
// (formats.md §4.3, `_compute_default_rope_parameters`, `_compute_llama3_parameters`,
// `_compute_linear_scaling_rope_parameters`), then uploaded once as a (headDim/2) f32 buffer for
// the rope kernels. Every torch step is an f32 tensor op, so each is rounded here with fround:
// for + − × ÷ rounding the float64 result to float32 is exact rounding; pow may differ from
// torch's powf by an ulp in rare cases.

const f = Math.fround;

/** inv_freq[i] = 1 / theta^(2i / dim), i < dim/2, then the scaling rule (null = default). */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling | null = null): Float32Array {
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) throw new Error(`ropeInvFreq: head_dim must be a positive even integer, got ${headDim}`);
  if (!(theta > 0)) throw new Error(`ropeInvFreq: rope_theta must be positive, got ${theta}`);
  const half = headDim / 2;
  const base = new Float32Array(half);
  // `1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))`
  for (let i = 0; i < half; i++) base[i] = f(1 / f(Math.pow(f(theta), f((2 * i) / headDim))));
  if (scaling === null) return base;
  if (scaling.type === 'linear') return base.map((v) => f(v / f(scaling.factor)));
  return llama3(base, scaling);
}

type Llama3 = Extract<RopeScaling, { type: 'llama3' }>;

/**
 * Long wavelengths (> orig_ctx / low_freq_factor) are divided by `factor`, short ones
 * (< orig_ctx / high_freq_factor) kept, and the band between blended with
 * s = (orig_ctx / wavelen − low) / (high − low): (1 − s)·inv/factor + s·inv.
 */
function llama3(inv: Float32Array, s: Llama3): Float32Array {
  const factor = f(s.factor);
  const lowWavelen = f(s.originalMaxPositionEmbeddings / s.lowFreqFactor);
  const highWavelen = f(s.originalMaxPositionEmbeddings / s.highFreqFactor);
  const twoPi = f(2 * Math.PI);
  const band = f(s.highFreqFactor - s.lowFreqFactor);
  const out = new Float32Array(inv.length);
  for (let i = 0; i < inv.length; i++) {
    // torch's `scalar / tensor` is `tensor.reciprocal() * scalar`.
    const wavelen = f(f(1 / inv[i]) * twoPi);
    const scaled = wavelen > lowWavelen ? f(inv[i] / factor) : inv[i];
    if (wavelen < highWavelen || wavelen > lowWavelen) {
      out[i] = scaled;
      continue;
    }
    const smooth = f(f(f(f(1 / wavelen) * f(s.originalMaxPositionEmbeddings)) - f(s.lowFreqFactor)) / band);
    out[i] = f(f(f(f(1 - smooth) * scaled) / factor) + f(smooth * scaled));
  }
  return out;
}
