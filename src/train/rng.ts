import { LINEAR_MODULES, type LinearModule } from '../formats/tensor_names.ts';

// The product's seeded random numbers: LoRA init, per-epoch shuffles, dropout masks.
//
// Counter-based: the n-th number of a stream is a pure function of (key, n) — mulberry32's output
// function applied to key + (n + 1)·0x6D2B79F5 (mod 2^32). So
//   - the whole state is the plain record { key, counter }, saved as-is in a checkpoint;
//   - jumping to any position is O(1), and
//   - a WGSL shader can make the same numbers with u32 arithmetic (imul = wrapping u32 multiply),
//     e.g. a dropout mask element i = u32At(key, i) without any sequential state.
// A stream holds 2^32 numbers; every consumer takes its own stream with streamKey(seed, purpose,
// indices…) ("lora_init", layer, module), so adding a consumer never shifts another's numbers.
// Not for cryptography; ample for shuffles, dropout and initialisation.

export interface RngState {
  /** u32 stream key, from streamKey(). */
  key: number;
  /** How many numbers of the stream were drawn: 0 … 2^32. */
  counter: number;
}

const STREAM_LENGTH = 2 ** 32;
const GOLDEN = 0x9e3779b9;

/** The index-th u32 of stream `key` (index in [0, 2^32)): mulberry32's step and output. */
export function u32At(key: number, index: number): number {
  let t = (key + Math.imul(index + 1, 0x6d2b79f5)) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** A stream key from the run's seed and a path naming the consumer: ("lora_init", 3, 0). */
export function streamKey(seed: number, ...path: (string | number)[]): number {
  let k = mix32(u32Of(seed, 'seed') ^ 0x5bd1e995);
  for (const part of path) {
    const x = typeof part === 'string' ? fnv1a(part) : u32Of(part, 'stream index');
    // Order matters ("a", 1) ≠ (1, "a"): fold each part into the running key, then re-mix.
    k = mix32((k ^ mix32((x + GOLDEN) >>> 0)) + Math.imul(k, 5));
  }
  return k;
}

export class Prng {
  private key: number;
  private counter: number;

  constructor(state: RngState) {
    this.key = u32Of(state.key, 'rng key');
    if (!Number.isSafeInteger(state.counter) || state.counter < 0 || state.counter > STREAM_LENGTH) {
      throw new RangeError(`rng counter must be an integer in [0, 2^32], got ${state.counter}`);
    }
    this.counter = state.counter;
  }

  /** A fresh stream (counter 0) for `seed` and a consumer path, as streamKey. */
  static stream(seed: number, ...path: (string | number)[]): Prng {
    return new Prng({ key: streamKey(seed, ...path), counter: 0 });
  }

  /** A copy of the state: save it, and `new Prng(state)` continues exactly here. */
  get state(): RngState {
    return { key: this.key, counter: this.counter };
  }

  /** Uniform u32. */
  u32(): number {
    if (this.counter >= STREAM_LENGTH) throw new RangeError('rng stream exhausted (2^32 draws); take a new stream with streamKey');
    return u32At(this.key, this.counter++);
  }

  /** Uniform in [0, 1) with 32 random bits (a double). */
  float(): number {
    return this.u32() / STREAM_LENGTH;
  }

  /** Uniform in [0, 1) with 24 random bits: exactly representable in float32, never 1. */
  float32(): number {
    return (this.u32() >>> 8) / 2 ** 24;
  }

  /** Uniform integer in [0, n), unbiased (rejection of the top partial range); n in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1 || n > STREAM_LENGTH) throw new RangeError(`int(n) needs n in [1, 2^32], got ${n}`);
    const limit = STREAM_LENGTH - (STREAM_LENGTH % n);
    for (;;) {
      const u = this.u32();
      if (u < limit) return u % n;
    }
  }

  /** Fisher–Yates in place (the permutation of i = n−1 … 1 swapping with int(i + 1)). */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0 … n−1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** Fills `out` with float32 uniforms in [lo, hi): lo + (hi − lo)·float32(), rounded to f32. */
  fillUniform(out: Float32Array, lo: number, hi: number): Float32Array {
    const span = hi - lo;
    for (let i = 0; i < out.length; i++) out[i] = lo + span * this.float32();
    return out;
  }
}

/**
 * Dropout's keep rule, the same on CPU and GPU: element i of a mask drawn from stream `key` is
 * kept iff u32At(key, start + i) ≥ threshold, with threshold = floor(p·2^32) (p in [0, 1)).
 * P(keep) = 1 − threshold/2^32, within 2^-32 of 1 − p; kept values are scaled by 1/(1 − p).
 */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`);
  return Math.floor(p * STREAM_LENGTH);
}

/** n mask bytes (1 keep, 0 drop) of stream `key` from position `start`, by dropoutThreshold. */
export function dropoutMask(key: number, p: number, n: number, start = 0): Uint8Array {
  const threshold = dropoutThreshold(p);
  if (!Number.isSafeInteger(start) || start < 0 || start + n > STREAM_LENGTH) throw new RangeError('dropout mask runs past the 2^32 numbers of its stream');
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = u32At(key, start + i) >= threshold ? 1 : 0;
  return mask;
}

function u32Of(x: number, what: string): number {
  if (!Number.isSafeInteger(x) || x < 0 || x >= STREAM_LENGTH) throw new RangeError(`${what} must be an integer in [0, 2^32), got ${x}`);
  return x >>> 0;
}

/** lowbias32 (Wellons): a bijective u32 mixer. */
function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d);
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units of a short ASCII label. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The stream LoRA A of one projection is drawn from: ("lora_init", layer, module index in
 * LINEAR_MODULES order), so one projection's A does not depend on which others are targeted.
 */
export function loraInitStream(seed: number, target: { layer: number; module: LinearModule }): Prng {
  return Prng.stream(seed, 'lora_init', target.layer, LINEAR_MODULES.indexOf(target.module));
}
