import type { ModelConfig } from '../formats/hf_config.ts';
import type { LinearModule } from '../formats/tensor_names.ts';
import type { GpuTensor } from '../engine/tensor.ts';
import type { Nf4Tensor } from '../kernels/nf4_tensor.ts';

// The frozen base model as it sits on the GPU. Decoder-layer Linear weights are NF4 (QLoRA) or,
// with `--quant none`, f32; embeddings, norms, biases and lm_head stay f32.

/** A frozen nn.Linear weight [out, in] (+ bias [out]). */
export type BaseLinear =
  | { kind: 'nf4'; weight: Nf4Tensor; bias?: GpuTensor }
  | { kind: 'dense'; weight: GpuTensor; bias?: GpuTensor };

export interface LayerWeights {
  inputNorm: GpuTensor; // (C)
  postAttentionNorm: GpuTensor; // (C)
  /** Qwen3 per-head RMSNorm weights on q and k, (head_dim). */
  qNorm?: GpuTensor;
  kNorm?: GpuTensor;
  linear: Record<LinearModule, BaseLinear>;
}

export interface BaseWeights {
  config: ModelConfig;
  embed: GpuTensor; // (V, C), may be split in row chunks
  layers: LayerWeights[];
  norm: GpuTensor; // (C)
  /** (V, C); the same tensor as `embed` when the embeddings are tied. */
  lmHead: GpuTensor;
}

/** What loading measured: GPU bytes by category and the density of the quantized base. */
export interface LoadReport {
  /** Parameters of the model (tied embeddings once). */
  parameters: number;
  /** Parameters held in NF4 (the decoder-layer linear weights), 0 with --quant none. */
  quantizedParameters: number;
  /** GPU bytes of those NF4 weights: packed nibbles + absmax (or its 8-bit codes) + DQ state. */
  quantizedBytes: number;
  /** 8 · quantizedBytes / quantizedParameters: ≈ 4.127 with double quantization, 4.5 without. */
  bitsPerParameter: number;
  /** Live GPU bytes by arena category after loading. */
  gpuBytes: Record<string, number>;
  /** The most tensor bytes held on the CPU side at once while loading. */
  peakHostBytes: number;
  /** Where the NF4 weights came from: quantized on the GPU while loading, or read pre-quantized. */
  source: 'quantized-on-load' | 'pre-quantized' | 'unquantized';
}
