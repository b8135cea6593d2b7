// The pair one RoPE thread rotates, shared by rope_forward and rope_backward (HF half-split
// layout, formats.md §4.3): thread i < rows·heads·D/2 takes elements at and at + D/2 of one head of
// one token row, with θ = f32(pos[row])·inv_freq[j], the f32 product torch forms.
// Needs lib/sin_cos.wgsl. Contract with the shader that includes this file: it declares the
// bindings `positions: array<i32>` (rows) and `inv_freq: array<f32>` (D/2) and a uniform `params`
// with `heads: u32` and `head_dim: u32`.

struct RopePair {
  at: u32,   // flat index of the first element; the second is at + half
  half: u32, // D/2
  s: f32,    // sin θ
  c: f32,    // cos θ
}

fn rope_pair(i: u32) -> RopePair {
  let half = params.head_dim / 2u;
  let j = i % half;
  let row_head = i / half;
  let row = row_head / params.heads;
  let sc = sin_cos(f32(positions[row]) * inv_freq[j]);
  return RopePair(row_head * params.head_dim + j, half, sc.x, sc.y);
}
