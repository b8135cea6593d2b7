import type { LoraTarget } from './lora_targets.ts';

// PEFT's default LoRA initialisation (formats.md §2.3, init_lora_weights=True):
//   nn.init.kaiming_uniform_(lora_A.weight, a=math.sqrt(5));  nn.init.zeros_(lora_B.weight)
// kaiming_uniform_ with mode "fan_in" on A [r, in] uses fan = in (dim 1) and the leaky-ReLU gain
// sqrt(2 / (1 + a²)); bound = sqrt(3)·gain/sqrt(fan). With a = √5 the gain is sqrt(1/3), so
// bound = 1/sqrt(in) and A ~ U(−1/√in, 1/√in). B = 0 makes the adapter an exact no-op at step 0.
//
// The random numbers come from the caller (the trainer passes train/rng.ts's
// loraInitStream(seed, target), one stream per target), because model/ must not import train/.
// They are not torch's numbers, only the same distribution.

/** Fills a float32 array with uniforms in [lo, hi): what init needs from a generator. */
export interface UniformSource {
  fillUniform(out: Float32Array, lo: number, hi: number): Float32Array;
}

/** torch.nn.init's bound for kaiming_uniform_(W, a, mode="fan_in", nonlinearity="leaky_relu"). */
export function kaimingUniformBound(fanIn: number, a = Math.sqrt(5)): number {
  if (!Number.isSafeInteger(fanIn) || fanIn < 1) throw new RangeError(`fan_in must be a positive integer, got ${fanIn}`);
  // The same operations in the same order as torch (calculate_gain, then std, then bound).
  const gain = Math.sqrt(2.0 / (1 + a * a));
  const std = gain / Math.sqrt(fanIn);
  return Math.sqrt(3.0) * std;
}

/** A [r, in] row-major float32 ~ U(−bound, bound), bound = kaimingUniformBound(in). */
export function initLoraA(target: LoraTarget, rng: UniformSource): Float32Array {
  const [r, inFeatures] = target.aShape;
  const bound = kaimingUniformBound(inFeatures);
  return rng.fillUniform(new Float32Array(r * inFeatures), -bound, bound);
}

/** B [out, r] row-major: zeros. */
export function initLoraB(target: LoraTarget): Float32Array {
  return new Float32Array(target.bShape[0] * target.bShape[1]);
}

export interface LoraPair {
  target: LoraTarget;
  /** [r, in] */
  a: Float32Array;
  /** [out, r] */
  b: Float32Array;
}

/**
 * Initial A and B for every target, each A from `streamFor(target)`. For a large model call
 * initLoraA per target while uploading instead, so only one A is in host memory at a time.
 */
export function initLoraPairs(targets: readonly LoraTarget[], streamFor: (target: LoraTarget) => UniformSource): LoraPair[] {
  return targets.map((target) => ({ target, a: initLoraA(target, streamFor(target)), b: initLoraB(target) }));
}
