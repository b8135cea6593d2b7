// Token embedding gather reference (formats.md §4.3: h = embed_tokens[ids], no scaling).
// Ids outside [0, vocab) give a row of zeros, as the GPU kernel does (the data layer is what
// rejects such ids; the kernel only promises not to read out of bounds).

export function embeddingForward(ids: ArrayLike<number>, table: ArrayLike<number>, vocab: number, cols: number): Float64Array {
  const out = new Float64Array(ids.length * cols);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (id < 0 || id >= vocab) continue;
    for (let c = 0; c < cols; c++) out[t * cols + c] = table[id * cols + c];
  }
  return out;
}
