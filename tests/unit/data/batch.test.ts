import { describe, expect, it } from 'vitest';
import { collate, type TokenRow } from '../../../src/data/batch.ts';
import { packBestFitDecreasing } from '../../../src/data/packing.ts';
import { Batcher } from '../../../src/data/sampler.ts';
import { splitTrainEval } from '../../../src/data/split.ts';
import { Rng } from '../../helpers/rng.ts';

/** An example of `n` tokens with ids base+0.. and every label but the first trained. */
function row(n: number, base = 100): TokenRow {
  const inputIds = Int32Array.from({ length: n }, (_, i) => base + i);
  const labels = Int32Array.from(inputIds, (id, i) => (i === 0 ? -100 : id));
  return { inputIds, labels };
}

const pad = 0;

describe('collate', () => {
  it('pads one example per row to a multiple of 8 with pad id, -100, position 0, segment 0', () => {
    const b = collate([row(3, 10), row(10, 20)], [[0], [1]], pad);
    expect([b.B, b.T, Array.from(b.lengths), b.numExamples, b.numTargets]).toEqual([2, 16, [3, 10], 2, 2 + 9]);
    const r0 = (a: Int32Array) => Array.from(a.subarray(0, 16));
    expect(r0(b.inputIds)).toEqual([10, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(r0(b.labels)).toEqual([-100, 11, 12, ...Array(13).fill(-100)]);
    expect(r0(b.positions)).toEqual([0, 1, 2, ...Array(13).fill(0)]);
    expect(r0(b.segmentIds)).toEqual([1, 1, 1, ...Array(13).fill(0)]);
    expect(Array.from(b.positions.subarray(16, 32))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0]);
  });

  it('keeps packed boundaries: segments 1,2,3, positions restarting, first label of each example masked', () => {
    // Labels of the second example are fully trained on purpose: collate must still mask its first.
    const second: TokenRow = { inputIds: Int32Array.of(30, 31, 32), labels: Int32Array.of(30, 31, 32) };
    const b = collate([row(2, 10), second, row(4, 40)], [[0, 1, 2]], pad);
    expect([b.B, b.T, b.lengths[0], b.numExamples]).toEqual([1, 16, 9, 3]);
    expect(Array.from(b.inputIds.subarray(0, 10))).toEqual([10, 11, 30, 31, 32, 40, 41, 42, 43, 0]);
    expect(Array.from(b.segmentIds.subarray(0, 10))).toEqual([1, 1, 2, 2, 2, 3, 3, 3, 3, 0]);
    expect(Array.from(b.positions.subarray(0, 10))).toEqual([0, 1, 0, 1, 2, 0, 1, 2, 3, 0]);
    expect(Array.from(b.labels.subarray(0, 10))).toEqual([-100, 11, -100, 31, 32, -100, 41, 42, 43, -100]);
    expect(b.numTargets).toBe(6);
  });

  it('rounds an exact multiple of 8 to itself', () => {
    expect(collate([row(8)], [[0]], pad).T).toBe(8);
    expect(collate([row(1)], [[0]], pad).T).toBe(8);
  });
});

describe('packBestFitDecreasing', () => {
  it('places longest first into the fullest row that fits', () => {
    //  lengths 6, 5, 4, 3, 2 into 8: 6→A(2 left), 5→B(3), 4→C(4), 3→B(0), 2→A(0)
    expect(packBestFitDecreasing([3, 6, 2, 5, 4], 8)).toEqual([[1, 2], [3, 0], [4]]);
  });

  it('never exceeds capacity and places every example once', () => {
    const rng = new Rng(3);
    const lengths = Array.from({ length: 2000 }, () => rng.int(1, 300));
    const rows = packBestFitDecreasing(lengths, 512);
    const seen = rows.flat().sort((a, b) => a - b);
    expect(seen).toEqual(lengths.map((_, i) => i));
    for (const r of rows) expect(r.reduce((n, i) => n + lengths[i], 0)).toBeLessThanOrEqual(512);
    // BFD leaves little room: total tokens over rows*capacity.
    const fill = lengths.reduce((a, b) => a + b, 0) / (rows.length * 512);
    expect(fill).toBeGreaterThan(0.95);
  });

  it('refuses an example longer than a row', () => {
    expect(() => packBestFitDecreasing([9], 8)).toThrow(RangeError);
  });
});

describe('Batcher', () => {
  const rng = new Rng(11);
  const examples = Array.from({ length: 103 }, () => row(rng.int(2, 200)));

  it('visits every example once per epoch, in file order when asked', () => {
    const b = new Batcher(examples, pad, { batchSize: 8, order: 'file' });
    const plan = b.plan(0);
    expect(plan.flat()).toEqual(examples.map((_, i) => i));
    expect(plan.map((x) => x.length)).toEqual([...Array(12).fill(8), 7]);
    expect(b.batchesPerEpoch).toBe(13);
  });

  it('shuffles with the seed: the same per epoch, different across epochs and seeds', () => {
    const a = new Batcher(examples, pad, { batchSize: 8, seed: 1 });
    const again = new Batcher(examples, pad, { batchSize: 8, seed: 1 });
    expect(a.plan(0)).toEqual(again.plan(0));
    expect(a.plan(1)).not.toEqual(a.plan(0));
    expect(new Batcher(examples, pad, { batchSize: 8, seed: 2 }).plan(0)).not.toEqual(a.plan(0));
    expect(a.plan(3).flat().sort((x, y) => x - y)).toEqual(examples.map((_, i) => i));
  });

  it('groups by length to cut padding, longest batch first', () => {
    const grouped = new Batcher(examples, pad, { batchSize: 8, groupByLength: true });
    const random = new Batcher(examples, pad, { batchSize: 8, groupByLength: false });
    expect(grouped.summary(0).paddingFraction).toBeLessThan(random.summary(0).paddingFraction / 2);
    const first = grouped.plan(0)[0];
    const longest = Math.max(...examples.map((e) => e.inputIds.length));
    expect(Math.max(...first.map((i) => examples[i].inputIds.length))).toBe(longest);
  });

  it('packs rows within max length and yields batches whose segments are the examples', () => {
    const b = new Batcher(examples, pad, { batchSize: 4, packing: true, maxLength: 256 });
    expect(b.rows.length).toBeLessThan(examples.length / 2);
    let seen = 0;
    for (const batch of b.batches(0)) {
      expect(batch.T).toBeLessThanOrEqual(256);
      expect(batch.T % 8).toBe(0);
      seen += batch.numExamples;
      for (let r = 0; r < batch.B; r++) {
        const seg = batch.segmentIds.subarray(r * batch.T, (r + 1) * batch.T);
        const pos = batch.positions.subarray(r * batch.T, (r + 1) * batch.T);
        for (let t = 0; t < batch.lengths[r]; t++) {
          const starts = t === 0 || seg[t] !== seg[t - 1];
          expect(pos[t]).toBe(starts ? 0 : pos[t - 1] + 1);
          if (starts) expect(batch.labels[r * batch.T + t]).toBe(-100);
        }
      }
    }
    expect(seen).toBe(examples.length);
    const s = b.summary();
    expect(s.tokens).toBe(examples.reduce((n, e) => n + e.inputIds.length, 0));
  });
});

describe('splitTrainEval', () => {
  it('holds out round(n * ratio) examples chosen by the seed, both sides in file order', () => {
    const a = splitTrainEval(100, 0.1, 7);
    expect(a.eval).toHaveLength(10);
    expect(a.train).toHaveLength(90);
    expect([...a.train, ...a.eval].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(a.eval).toEqual([...a.eval].sort((x, y) => x - y));
    expect(splitTrainEval(100, 0.1, 7)).toEqual(a);
    expect(splitTrainEval(100, 0.1, 8).eval).not.toEqual(a.eval);
  });

  it('keeps at least one on each side, and none held out at ratio 0', () => {
    expect(splitTrainEval(3, 0.01, 1).eval).toHaveLength(1);
    expect(splitTrainEval(3, 0.99, 1).train).toHaveLength(1);
    expect(splitTrainEval(50, 0, 1).eval).toEqual([]);
    expect(() => splitTrainEval(10, 1, 1)).toThrow(RangeError);
  });
});
