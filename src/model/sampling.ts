// Choosing the next token from one position's logits (V,) on the CPU, after the GPU's readback,
// in the order transformers applies its processors for `generate(do_sample=True)`:
//
//   1. repetition penalty (RepetitionPenaltyLogitsProcessor, CTRL, Keskar et al. 2019): for every
//      distinct token already in the context (prompt and generated), x ← x / θ if x > 0, x·θ if not
//   2. temperature 0: greedy — the argmax, the lowest id on a tie; nothing else applies
//   3. temperature T > 0: x ← x / T
//   4. top-k: keep the k largest (ties broken toward the lower id, so top-k = 1 is greedy exactly;
//      transformers keeps every token tied with the k-th)
//   5. top-p (TopPLogitsWarper): over the survivors' softmax, sorted by probability, keep the
//      smallest prefix whose mass reaches p — a token is kept iff the mass before it is < p —
//      always at least one token
//   6. draw u ~ U[0, 1) from the caller's seeded stream and take the first token, in that sorted
//      order (or id order when neither top-k nor top-p cut anything), whose cumulative
//      probability exceeds u
//
// Arithmetic is float64 on a copy; the caller's logits are never modified. Seeded runs repeat
// exactly: the only randomness is one `rng.float()` per sampled token (none for greedy).

export interface SamplingOptions {
  /** 0: greedy. > 0: logits are divided by it before sampling. */
  temperature: number;
  /** Keep the k most likely tokens; 0: off. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p, in [0, 1]; 1: off. */
  topP: number;
  /** θ > 0 of the CTRL repetition penalty; 1: off. */
  repetitionPenalty: number;
}

export const greedySampling: SamplingOptions = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 };

/** Uniform draws in [0, 1). train/rng.ts's Prng is one (its `float()`); model/ takes it by shape only. */
export interface UniformSource {
  float(): number;
}

/** What is wrong with the options, one line each; empty when they are usable. */
export function samplingProblems(o: SamplingOptions): string[] {
  const problems: string[] = [];
  if (!(Number.isFinite(o.temperature) && o.temperature >= 0)) problems.push(`temperature must be a number ≥ 0 (0 = greedy), got ${o.temperature}`);
  if (!(Number.isSafeInteger(o.topK) && o.topK >= 0)) problems.push(`top-k must be an integer ≥ 0 (0 = off), got ${o.topK}`);
  if (!(o.topP >= 0 && o.topP <= 1)) problems.push(`top-p must be in [0, 1] (1 = off), got ${o.topP}`);
  if (!(Number.isFinite(o.repetitionPenalty) && o.repetitionPenalty > 0)) problems.push(`repetition penalty must be a number > 0 (1 = off), got ${o.repetitionPenalty}`);
  return problems;
}

/** The penalized logits as float64: x/θ for x > 0 and x·θ otherwise, at every distinct id of `context`. */
export function penalizedLogits(logits: Float32Array, context: Iterable<number>, penalty: number): Float64Array {
  const out = new Float64Array(logits.length);
  out.set(logits); // widening through set() is ~8x faster in V8 than the Float64Array(Float32Array) constructor
  if (penalty === 1) return out;
  const seen = new Set<number>();
  for (const id of context) {
    if (!Number.isInteger(id) || id < 0 || id >= logits.length) throw new RangeError(`context token ${id} is outside the vocabulary 0..${logits.length - 1}`);
    if (seen.has(id)) continue;
    seen.add(id);
    const x = logits[id];
    out[id] = x > 0 ? x / penalty : x * penalty;
  }
  return out;
}

/** Index of the largest value, the first one on a tie. Throws on NaN or when every value is −∞. */
export function argmax(values: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) throw new RangeError(`logit ${i} is NaN`);
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  if (best < 0) throw new RangeError(values.length === 0 ? 'no logits to choose from' : 'every logit is −∞: no token can be chosen');
  return best;
}

/** The k largest values' indices, largest first, the lower index first among equals. */
export function topKIndices(values: ArrayLike<number>, k: number): number[] {
  const keep = Math.min(k, values.length);
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // Ids arrive in increasing order, so an equal value never displaces one already held.
    if (idx.length === keep && !(v > val[keep - 1])) continue;
    let at = idx.length === keep ? keep - 1 : idx.length;
    while (at > 0 && v > val[at - 1]) {
      idx[at] = idx[at - 1];
      val[at] = val[at - 1];
      at--;
    }
    idx[at] = i;
    val[at] = v;
  }
  return idx.slice(0, keep);
}

/**
 * How many of `order` (token ids sorted by weight, largest first) top-p keeps: a token stays iff
 * the weight before it is < p · total, and at least one stays. Weights need not be normalized.
 */
export function nucleusSize(order: readonly number[], weights: ArrayLike<number>, p: number, total: number): number {
  const target = p * total;
  let before = 0;
  let n = 0;
  while (n < order.length && (n === 0 || before < target)) before += weights[order[n++]];
  return n;
}

/** The power-of-two bucket of a weight in (0, 1]: b with w in (2^-(b+1), 2^-b]. */
function bucketOf(w: number): number {
  return Math.floor(-Math.log2(w));
}

/**
 * A superset of the top-p nucleus, sorted by weight, largest first (lower id first on a tie),
 * without sorting the whole vocabulary. Weights are exp(x − max), so the largest is 1; they are
 * bucketed by powers of two and whole buckets are taken from the top until they hold p of the
 * mass. Every token taken outweighs or ties every token left, so the nucleus lies inside.
 */
function nucleusCandidates(weights: Float64Array, p: number, total: number): number[] {
  const buckets = new Float64Array(1076); // the smallest positive double is 2^-1074
  for (let i = 0; i < weights.length; i++) if (weights[i] > 0) buckets[bucketOf(weights[i])] += weights[i];
  let last = 0;
  let mass = buckets[0];
  while (mass < p * total && last < buckets.length - 1) mass += buckets[++last];
  const ids: number[] = [];
  // Filtered by the same bucketOf as the sums above, so rounding in log2 cannot drop a counted token.
  for (let i = 0; i < weights.length; i++) if (weights[i] > 0 && bucketOf(weights[i]) <= last) ids.push(i);
  return ids.sort((a, b) => weights[b] - weights[a] || a - b);
}

/**
 * The next token. `context` is every token id the penalty looks at (prompt and generated so
 * far); `rng` is drawn once unless the choice is greedy.
 */
export function sampleToken(logits: Float32Array, options: SamplingOptions, rng: UniformSource, context: Iterable<number> = []): number {
  const problems = samplingProblems(options);
  if (problems.length > 0) throw new RangeError(problems.join('; '));
  const x = penalizedLogits(logits, context, options.repetitionPenalty);
  const top = argmax(x);
  // An infinite logit is certain (softmax would give ∞/∞ = NaN): take it, as greedy would.
  if (options.temperature === 0 || x[top] === Infinity) return top;

  const T = options.temperature;
  const maxScaled = x[top] / T;
  const weights = new Float64Array(x.length);
  let total = 0;
  // null: every id, in id order (plain loops: iterating a 150k vocabulary through an iterator is 3x slower)
  let candidates: number[] | null = null;
  if (options.topK > 0 && options.topK < x.length) {
    candidates = topKIndices(x, options.topK);
    for (const i of candidates) total += weights[i] = Math.exp(x[i] / T - maxScaled);
  } else {
    for (let i = 0; i < x.length; i++) total += weights[i] = Math.exp(x[i] / T - maxScaled);
  }
  if (options.topP < 1) {
    candidates ??= nucleusCandidates(weights, options.topP, total);
    candidates = candidates.slice(0, nucleusSize(candidates, weights, options.topP, total));
    total = candidates.reduce((sum, i) => sum + weights[i], 0);
  }

  const target = rng.float() * total;
  let cumulative = 0;
  let last = top;
  const n = candidates ? candidates.length : x.length;
  for (let j = 0; j < n; j++) {
    const i = candidates ? candidates[j] : j;
    if (weights[i] === 0) continue;
    cumulative += weights[i];
    last = i;
    if (cumulative > target) return i;
  }
  return last; // rounding left the target a hair above the sum: the last token with any weight
}

/**
 * Sampling state across one generation: the options, the seeded stream, and the tokens seen so
 * far for the repetition penalty (the prompt, then each token as it is chosen).
 */
export class TokenSampler {
  private readonly context: number[];

  constructor(
    readonly options: SamplingOptions,
    private readonly rng: UniformSource,
    prompt: readonly number[] = [],
  ) {
    const problems = samplingProblems(options);
    if (problems.length > 0) throw new RangeError(problems.join('; '));
    this.context = prompt.slice();
  }

  /** Chooses the next token from this position's logits and records it. */
  next(logits: Float32Array): number {
    const id = sampleToken(logits, this.options, this.rng, this.context);
    this.context.push(id);
    return id;
  }
}

/** Where the earliest of `stops` starts in `text`, and which one (the longest on a shared start); null when none occurs. */
export function findStopString(text: string, stops: readonly string[]): { at: number; stop: string } | null {
  let found: { at: number; stop: string } | null = null;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && (found === null || at < found.at || (at === found.at && stop.length > found.stop.length))) found = { at, stop };
  }
  return found;
}

/**
 * Stop strings over streamed text. Generation decodes a little text per token; a stop string may
 * arrive split across several tokens ("<|im_" + "end|>"), so text that could still be the start
 * of one is held back until it either completes the stop string or cannot any more. What `push`
 * returns is final: it never has to be taken back from the screen. The stop string itself is not
 * returned (as OpenAI-style APIs and vLLM do; transformers keeps it in the tokens).
 */
export class StopStringMatcher {
  private held = '';
  private stoppedAt: string | null = null;

  constructor(readonly stops: readonly string[]) {
    if (stops.some((s) => s === '')) throw new RangeError('a stop string cannot be empty');
  }

  /** The stop string found, or null while generation may go on. */
  get stopped(): string | null {
    return this.stoppedAt;
  }

  /** Takes newly decoded text; returns the text safe to show now, and the stop string when it was completed. */
  push(delta: string): { text: string; stop: string | null } {
    if (this.stoppedAt !== null) return { text: '', stop: this.stoppedAt };
    const text = this.held + delta;
    const found = findStopString(text, this.stops);
    if (found !== null) {
      this.held = '';
      this.stoppedAt = found.stop;
      return { text: text.slice(0, found.at), stop: found.stop };
    }
    const keep = this.partialSuffix(text);
    this.held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep), stop: null };
  }

  /** At the end of generation (EOS, length): the text held back, which no stop string completed. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private partialSuffix(text: string): number {
    let best = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > best; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
