import { seededRng, shuffleInPlace } from './rng.ts';

// Holding out an evaluation set by ratio: a seeded choice of round(count * ratio) examples
// (at least one, and at least one left to train, when the ratio is above 0 and there are two or
// more examples). Both sides keep file order; the same seed always picks the same examples.
// A separate eval file needs none of this: it is read and encoded like the training file.

export function splitTrainEval(count: number, ratio: number, seed: number): { train: number[]; eval: number[] } {
  if (!(ratio >= 0 && ratio < 1)) throw new RangeError(`eval ratio must be in [0, 1), got ${ratio}`);
  let evalCount = Math.round(count * ratio);
  if (ratio > 0 && count >= 2) evalCount = Math.min(Math.max(evalCount, 1), count - 1);
  const ids = shuffleInPlace(Array.from({ length: count }, (_, i) => i), seededRng(seed, 0x5eed));
  const held = new Uint8Array(count);
  for (let k = 0; k < evalCount; k++) held[ids[k]] = 1;
  const train: number[] = [];
  const evalSet: number[] = [];
  for (let i = 0; i < count; i++) (held[i] ? evalSet : train).push(i);
  return { train, eval: evalSet };
}
