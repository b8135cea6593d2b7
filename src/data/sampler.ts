import { collate, paddedLength, type Batch, type TokenRow } from './batch.ts';
import { packBestFitDecreasing } from './packing.ts';
import { seededRng, shuffleInPlace } from './rng.ts';

// Which examples go into which batch, epoch by epoch. First the examples become rows (one each,
// or packed several to a row), then each epoch orders the rows and cuts them into batches:
//
//   order "file"     rows in file order (packed rows in packing order), cut in sequence.
//   order "shuffle"  a permutation seeded by (seed, epoch). With groupByLength, the permutation is
//                    cut into megabatches of 50 batches, each sorted longest first and cut into
//                    batches, so rows of a batch have similar lengths and little padding — the
//                    scheme of HF's LengthGroupedSampler. The batch holding the longest row goes
//                    first, so running out of memory shows at step 1, not hours in.
//
// The last batch of an epoch may have fewer rows. Plans are cheap index lists; `batches()` builds
// each Batch only when asked, so one epoch of typed arrays is never all alive at once.

export interface BatchOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Several examples per row (best-fit decreasing) instead of one. */
  packing: boolean;
  /** Longest row; the packing capacity. Examples must already be at most this long. */
  maxLength: number;
  order: 'shuffle' | 'file';
  /** Only with order "shuffle". */
  groupByLength: boolean;
  seed: number;
  /** Row lengths are padded up to a multiple of this. */
  padMultiple: number;
}

export const defaultBatchOptions: BatchOptions = {
  batchSize: 4,
  packing: false,
  maxLength: 1024,
  order: 'shuffle',
  groupByLength: true,
  seed: 42,
  padMultiple: 8,
};

const megabatchFactor = 50;

/** Token accounting of one epoch's plan, for previews and memory estimates. */
export interface PlanSummary {
  batches: number;
  rows: number;
  /** Real tokens in all batches. */
  tokens: number;
  /** B*T summed over batches: what the GPU computes on. */
  slots: number;
  /** 1 - tokens/slots. */
  paddingFraction: number;
  /** Largest B*T of any batch. */
  largestBatchSlots: number;
}

export class Batcher {
  /** Example indices per row. */
  readonly rows: number[][];
  /** Real tokens per row. */
  readonly rowLengths: Int32Array;
  readonly options: BatchOptions;

  constructor(
    readonly examples: readonly TokenRow[],
    readonly padId: number,
    options: Partial<BatchOptions> = {},
  ) {
    this.options = { ...defaultBatchOptions, ...options };
    if (!Number.isInteger(this.options.batchSize) || this.options.batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${this.options.batchSize}`);
    const lengths = examples.map((e) => e.inputIds.length);
    this.rows = this.options.packing ? packBestFitDecreasing(lengths, this.options.maxLength) : lengths.map((_, i) => [i]);
    this.rowLengths = Int32Array.from(this.rows, (row) => row.reduce((n, i) => n + lengths[i], 0));
  }

  get batchesPerEpoch(): number {
    return Math.ceil(this.rows.length / this.options.batchSize);
  }

  /** Batches of row indices for `epoch` (0-based); the same epoch always gives the same plan. */
  plan(epoch: number): number[][] {
    const { batchSize, order, groupByLength, seed } = this.options;
    const ids = Array.from(this.rows, (_, i) => i);
    if (order === 'file') return chunk(ids, batchSize);
    shuffleInPlace(ids, seededRng(seed, epoch));
    if (!groupByLength) return chunk(ids, batchSize);
    const len = this.rowLengths;
    const batches: number[][] = [];
    for (const mega of chunk(ids, batchSize * megabatchFactor)) {
      mega.sort((a, b) => len[b] - len[a]);
      batches.push(...chunk(mega, batchSize));
    }
    let first = 0;
    batches.forEach((b, i) => {
      if (len[b[0]] > len[batches[first][0]]) first = i;
    });
    if (first > 0) [batches[0], batches[first]] = [batches[first], batches[0]];
    return batches;
  }

  /** The batches of one epoch, built one at a time. */
  *batches(epoch: number): Generator<Batch> {
    for (const batch of this.plan(epoch)) {
      yield collate(this.examples, batch.map((r) => this.rows[r]), this.padId, this.options.padMultiple);
    }
  }

  summary(epoch = 0): PlanSummary {
    const plan = this.plan(epoch);
    let tokens = 0;
    let slots = 0;
    let largestBatchSlots = 0;
    for (const batch of plan) {
      let longest = 0;
      for (const r of batch) {
        tokens += this.rowLengths[r];
        longest = Math.max(longest, this.rowLengths[r]);
      }
      const batchSlots = batch.length * paddedLength(longest, this.options.padMultiple);
      slots += batchSlots;
      largestBatchSlots = Math.max(largestBatchSlots, batchSlots);
    }
    return { batches: plan.length, rows: this.rows.length, tokens, slots, paddingFraction: slots === 0 ? 0 : 1 - tokens / slots, largestBatchSlots };
  }
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
