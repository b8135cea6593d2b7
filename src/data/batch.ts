// The batch record the GPU trainer consumes: plain typed arrays, row-major, ready to upload
// (and structured-cloneable, so it crosses the worker boundary with Comlink.transfer).
//
//   inputIds   Int32Array (B*T)  token ids; padding = the tokenizer's pad id
//   labels     Int32Array (B*T)  aligned with inputIds, NOT shifted: the loss at position t is
//                                CE(logits[t], labels[t+1]) (formats.md §5.1); the loss kernel
//                                shifts. -100 = no loss: prompts, padding, and the first token of
//                                every example (so no example predicts across a boundary, as TRL's
//                                padding-free collator does, §6.5). A row's last target compares
//                                with nothing (the shift pads with -100).
//   positions  Int32Array (B*T)  RoPE positions, 0 at the first token of each example; 0 on padding
//   segmentIds Int32Array (B*T)  1, 2, … for the examples of a row in order; 0 = padding.
//                                Token i attends token j (same row) iff j ≤ i and
//                                segmentIds[j] == segmentIds[i] != 0.
//   lengths    Int32Array (B)    real tokens per row; they are contiguous from column 0, padding
//                                fills [lengths[b], T)
//   B, T                         rows, and columns rounded up to a multiple of 8 (the pad multiple)
//   numTargets                   count(labels != -100): this batch's share of the §5.2 normalizer
//   numExamples                  examples in the batch (rows, unless packing)
//
// Without packing every row holds one example (segment 1); with packing several.

export interface Batch {
  B: number;
  T: number;
  inputIds: Int32Array;
  labels: Int32Array;
  positions: Int32Array;
  segmentIds: Int32Array;
  lengths: Int32Array;
  numTargets: number;
  numExamples: number;
}

/** What collate needs of an example: its ids and (unshifted) labels, same length. */
export interface TokenRow {
  inputIds: Int32Array;
  labels: Int32Array;
}

export const ignoreIndex = -100;

/** The columns of a batch whose longest row has `longest` tokens. */
export function paddedLength(longest: number, padMultiple: number): number {
  return Math.max(padMultiple, Math.ceil(longest / padMultiple) * padMultiple);
}

/** Builds one batch; `rows[b]` lists the examples placed in row b, in order. */
export function collate(examples: readonly TokenRow[], rows: readonly (readonly number[])[], padId: number, padMultiple = 8): Batch {
  const B = rows.length;
  const lengths = new Int32Array(B);
  let longest = 0;
  rows.forEach((row, b) => {
    for (const i of row) lengths[b] += examples[i].inputIds.length;
    longest = Math.max(longest, lengths[b]);
  });
  const T = paddedLength(longest, padMultiple);
  const inputIds = new Int32Array(B * T).fill(padId);
  const labels = new Int32Array(B * T).fill(ignoreIndex);
  const positions = new Int32Array(B * T);
  const segmentIds = new Int32Array(B * T);
  let numExamples = 0;
  rows.forEach((row, b) => {
    let at = b * T;
    row.forEach((i, s) => {
      const ex = examples[i];
      const n = ex.inputIds.length;
      inputIds.set(ex.inputIds, at);
      labels.set(ex.labels, at);
      labels[at] = ignoreIndex;
      segmentIds.fill(s + 1, at, at + n);
      for (let t = 0; t < n; t++) positions[at + t] = t;
      at += n;
      numExamples++;
    });
  });
  let numTargets = 0;
  for (let k = 0; k < labels.length; k++) if (labels[k] !== ignoreIndex) numTargets++;
  return { B, T, inputIds, labels, positions, segmentIds, lengths, numTargets, numExamples };
}
