// Which keys a query sees in causal attention over packed rows (formats.md §4.3), for
// attention_forward, attention_backward_dq and attention_backward_dkdv: key s is visible to query
// t of the same sequence iff s ≤ t, segment[s] == segment[t] and segment[t] ≥ 0 (a negative
// segment id marks padding: it attends to nothing and nothing attends to it).
// Contract with the shader that includes this file: it declares the binding
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
