// Cross-entropy over the vocabulary for one chunk of logit rows, forward and backward fused
// (formats.md §5.1, §5.2): the full (B·T, V) logits never exist at once, only this chunk.
//   lse_r = max_r + log Σ_c exp(z_rc − max_r)        (fp32, online max/sum: safe at ±1e4)
//   loss[row_start + r] = lse_r − z_r[y_r]            (0 where y_r is ignored)
//   z_r ← (softmax(z_r) − onehot(y_r)) · grad_scale   (in place, when write_grad; 0 where ignored)
// Targets: with shift = 1 the labels are the unshifted (B·T) labels of the data layer and row
// r of the chunk (token g = row_start + r, position t = g mod T) predicts labels[g + 1], the
// last position of each sequence predicting nothing (transformers shifts inside the loss). With
// shift = 0 the caller already shifted them and row r predicts labels[g]. A target of -100, or
// anything outside [0, V), is ignored.
// Dispatch: one workgroup of WG threads per row, rows spread over (x, y) by grid(rows).
// grad_scale is 1 / (trained targets of the whole optimizer step), so the gradients of every
// micro-batch of the step add up to the gradient of the step's token-mean loss.

override WG: u32 = 256u; // a power of two (tree reduction)

const MASKED: f32 = -3.0e38;

struct Params { rows: u32, vocab: u32, row_start: u32, seq_len: u32, shift: u32, write_grad: u32, grad_scale: f32 }

@group(0) @binding(0) var<storage, read_write> logits: array<f32>; // (rows, V): in, then dlogits
@group(0) @binding(1) var<storage, read> labels: array<i32>;       // (B*T)
@group(0) @binding(2) var<storage, read_write> row_loss: array<f32>; // (B*T)
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> red_max: array<f32, WG>;
var<workgroup> red_sum: array<f32, WG>;

@compute @workgroup_size(WG)
fn cross_entropy_fused(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= params.rows) {
    return;
  }
  let V = params.vocab;
  let base = r * V;

  // Per-thread online max and rescaled sum over a strided slice of the row.
  var m = MASKED;
  var s = 0.0;
  for (var c = tid; c < V; c += WG) {
    let z = logits[base + c];
    if (z > m) {
      s = s * exp(m - z) + 1.0;
      m = z;
    } else {
      s += exp(z - m);
    }
  }
  red_max[tid] = m;
  red_sum[tid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) {
      let m1 = red_max[tid];
      let m2 = red_max[tid + stride];
      let mm = max(m1, m2);
      red_sum[tid] = red_sum[tid] * exp(m1 - mm) + red_sum[tid + stride] * exp(m2 - mm);
      red_max[tid] = mm;
    }
    workgroupBarrier();
  }
  let lse = red_max[0] + log(red_sum[0]);

  let g = params.row_start + r;
  var label = labels[g];
  if (params.shift != 0u) {
    label = select(labels[min(g + 1u, arrayLength(&labels) - 1u)], -100, g % params.seq_len == params.seq_len - 1u);
  }
  let trained = label >= 0 && u32(label) < V;
  let y = select(0u, u32(label), trained);
  if (tid == 0u) {
    row_loss[g] = select(0.0, lse - logits[base + y], trained);
  }
  if (params.write_grad == 0u) {
    return;
  }
  // Thread 0 has read z[y] for the loss: overwrite the row only after it has.
  workgroupBarrier();
  let scale = select(0.0, params.grad_scale, trained);
  for (var c = tid; c < V; c += WG) {
    let p = exp(logits[base + c] - lse);
    logits[base + c] = (p - select(0.0, 1.0, c == y)) * scale;
  }
}
