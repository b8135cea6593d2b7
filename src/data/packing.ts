// Packing several examples into one row of at most `capacity` tokens, with best-fit decreasing:
// TRL's default `packing_strategy="bfd"` (formats.md §6.5). Examples keep their boundaries (the
// batch gives every example its own segment id and positions from 0), and none is split: each is
// already truncated to max_length, which is also the capacity.

/**
 * Rows of example indices. Examples are placed longest first (ties: file order), each into the
 * open row with the least room left that still fits it, else into a new row. Finding that row is
 * a search over remaining room 0..capacity in a segment tree, O(log capacity) per example.
 */
export function packBestFitDecreasing(lengths: ArrayLike<number>, capacity: number): number[][] {
  const order = Array.from({ length: lengths.length }, (_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const rows: number[][] = [];
  const room = new RoomIndex(capacity);
  for (const i of order) {
    const need = lengths[i];
    if (need > capacity || need <= 0) throw new RangeError(`example ${i} has ${need} tokens; packing needs 1..${capacity}`);
    const row = room.takeAtLeast(need);
    if (row === null) {
      rows.push([i]);
      room.add(rows.length - 1, capacity - need);
    } else {
      rows[row.row].push(i);
      room.add(row.row, row.room - need);
    }
  }
  return rows;
}

/** Open rows bucketed by remaining room, with a count tree to find the smallest room ≥ n. */
class RoomIndex {
  private readonly buckets: number[][];
  private readonly size: number;
  private readonly counts: Int32Array; // segment tree over room values; leaves at [size, 2*size)

  constructor(capacity: number) {
    this.buckets = Array.from({ length: capacity + 1 }, () => []);
    let size = 1;
    while (size < capacity + 1) size *= 2;
    this.size = size;
    this.counts = new Int32Array(2 * size);
  }

  add(row: number, room: number): void {
    if (room <= 0) return; // a full row takes nothing more
    this.buckets[room].push(row);
    this.bump(room, 1);
  }

  /** Removes and returns the open row with the least room ≥ n, or null. */
  takeAtLeast(n: number): { row: number; room: number } | null {
    const room = this.firstNonEmpty(1, 0, this.size - 1, n);
    if (room < 0) return null;
    this.bump(room, -1);
    return { row: this.buckets[room].pop()!, room };
  }

  private bump(room: number, delta: number): void {
    for (let node = room + this.size; node >= 1; node >>= 1) this.counts[node] += delta;
  }

  private firstNonEmpty(node: number, lo: number, hi: number, n: number): number {
    if (hi < n || this.counts[node] === 0) return -1;
    if (lo === hi) return lo;
    const mid = (lo + hi) >> 1;
    const left = this.firstNonEmpty(2 * node, lo, mid, n);
    return left >= 0 ? left : this.firstNonEmpty(2 * node + 1, mid + 1, hi, n);
  }
}
