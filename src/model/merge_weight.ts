import type { Recorder } from '../engine/recorder.ts';
import { readF32 } from '../engine/readback.ts';
import type { Runtime } from '../engine/runtime.ts';
import { createTensor, GpuTensor, uploadTensor } from '../engine/tensor.ts';
import { dynamicMap } from '../formats/nf4_dynamic_map.ts';
import { matmulBackwardInput } from '../kernels/matmul.ts';
import { releaseNf4, uploadNf4, type HostNf4Weight } from '../kernels/nf4_alloc.ts';
import { recordNf4Dequantize } from '../kernels/nf4_dequantize.ts';
import { quantizeNf4OnGpu } from '../kernels/nf4_quantize.ts';
import { nf4RowMultiple, type Nf4Tensor } from '../kernels/nf4_tensor.ts';

// One LoRA merge on the GPU, in f32 (formats.md §2.4):  W[out, in] += scale · B[out, r] · A[r, in].
// That product is exactly matmul_backward_input's dX[M, K] = α·dY[M, N]·W[N, K] + β·dX with
// M = out, N = r, K = in, dY = B, "W" = A, dX = W, α = scale, β = 1; so no kernel of its own.
// W may be split by rows over several buffers (larger than one binding): each chunk is merged
// with the rows of B it covers. The base W comes as
//   f32        the original weight, decoded on the host (the full-precision merge)
//   f32 + NF4  the original weight, quantized to NF4 on the GPU as loading does and dequantized
//              back: what the adapter was trained against (PEFT's merge on a 4-bit model)
//   nf4        a bitsandbytes 4-bit weight from the checkpoint, dequantized on the GPU
// Everything allocated here is 'scratch' and released before returning.

export type MergeBase =
  | { kind: 'f32'; values: Float32Array }
  | { kind: 'f32-nf4'; values: Float32Array; doubleQuant: boolean }
  | { kind: 'nf4'; weight: HostNf4Weight };

export interface MergeLora {
  /** [r, in] row-major */
  a: Float32Array;
  /** [out, r] row-major */
  b: Float32Array;
  r: number;
  /** alpha / r, or alpha / √r with rsLoRA; rounded to f32 as the kernel's α. */
  scale: number;
}

/** W + scale·B·A as f32 [out·in], row-major; `lora` null returns the (dequantized) base alone. */
export async function mergeOnGpu(rt: Runtime, label: string, shape: readonly [number, number], base: MergeBase, lora: MergeLora | null): Promise<Float32Array> {
  const [out, inF] = shape;
  const rowMultiple = base.kind === 'f32' ? 1 : nf4RowMultiple(inF);
  const w = createTensor(rt.arena, `${label} (merge)`, 'f32', [out, inF], 'scratch', { rowMultiple });
  const owned: GpuTensor[] = [w];
  let nf4: Nf4Tensor | null = null;
  try {
    if (base.kind === 'nf4') {
      nf4 = uploadNf4(rt, `${label} (nf4)`, base.weight, 'scratch');
    } else {
      uploadTensor(rt.device, w, base.values);
      if (base.kind === 'f32-nf4') nf4 = await quantizeNf4OnGpu(rt, `${label} (nf4)`, w, base.doubleQuant ? dynamicMap() : null);
    }
    let a: GpuTensor | null = null;
    const bRows: GpuTensor[] = [];
    if (lora) {
      checkLora(label, shape, lora);
      a = createTensor(rt.arena, `${label} lora_A`, 'f32', [lora.r, inF], 'scratch');
      owned.push(a);
      uploadTensor(rt.device, a, lora.a);
      for (const c of w.chunks) {
        const b = createTensor(rt.arena, `${label} lora_B rows ${c.rowStart}..`, 'f32', [c.rows, lora.r], 'scratch');
        owned.push(b);
        uploadTensor(rt.device, b, lora.b.subarray(c.rowStart * lora.r, (c.rowStart + c.rows) * lora.r));
        bRows.push(b);
      }
    }
    await rt.arena.checkAllocations();
    await rt.run(`merge ${label}`, (rec) => {
      if (nf4) recordNf4Dequantize(rt, rec, nf4, w);
      if (lora && a) recordLoraMerge(rt, rec, w, a, bRows, lora.scale);
    });
    return await readF32(rt.device, w);
  } finally {
    if (nf4) releaseNf4(rt, nf4);
    for (const t of owned) for (const c of t.chunks) rt.arena.release(c.buffer);
  }
}

/**
 * Records W += scale·B·A for each row chunk of W (f32 [out, in]); `bRows[i]` holds the rows of
 * B (f32 [chunk rows, r]) that chunk i covers; A is f32 [r, in].
 */
export function recordLoraMerge(rt: Runtime, rec: Recorder, w: GpuTensor, a: GpuTensor, bRows: readonly GpuTensor[], scale: number): number {
  const inF = w.shape[1];
  let dispatches = 0;
  w.chunks.forEach((c, i) => {
    // The chunk as a tensor of its own: dX of the matmul, written in place (β = 1).
    const rows = new GpuTensor(`${w.label}[${i}]`, 'f32', [c.rows, inF], [{ ...c, rowStart: 0 }]);
    dispatches += matmulBackwardInput(rt, rec, { dy: bRows[i], w: a, dx: rows, alpha: scale, beta: 1 });
  });
  return dispatches;
}

function checkLora(label: string, [out, inF]: readonly [number, number], { a, b, r, scale }: MergeLora): void {
  if (!Number.isSafeInteger(r) || r < 1 || a.length !== r * inF || b.length !== out * r || !Number.isFinite(scale)) {
    throw new RangeError(`${label}: LoRA A has ${a.length} values and B ${b.length}, scale ${scale}; W [${out}, ${inF}] with r = ${r} needs ${r * inF} and ${out * r}`);
  }
}
