// A small seeded generator for shuffles and splits: the same seed gives the same order on every
// machine and in the browser, which Math.random cannot. Mulberry32 (32-bit state); quality is
// ample for shuffling, and it is not for cryptography.

export type Rng = () => number;

/** A generator of floats in [0, 1) from `seed` and an optional stream number (e.g. the epoch). */
export function seededRng(seed: number, stream = 0): Rng {
  // Mix seed and stream with a 32-bit hash so seeds 1, 2, 3 and epochs 0, 1, 2 give unrelated orders.
  let state = hash32((hash32(seed >>> 0) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates, in place. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

function hash32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
