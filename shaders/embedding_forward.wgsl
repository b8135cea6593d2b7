// embedding_forward — token embedding gather (formats.md §4.3: h = embed_tokens[ids], no scale):
//   out[t, c] = E[ids[t], c]
// E (V, C) may be split by rows into chunks that each fit one binding; the launcher dispatches
// once per chunk and each dispatch writes only the tokens whose id falls in its rows
// [row_start, row_start + chunk_rows). An id outside [0, vocab) gets a row of zeros, written by
// the dispatch of the first chunk (row_start = 0): the data layer rejects such ids, the kernel
// only promises never to read out of bounds. Frozen: there is no backward.
//
// Dispatch: one thread per output element, tokens·C threads in workgroups of WG, as
// grid(ceil(n / WG)) over (x, y).

override WG: u32 = 256;

struct Params { tokens: u32, cols: u32, vocab: u32, row_start: u32, chunk_rows: u32 }

@group(0) @binding(0) var<storage, read> ids: array<i32>; // (tokens)
@group(0) @binding(1) var<storage, read> table: array<f32>; // (chunk_rows, C) — rows row_start.. of E
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // (tokens, C)
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.tokens * params.cols) { return; }
  let t = i / params.cols;
  let c = i % params.cols;
  let id = ids[t];
  if (id < 0 || u32(id) >= params.vocab) {
    if (params.row_start == 0u) { out[i] = 0.0; }
    return;
  }
  let local = u32(id) - params.row_start; // wraps past chunk_rows when id < row_start
  if (local < params.chunk_rows) { out[i] = table[local * params.cols + c]; }
}
