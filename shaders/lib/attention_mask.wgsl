// Which keys a query sees in causal attention over packed rows (formats.md §4.3), for
// attention_forward, attention_backward_dq and attention_backward_dkdv: key s is visible to query
// t of the same sequence iff s ≤ t, segment[s] == segment[t] and segment[t] ≥ 0 (a negative
// segment id marks padding: it attends to nothing and nothing attends to it).
// Contract with the shader that includes this file: it declares the read-only binding
// `segment: array<i32>` ((B*T), < 0 = padding) and a uniform `params` with `seq_len: u32`.

// The segment of query t of sequence b; -1 (sees nothing) for a tile row past the end.
fn query_segment(b: u32, t: u32) -> i32 {
  let T = params.seq_len;
  return select(-1, segment[b * T + min(t, T - 1u)], t < T);
}

// The segment of key s of sequence b; -2 (matches no query) for a tile row past the end.
fn key_segment(b: u32, s: u32) -> i32 {
  let T = params.seq_len;
  return select(-2, segment[b * T + min(s, T - 1u)], s < T);
}

// Whether key s (segment s_seg) is visible to query t (segment t_seg).
fn key_visible(t: u32, s: u32, t_seg: i32, s_seg: i32) -> bool {
  return s <= t && t_seg >= 0 && s_seg == t_seg;
}

// Tile bounds that packing allows (the loops of the three kernels skip tiles no pair of which is
// visible). They need each segment id of a row to occupy one run of positions (the batcher writes
// ascending ids, then −1 for the padding at the end), so "segment[i] == segment[t]" holds on one
// run around t and a binary search finds its ends in log2(T) reads. The arguments are
// workgroup-uniform and `segment` is read-only, so every thread gets the same result (WGSL's
// uniformity analysis agrees): it may bound a loop with barriers.

// The first position of the segment of position t (t < T, segment[t] ≥ 0) of sequence b: the first
// index in [0, t] whose segment equals segment[t].
fn segment_start(b: u32, t: u32) -> u32 {
  let row = b * params.seq_len;
  let seg = segment[row + t];
  var lo = 0u;
  var hi = t;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (segment[row + mid] == seg) {
      hi = mid;
    } else {
      lo = mid + 1u;
    }
  }
  return lo;
}

// The last position of the segment of position t (t < T, segment[t] ≥ 0) of sequence b: the last
// index in [t, T) whose segment equals segment[t].
fn segment_end(b: u32, t: u32) -> u32 {
  let row = b * params.seq_len;
  let seg = segment[row + t];
  var lo = t;
  var hi = params.seq_len - 1u;
  while (lo < hi) {
    let mid = hi - (hi - lo) / 2u;
    if (segment[row + mid] == seg) {
      lo = mid;
    } else {
      hi = mid - 1u;
    }
  }
  return lo;
}

// The first key that any query of the tile starting at q0 may see: the start of the segment of
// query q0 (any later query of the tile in another segment belongs to a run that starts after
// it). 0 when query q0 is padding or past the end.
fn first_visible_key(b: u32, q0: u32) -> u32 {
  if (q0 >= params.seq_len || segment[b * params.seq_len + q0] < 0) {
    return 0u;
  }
  return segment_start(b, q0);
}

// The last query that may see any key of a tile whose last key is k_last: the end of the segment
// of key k_last (any earlier key of the tile in another segment belongs to a run that ends
// before it). T − 1 when key k_last is padding or past the end.
fn last_seeing_query(b: u32, k_last: u32) -> u32 {
  if (k_last >= params.seq_len || segment[b * params.seq_len + k_last] < 0) {
    return params.seq_len - 1u;
  }
  return segment_end(b, k_last);
}
