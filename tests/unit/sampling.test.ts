import { describe, expect, it } from 'vitest';
import {
  argmax,
  findStopString,
  greedySampling,
  nucleusSize,
  penalizedLogits,
  samplingProblems,
  sampleToken,
  StopStringMatcher,
  TokenSampler,
  topKIndices,
  type SamplingOptions,
  type UniformSource,
} from '../../src/model/sampling.ts';
import { Prng } from '../../src/train/rng.ts';

/** A UniformSource that hands out the given numbers in turn, counting draws. */
class FixedDraws implements UniformSource {
  drawn = 0;
  constructor(private readonly values: number[]) {}
  float(): number {
    return this.values[this.drawn++ % this.values.length];
  }
}

const logitsOf = (probs: number[]): Float32Array => Float32Array.from(probs, Math.log);
const sampling = (o: Partial<SamplingOptions>): SamplingOptions => ({ temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, ...o });

/** Seeded O(1) logits of length v. */
function randomLogits(v: number, seed: number, scale = 3): Float32Array {
  const p = Prng.stream(seed, 'logits');
  return Float32Array.from({ length: v }, () => scale * (2 * p.float() - 1));
}

/** The nucleus the slow way, over the whole vocabulary sorted: the reference for the bucketed one. */
function referenceSample(logits: Float32Array, o: SamplingOptions, u: number): number {
  const x = Array.from(logits, (v) => v / o.temperature);
  let order = x.map((_, i) => i).sort((a, b) => x[b] - x[a] || a - b);
  if (o.topK > 0) order = order.slice(0, o.topK);
  const max = x[order[0]];
  const w = order.map((i) => Math.exp(x[i] - max));
  let total = w.reduce((a, b) => a + b, 0);
  let keep = order.length;
  if (o.topP < 1) {
    let before = 0;
    keep = 0;
    while (keep < order.length && (keep === 0 || before < o.topP * total)) before += w[keep++];
    total = w.slice(0, keep).reduce((a, b) => a + b, 0);
  }
  let c = 0;
  for (let j = 0; j < keep; j++) if ((c += w[j]) > u * total) return order[j];
  return order[keep - 1];
}

describe('greedy and top-k', () => {
  it('greedy is the argmax, the lowest id on a tie, and draws nothing', () => {
    const rng = new FixedDraws([0.99]);
    expect(sampleToken(Float32Array.of(0.1, 2, -1, 2), greedySampling, rng)).toBe(1);
    expect(rng.drawn).toBe(0);
    const big = randomLogits(1000, 7);
    expect(sampleToken(big, greedySampling, rng)).toBe(argmax(big));
  });

  it('top-k = 1 is greedy at any temperature and draw', () => {
    for (let seed = 0; seed < 20; seed++) {
      const logits = randomLogits(97, seed);
      for (const u of [0, 0.5, 0.999999]) expect(sampleToken(logits, sampling({ topK: 1, temperature: 2.5 }), new FixedDraws([u]))).toBe(argmax(logits));
    }
    expect(sampleToken(Float32Array.of(1, 5, 5), sampling({ topK: 1 }), new FixedDraws([0.99]))).toBe(1);
  });

  it('topKIndices: the k largest, largest first, lower id first among equals', () => {
    expect(topKIndices([3, 1, 4, 1, 5, 9, 2, 6, 5], 4)).toEqual([5, 7, 4, 8]);
    expect(topKIndices([2, 2, 2], 2)).toEqual([0, 1]);
    expect(topKIndices([1, 2], 5)).toEqual([1, 0]);
  });

  it('argmax refuses NaN and all −∞; an +∞ logit is always taken', () => {
    expect(() => argmax(Float32Array.of(1, NaN))).toThrow(/NaN/);
    expect(() => sampleToken(Float32Array.of(-Infinity, -Infinity), sampling({}), new FixedDraws([0.5]))).toThrow(/−∞/);
    expect(sampleToken(Float32Array.of(0, Infinity, 1), sampling({}), new FixedDraws([0.9]))).toBe(1);
  });
});

describe('sampling from the distribution', () => {
  it('maps the draw onto cumulative probability in id order when nothing is cut', () => {
    const logits = logitsOf([0.5, 0.3, 0.2]);
    const pick = (u: number) => sampleToken(logits, sampling({}), new FixedDraws([u]));
    expect([0, 0.49, 0.51, 0.79, 0.81, 0.999999].map(pick)).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('never picks a token masked to −∞', () => {
    const logits = Float32Array.of(-Infinity, 0, -Infinity, 0, -Infinity);
    for (const u of [0, 0.25, 0.5, 0.75, 0.9999999]) expect([1, 3]).toContain(sampleToken(logits, sampling({ topP: 0.9 }), new FixedDraws([u])));
  });

  it('is reproducible with a seed and differs between seeds', () => {
    const run = (seed: number) => {
      const s = new TokenSampler(sampling({ temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.1 }), Prng.stream(seed, 'sampling'), [1, 2, 3]);
      return Array.from({ length: 50 }, (_, t) => s.next(randomLogits(200, 1000 + t, 1)));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it('matches the softmax in frequency at temperature 1 (seeded, 20 000 draws)', () => {
    const probs = [0.4, 0.3, 0.2, 0.1];
    const rng = Prng.stream(5, 'freq');
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken(logitsOf(probs), sampling({}), rng)]++;
    counts.forEach((c, i) => expect(Math.abs(c / 20000 - probs[i])).toBeLessThan(0.015));
  });

  it('temperature sharpens (T < 1) and flattens (T > 1) as softmax(x / T)', () => {
    // probs [0.8, 0.2] at T = 0.5 become [0.64, 0.04]/0.68: token 1 needs u > 0.941…
    const logits = logitsOf([0.8, 0.2]);
    expect(sampleToken(logits, sampling({ temperature: 0.5 }), new FixedDraws([0.94]))).toBe(0);
    expect(sampleToken(logits, sampling({ temperature: 0.5 }), new FixedDraws([0.942]))).toBe(1);
    // at T = 2: sqrt(0.8) : sqrt(0.2) = 2 : 1, token 1 from u > 2/3
    expect(sampleToken(logits, sampling({ temperature: 2 }), new FixedDraws([0.66]))).toBe(0);
    expect(sampleToken(logits, sampling({ temperature: 2 }), new FixedDraws([0.67]))).toBe(1);
  });

  it('top-k, top-p and temperature together equal the full-sort reference on a 5 000-token vocabulary', () => {
    const options = [sampling({ topP: 0.9 }), sampling({ topP: 0.3, temperature: 0.7 }), sampling({ topK: 50, topP: 0.8 }), sampling({ topK: 7 }), sampling({ temperature: 3, topP: 0.99 })];
    for (let seed = 0; seed < 6; seed++) {
      const logits = randomLogits(5000, seed, 8);
      for (const o of options) for (const u of [0, 0.123, 0.5, 0.87, 0.999]) expect(sampleToken(logits, o, new FixedDraws([u]))).toBe(referenceSample(logits, o, u));
    }
  });
});

describe('top-p (nucleus)', () => {
  const logits = logitsOf([0.5, 0.3, 0.2]);
  const pick = (topP: number, u: number) => sampleToken(logits, sampling({ topP }), new FixedDraws([u]));

  it('keeps a token iff the mass before it is < p: p = 0.5 keeps one token, p = 0.51 keeps two', () => {
    expect([0, 0.5, 0.999].map((u) => pick(0.5, u))).toEqual([0, 0, 0]);
    // two kept, renormalized 0.625 / 0.375
    expect([0.62, 0.63, 0.999].map((u) => pick(0.51, u))).toEqual([0, 1, 1]);
  });

  it('p = 1 keeps everything, p = 0 keeps the top token alone', () => {
    expect(pick(1, 0.9)).toBe(2);
    expect([0, 0.999].map((u) => pick(0, u))).toEqual([0, 0]);
  });

  it('nucleusSize on ties takes the lower ids first, and always at least one', () => {
    expect(nucleusSize([0, 1, 2, 3], [1, 1, 1, 1], 0.5, 4)).toBe(2);
    expect(nucleusSize([0, 1, 2, 3], [1, 1, 1, 1], 0.51, 4)).toBe(3);
    expect(nucleusSize([2, 0], [1, 0, 3], 0, 4)).toBe(1);
    expect(sampleToken(Float32Array.of(0, 0, 0, 0), sampling({ topP: 0.5 }), new FixedDraws([0.99]))).toBe(1);
  });
});

describe('repetition penalty (CTRL, as transformers RepetitionPenaltyLogitsProcessor)', () => {
  it('divides positive logits by θ and multiplies the others, once per distinct context token', () => {
    expect(Array.from(penalizedLogits(Float32Array.of(2, -2, 0.5, 3, 0), [0, 1, 1, 1, 4], 2))).toEqual([1, -4, 0.5, 3, 0]);
    expect(Array.from(penalizedLogits(Float32Array.of(2, -2), [0, 1], 1))).toEqual([2, -2]);
  });

  it('changes the greedy choice away from a repeated token, and leaves the caller’s logits alone', () => {
    const logits = Float32Array.of(3, 2.9);
    expect(sampleToken(logits, { ...greedySampling, repetitionPenalty: 1.2 }, new FixedDraws([0]), [0])).toBe(1);
    expect(Array.from(logits)).toEqual([3, Math.fround(2.9)]);
    const sampler = new TokenSampler({ ...greedySampling, repetitionPenalty: 1.2 }, new FixedDraws([0]));
    expect([sampler.next(logits), sampler.next(logits)]).toEqual([0, 1]);
  });

  it('refuses context ids outside the vocabulary', () => {
    expect(() => penalizedLogits(Float32Array.of(1, 2), [2], 1.1)).toThrow(/outside the vocabulary/);
  });
});

describe('options', () => {
  it('names each bad option', () => {
    expect(samplingProblems(greedySampling)).toEqual([]);
    const problems = samplingProblems({ temperature: -1, topK: 1.5, topP: 1.2, repetitionPenalty: 0 });
    expect(problems.length).toBe(4);
    expect(() => new TokenSampler(sampling({ topP: NaN }), new FixedDraws([0]))).toThrow(/top-p/);
  });
});

describe('stop strings over streamed text', () => {
  it('finds a stop string split across tokens and returns only the text before it', () => {
    const m = new StopStringMatcher(['<|im_end|>']);
    expect(m.push('Hello <|im')).toEqual({ text: 'Hello ', stop: null });
    expect(m.push('_end|> and more')).toEqual({ text: '', stop: '<|im_end|>' });
    expect(m.stopped).toBe('<|im_end|>');
    expect(m.push('later')).toEqual({ text: '', stop: '<|im_end|>' });
  });

  it('releases held text once it can no longer start a stop string, and on flush', () => {
    const m = new StopStringMatcher(['\n\nUser:']);
    expect(m.push('a\n')).toEqual({ text: 'a', stop: null });
    expect(m.push('\nUs')).toEqual({ text: '', stop: null });
    expect(m.push('ed')).toEqual({ text: '\n\nUsed', stop: null });
    expect(m.push(' it\n')).toEqual({ text: ' it', stop: null });
    expect(m.flush()).toBe('\n');
    expect(m.stopped).toBeNull();
  });

  it('takes the earliest of several stop strings', () => {
    const m = new StopStringMatcher(['###', '\nUser:']);
    expect(m.push('answer\nUser: ### x')).toEqual({ text: 'answer', stop: '\nUser:' });
    expect(findStopString('ab###cd\n', ['\n', '###'])).toEqual({ at: 2, stop: '###' });
    expect(findStopString('abc', ['x'])).toBeNull();
  });

  it('gives the same text for any split of the stream into pieces', () => {
    const stops = ['</s>', 'STOP', 'SS'];
    const stopped = 'one <s two S/S ST STO <</ </s three </s> four SS';
    const open = 'one <s two S/S ST STO <</ </s three S';
    const rng = Prng.stream(9, 'splits');
    for (const text of [stopped, open]) {
      const found = findStopString(text, stops);
      const expected = found ? text.slice(0, found.at) : text;
      for (let trial = 0; trial < 200; trial++) {
        const m = new StopStringMatcher(stops);
        let out = '';
        for (let at = 0; at < text.length && m.stopped === null; ) {
          const n = 1 + rng.int(4);
          out += m.push(text.slice(at, at + n)).text;
          at += n;
        }
        if (m.stopped === null) out += m.flush();
        expect(out).toBe(expected);
        expect(m.stopped).toBe(found ? '</s>' : null);
      }
    }
  });

  it('refuses an empty stop string', () => {
    expect(() => new StopStringMatcher(['ok', ''])).toThrow(/empty/);
  });
});
