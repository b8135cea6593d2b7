import { MEMORY_CATEGORIES, type MemoryCategory, type MemoryReport } from '../engine/arena.ts';
import { BufferTooLargeError } from '../engine/errors.ts';
import { planRowChunks } from '../engine/tensor.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { expectedTensors, isLinearBias, type LinearModule } from '../formats/tensor_names.ts';
import { GRAD_NORM_STATE_BYTES, gradNormSlots } from '../kernels/grad_norm.ts';
import { nf4StatsBytes } from '../kernels/nf4_alloc.ts';
import { NESTED_BLOCK, NF4_BLOCK, nf4RowMultiple } from '../kernels/nf4_tensor.ts';
import { activationLayout, defaultLossChunkRows, type ActSpec } from './activations.ts';
import { loraPairTensors } from './lora_params.ts';
import { loraTargets, trainableParameterCount } from './lora_targets.ts';
import { ropeInvFreq } from './rope_freqs.ts';

// GPU bytes of a training run, predicted before anything is allocated (the CLI's refusal, the UI's
// memory bar). It replays, buffer by buffer and in order, what a run allocates through the arena:
//   loading (load_base.ts): per expected tensor, f32 tensors in 'base'; a Linear weight quantized
//     on load passes through an f32 copy and DQ absmax in 'scratch', freed once it is NF4 in 'base';
//   Model: LoRA A, B, dA, dB in 'lora'; the activation plan in 'activations'/'scratch'; RoPE's inv_freq;
//   Trainer (optimizer.ts): AdamW m, v per parameter tensor in 'optimizer', grad-norm scratch.
// The plan's and LoRA's buffers come from the functions that allocate them (activationLayout,
// loraPairTensors); the NF4 buffers restate nf4_alloc.ts / nf4_quantize.ts per chunk, checked
// byte for byte against the arena by tests/model/memory_estimate.test.ts. Uniform blocks and
// readback staging buffers live outside the arena and are not counted by either.

export interface TrainingMemoryOptions {
  /** Micro-batch rows and padded sequence length: the plan holds batch · seq tokens. */
  batch: number;
  seq: number;
  r: number;
  modules: readonly LinearModule[];
  /** LoRA dropout > 0 adds the dropped-out input and its gradient to the scratch. */
  dropout: number;
  checkpointing: boolean;
  quant: 'nf4' | 'none';
  /** Ignored for a pre-quantized checkpoint, whose own double quantization is loaded as it is. */
  doubleQuant: boolean;
  /** Logit rows per loss chunk, when the model is given one (default as Model picks). */
  lossChunkRows?: number;
  /** The adapter's limits (tensors are split to fit a binding); default WebGPU's defaults. */
  limits?: AdapterLimits;
}

export interface AdapterLimits {
  /** maxStorageBufferBindingSize */
  maxBindingBytes: number;
  /** maxBufferSize */
  maxBufferBytes: number;
}

export const DEFAULT_LIMITS: AdapterLimits = { maxBindingBytes: 128 * 2 ** 20, maxBufferBytes: 256 * 2 ** 20 };

export interface BufferEstimate {
  label: string;
  /** As the arena counts it: rounded up to 4, at least 4. */
  bytes: number;
  category: MemoryCategory;
  /** For an activation sized by the token count: its bytes per token. */
  perToken?: number;
}

/** A buffer larger than the adapter allows, and what would make it fit. */
export interface MemoryProblem {
  buffer: BufferEstimate;
  limitName: 'maxStorageBufferBindingSize' | 'maxBufferSize';
  limit: number;
  /** Settings whose lowering shrinks the buffer (empty: only a smaller model or a larger adapter). */
  lower: ('batch' | 'seq' | 'rank')[];
  /** For a per-token activation: the most batch · seq tokens that fit. */
  maxTokens?: number;
  message: string;
}

/** Mirrors the arena's MemoryReport: `live` is what stays allocated while training. */
export interface MemoryEstimate extends MemoryReport {
  /** Every buffer live while training, in allocation order. */
  buffers: BufferEstimate[];
  /** The largest single buffer at any moment, loading included (problems aside). */
  largest: BufferEstimate;
  /** Buffers the adapter's limits refuse, the one to fix first first; empty when the run fits. */
  problems: MemoryProblem[];
  /** As Model.memory: one layer's saved activations, and what checkpointing saves. */
  layerActivationBytes: number;
  checkpointingSavedBytes: number;
  trainableParameters: number;
  lossChunkRows: number;
}

export function estimateTrainingMemory(config: ModelConfig, options: TrainingMemoryOptions): MemoryEstimate {
  const { batch, seq } = options;
  if (![batch, seq].every((n) => Number.isInteger(n) && n > 0)) throw new RangeError(`batch and seq must be positive integers, got ${batch}, ${seq}`);
  const limits = options.limits ?? DEFAULT_LIMITS;
  const arena = new DryArena();
  loadBase(arena, config, options, limits.maxBindingBytes);

  // Model: LoRA, the activation plan, RoPE.
  const targets = loraTargets(config, options.modules, options.r);
  const params: { count: number }[] = [];
  for (const target of targets) {
    for (const t of loraPairTensors(target)) {
      tensor(arena, t.name, t.shape, 4, 'lora', limits.maxBindingBytes);
      if (t.key === 'a' || t.key === 'b') params.push({ count: t.shape[0] * t.shape[1] });
    }
  }
  const maxTokens = batch * seq;
  const layout = activationLayout(
    config,
    {
      maxTokens,
      lora: { r: options.r, modules: options.modules, dropout: options.dropout },
      checkpointing: options.checkpointing,
      lossChunkRows: options.lossChunkRows ?? defaultLossChunkRows(config.vocabSize, limits.maxBindingBytes),
    },
    (spec: ActSpec) => arena.alloc(spec.label, spec.bytes, spec.category, spec.rows === maxTokens ? spec.cols * 4 : undefined),
  );
  arena.alloc('rope_inv_freq', ropeInvFreq(config.headDim, config.rope.theta, config.rope.scaling).byteLength, 'base');

  // Trainer: AdamW's moments (A then B per target) and the grad-norm scratch.
  params.forEach((p, i) => arena.alloc(`adamw.m[${i}]`, p.count * 4, 'optimizer'));
  params.forEach((p, i) => arena.alloc(`adamw.v[${i}]`, p.count * 4, 'optimizer'));
  arena.alloc('grad_norm.partials', gradNormSlots(params) * 8, 'scratch');
  arena.alloc('grad_norm.state', GRAD_NORM_STATE_BYTES, 'scratch');

  const buffers = [...arena.liveBuffers];
  return {
    ...arena.report(),
    buffers,
    largest: arena.largest!,
    problems: arena.everSeen.flatMap((b) => problem(b, limits)).sort(bySeverity),
    layerActivationBytes: layout.layerSetBytes,
    checkpointingSavedBytes: options.checkpointing ? (config.numLayers - 1) * layout.layerSetBytes : 0,
    trainableParameters: trainableParameterCount(targets),
    lossChunkRows: layout.lossChunkRows,
  };
}

/** loadBaseModel's allocations, tensor by tensor, in expectedTensors order. */
function loadBase(arena: DryArena, config: ModelConfig, options: TrainingMemoryOptions, maxBinding: number): void {
  const stored = config.quantization;
  const expected = expectedTensors(config);
  const names = new Set(expected.map((t) => t.name));
  for (const t of expected) {
    if (!t.linear) {
      if (!isLinearBias(t.name)) tensor(arena, t.name, t.shape.length ? t.shape : [1], 4, 'base', maxBinding);
      continue;
    }
    const [rows, cols] = t.shape;
    // TensorLoader.linear uploads the bias first, then the weight.
    const bias = t.name.replace(/\.weight$/, '.bias');
    if (names.has(bias)) tensor(arena, bias, [rows], 4, 'base', maxBinding);
    if (options.quant === 'none') {
      tensor(arena, t.name, [rows, cols], 4, 'base', maxBinding);
    } else if (stored) {
      nf4(arena, t.name, rows, cols, stored.doubleQuant, maxBinding);
    } else {
      const source = tensor(arena, `${t.name} (f32 for quantizing)`, [rows, cols], 4, 'scratch', maxBinding, nf4RowMultiple(cols));
      const chunks = nf4(arena, t.name, rows, cols, options.doubleQuant, maxBinding);
      if (options.doubleQuant) {
        const dq = chunks.map((chunkRows, i) => arena.alloc(`${t.name}.absmax_f32[${i}]`, Math.ceil((chunkRows * cols) / NF4_BLOCK) * 4, 'scratch'));
        dq.push(arena.alloc(`${t.name}.absmax_sums`, Math.ceil((rows * cols) / (NF4_BLOCK * NESTED_BLOCK)) * 4, 'scratch'));
        for (const b of dq) arena.release(b);
      }
      for (const b of source) arena.release(b);
    }
  }
}

/**
 * planRowChunks, whose refusal (a chunk of rowMultiple rows cannot fit one binding) becomes a
 * problem: the buffer the splitter would need is recorded, and the tensor counted whole.
 */
function rowChunks(arena: DryArena, label: string, rows: number, rowBytes: number, maxBinding: number, rowMultiple: number, category: MemoryCategory): number[] {
  try {
    return planRowChunks(label, rows, rowBytes, maxBinding, rowMultiple);
  } catch (e) {
    if (!(e instanceof BufferTooLargeError)) throw e;
    arena.refused(label, e.bytes, category);
    return [rows];
  }
}

/** createTensor: row chunks that each fit one binding. */
function tensor(arena: DryArena, label: string, shape: readonly number[], elementBytes: number, category: MemoryCategory, maxBinding: number, rowMultiple = 1): BufferEstimate[] {
  const rows = shape[0];
  const rowBytes = (shape.reduce((a, b) => a * b, 1) / rows) * elementBytes;
  const counts = rowChunks(arena, label, rows, rowBytes, maxBinding, rowMultiple, category);
  return counts.map((n, i) => arena.alloc(counts.length === 1 ? label : `${label}[${i}]`, Math.ceil(n * rowBytes), category));
}

/** createNf4Tensor: per chunk packed nibbles and absmax (u8 codes with DQ, else f32), then stats. Returns chunk rows. */
function nf4(arena: DryArena, label: string, rows: number, cols: number, doubleQuant: boolean, maxBinding: number): number[] {
  const counts = rowChunks(arena, label, rows, cols / 2, maxBinding, nf4RowMultiple(cols), 'base');
  counts.forEach((chunkRows, i) => {
    const name = counts.length === 1 ? label : `${label}[${i}]`;
    const n = chunkRows * cols;
    const blocks = Math.ceil(n / NF4_BLOCK);
    arena.alloc(`${name}.packed`, Math.ceil(n / 2), 'base');
    arena.alloc(`${name}.absmax`, doubleQuant ? blocks : blocks * 4, 'base');
  });
  arena.alloc(`${label}.stats`, nf4StatsBytes(rows, cols, doubleQuant), 'base');
  return counts;
}

function problem(b: BufferEstimate, limits: AdapterLimits): MemoryProblem[] {
  // Every buffer is bound whole by some kernel (tensors are split beforehand), so the binding
  // limit, never above maxBufferSize, is the one that counts.
  const over = limits.maxBindingBytes <= limits.maxBufferBytes ? ('maxStorageBufferBindingSize' as const) : ('maxBufferSize' as const);
  const limit = Math.min(limits.maxBufferBytes, limits.maxBindingBytes);
  if (b.bytes <= limit) return [];
  const need = `${b.label} needs ${mib(b.bytes)} in one buffer; this adapter's ${over} is ${mib(limit)}`;
  if (b.perToken) {
    const maxTokens = Math.floor(limit / b.perToken);
    return [{ buffer: b, limitName: over, limit, lower: ['batch', 'seq'], maxTokens, message: `${need}: lower the batch size or the sequence length so that batch × sequence ≤ ${maxTokens} tokens` }];
  }
  if (b.category === 'lora' || b.category === 'optimizer') {
    return [{ buffer: b, limitName: over, limit, lower: ['rank'], message: `${need}: lower the LoRA rank` }];
  }
  return [{ buffer: b, limitName: over, limit, lower: [], message: `${need}: this model does not fit this adapter` }];
}

/** Problems without a remedy first, then the rank, then the tightest token limit: fix the first, and the rest follow. */
function bySeverity(a: MemoryProblem, b: MemoryProblem): number {
  const rank = (p: MemoryProblem) => (p.lower.length === 0 ? 0 : p.lower[0] === 'rank' ? 1 : 2);
  return rank(a) - rank(b) || (a.maxTokens ?? 0) - (b.maxTokens ?? 0);
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** The arena's byte accounting without a device: live and peak per category and in total. */
class DryArena {
  readonly liveBuffers = new Set<BufferEstimate>();
  readonly everSeen: BufferEstimate[] = [];
  largest: BufferEstimate | undefined;
  private readonly live = zeroes();
  private readonly peak = zeroes();
  private liveTotal = 0;
  private peakTotal = 0;

  alloc(label: string, bytes: number, category: MemoryCategory, perToken?: number): BufferEstimate {
    // GpuArena.createBuffer's rounding.
    const b: BufferEstimate = { label, bytes: Math.max(4, Math.ceil(bytes / 4) * 4), category, ...(perToken ? { perToken } : {}) };
    this.liveBuffers.add(b);
    this.everSeen.push(b);
    if (!this.largest || b.bytes > this.largest.bytes) this.largest = b;
    this.live[category] += b.bytes;
    this.liveTotal += b.bytes;
    this.peak[category] = Math.max(this.peak[category], this.live[category]);
    this.peakTotal = Math.max(this.peakTotal, this.liveTotal);
    return b;
  }

  /** A buffer a splitter refused: a problem to report, not part of the totals. */
  refused(label: string, bytes: number, category: MemoryCategory): void {
    this.everSeen.push({ label, bytes, category });
  }

  release(b: BufferEstimate): void {
    if (!this.liveBuffers.delete(b)) return;
    this.live[b.category] -= b.bytes;
    this.liveTotal -= b.bytes;
  }

  report(): MemoryReport {
    return { live: { ...this.live }, peak: { ...this.peak }, liveTotal: this.liveTotal, peakTotal: this.peakTotal };
  }
}

function zeroes(): Record<MemoryCategory, number> {
  return Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, 0])) as Record<MemoryCategory, number>;
}
