// Causal-LM cross-entropy in float64 (formats.md §5.1, §5.2), the definition the GPU kernel is
// checked against. Logit row r (token t of sequence b, r = b·T + t) predicts labels[b·T + t + 1]
// when the labels are unshifted (transformers shifts inside the loss; the last token of each
// sequence predicts the padded -100), or labels[r] when the caller already shifted them.
// A target of -100 (or anything outside [0, V)) is ignored: loss 0 and gradient 0.
//
//   loss[r]    = logsumexp(z_r) − z_r[y_r]
//   dlogits[r] = (softmax(z_r) − onehot(y_r)) · scale      (scale = 1 / trained tokens of the step)

export const IGNORE_INDEX = -100;

/** The target of logit row `row`: the shift inside the loss, as transformers does it. */
export function targetOf(labels: ArrayLike<number>, row: number, seqLen: number, shift: boolean): number {
  if (!shift) return labels[row];
  return row % seqLen === seqLen - 1 ? IGNORE_INDEX : labels[row + 1];
}

export function isTrained(target: number, vocab: number): boolean {
  return target >= 0 && target < vocab;
}

/** Per-row losses of logits (rows, V); ignored rows give 0. */
export function crossEntropyForward(logits: ArrayLike<number>, labels: ArrayLike<number>, rows: number, vocab: number, seqLen: number, shift = true): Float64Array {
  const loss = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const y = targetOf(labels, r, seqLen, shift);
    if (!isTrained(y, vocab)) continue;
    loss[r] = logSumExp(logits, r * vocab, vocab) - logits[r * vocab + y];
  }
  return loss;
}

/** d(scale · Σ loss) / d logits. */
export function crossEntropyBackward(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  rows: number,
  vocab: number,
  seqLen: number,
  scale: number,
  shift = true,
): Float64Array {
  const grad = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const y = targetOf(labels, r, seqLen, shift);
    if (!isTrained(y, vocab)) continue;
    const lse = logSumExp(logits, r * vocab, vocab);
    for (let c = 0; c < vocab; c++) grad[r * vocab + c] = (Math.exp(logits[r * vocab + c] - lse) - (c === y ? 1 : 0)) * scale;
  }
  return grad;
}

/** Number of trained (shifted) targets: the N of the §5.2 normalization. */
export function countTrained(labels: ArrayLike<number>, rows: number, vocab: number, seqLen: number, shift = true): number {
  let n = 0;
  for (let r = 0; r < rows; r++) if (isTrained(targetOf(labels, r, seqLen, shift), vocab)) n++;
  return n;
}

function logSumExp(x: ArrayLike<number>, start: number, n: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[start + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[start + i] - max);
  return max + Math.log(sum);
}
