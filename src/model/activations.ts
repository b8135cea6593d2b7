import type { MemoryCategory } from '../engine/arena.ts';
import { BufferTooLargeError } from '../engine/errors.ts';
import type { Runtime } from '../engine/runtime.ts';
import { GpuTensor } from '../engine/tensor.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { LinearModule } from '../formats/tensor_names.ts';
import { linearShapes } from './lora_targets.ts';

// The activation plan: every buffer one forward + backward of a (maxBatch, maxSeq) micro-batch
// touches, allocated once up front. N = B·T tokens, C = hidden, Hq = heads·D, Hkv = kv·D,
// I = intermediate, r = LoRA rank. Buffers are sized for the largest N; a smaller batch uses
// their first rows (ActBuffer.rows gives the (rows, cols) view the matmul launchers want).
//
// 'activations' (what the forward saves for the backward):
//   h[0 … L]   (N, C)   the residual stream: the input of every layer and the final norm
//   per layer, or ONE shared set with gradient checkpointing (recomputed in the backward):
//     xn1 (N, C), rstd1 (N), q (N, Hq) after RoPE, k (N, Hkv) after RoPE, v (N, Hkv),
//     [qkNorm: qRaw (N, Hq), kRaw (N, Hkv), rstdQ (N·H), rstdK (N·Hkv heads)],
//     att (N, Hq), stats (2, B, H, T), hMid (N, C), xn2 (N, C), rstd2 (N), gate, up, act (N, I),
//     u (N, r) per LoRA target (A's output, for dB)
//   xnF (N, C), rstdF (N)   the final norm; batch inputs ids, labels, positions, segments (N) i32
// 'scratch' (live only within a step): the backward's gradients dh, dxn (N, C), datt, dq (N, Hq),
// dk, dv (N, Hkv), [dqRaw, dkRaw], da, dgate, dup (N, I), du (N, r); the dropped-out LoRA input
// xd and its gradient dxd (N, max in); rowLoss (N); one chunk of logits (R, V) and, when the
// loss runs in more than one chunk, xChunk / dxChunk (R, C); the two loss sums.
//
// The layout is a pure function of (config, options): ActivationPlan allocates it, and the memory
// estimate (memory_estimate.ts) sums it before anything exists, so the two cannot disagree.

/** Bytes of logits one loss chunk may hold by default. */
export const LOGITS_CHUNK_BYTES = 128 * 2 ** 20;

/** Logit rows per loss chunk by default: what fits LOGITS_CHUNK_BYTES and one binding (≥ 1). */
export function defaultLossChunkRows(vocabSize: number, maxBindingBytes: number): number {
  return Math.max(1, Math.floor(Math.min(LOGITS_CHUNK_BYTES, maxBindingBytes) / (vocabSize * 4)));
}

/** One f32 (or i32) buffer of `cols` values per row, for up to maxRows rows. */
export class ActBuffer {
  constructor(
    readonly label: string,
    readonly buffer: GPUBuffer,
    readonly cols: number,
  ) {}

  /** The first `rows` rows as an f32 (rows, cols) tensor over this buffer. */
  rows(rows: number): GpuTensor {
    return new GpuTensor(this.label, 'f32', [rows, this.cols], [{ buffer: this.buffer, rowStart: 0, rows, byteLength: rows * this.cols * 4 }]);
  }

  /** The same buffer read with `cols` values per row (a scratch buffer shared by narrower uses). */
  withCols(cols: number): ActBuffer {
    return cols === this.cols ? this : new ActBuffer(this.label, this.buffer, cols);
  }
}

/** One buffer of the layout: `rows` rows of `cols` 4-byte values. */
export interface ActSpec {
  label: string;
  rows: number;
  cols: number;
  bytes: number;
  category: Extract<MemoryCategory, 'activations' | 'scratch'>;
}

/** What one decoder layer's forward leaves for its backward. */
export interface LayerSlots<T> {
  xn1: T;
  rstd1: T;
  q: T;
  k: T;
  v: T;
  qRaw?: T;
  kRaw?: T;
  rstdQ?: T;
  rstdK?: T;
  att: T;
  stats: T;
  hMid: T;
  xn2: T;
  rstd2: T;
  gate: T;
  up: T;
  act: T;
  loraU: Map<LinearModule, T>;
}

export interface GradSlots<T> {
  dh: T;
  dxn: T;
  datt: T;
  dq: T;
  dk: T;
  dv: T;
  dqRaw?: T;
  dkRaw?: T;
  da: T;
  dgate: T;
  dup: T;
  du?: T;
  xd?: T;
  dxd?: T;
}

export type LayerActs = LayerSlots<ActBuffer>;
export type BackwardScratch = GradSlots<ActBuffer>;

/** Every buffer of the plan, as specs (the estimate) or as allocated buffers (the plan). */
export interface PlanLayout<T> {
  h: T[];
  /** One set per layer, or a single shared set with checkpointing. */
  layers: LayerSlots<T>[];
  xnF: T;
  rstdF: T;
  ids: T;
  labels: T;
  positions: T;
  segments: T;
  grad: GradSlots<T>;
  rowLoss: T;
  logits: T;
  /** Present when the loss needs more than one chunk. */
  xChunk?: T;
  dxChunk?: T;
  /** One f32 each: Σ token losses of training steps, and of evaluation. */
  lossSum: T;
  evalLossSum: T;
  /** Logit rows per loss chunk (R). */
  lossChunkRows: number;
  /** Bytes of one layer's saved set: what checkpointing saves per layer beyond the first. */
  layerSetBytes: number;
}

export interface PlanOptions {
  maxTokens: number;
  /** LoRA rank and targeted modules; null without LoRA. */
  lora: { r: number; modules: readonly LinearModule[]; dropout: number } | null;
  checkpointing: boolean;
  /** Logit rows per loss chunk. */
  lossChunkRows: number;
}

/** The plan's buffers in allocation order, each made by `make` from its spec. */
export function activationLayout<T>(config: ModelConfig, options: PlanOptions, make: (spec: ActSpec) => T): PlanLayout<T> {
  const N = options.maxTokens;
  const { hiddenSize: C, intermediateSize: I, numHeads: H, numKvHeads: Hkv, headDim: D, vocabSize: V } = config;
  let setBytes = 0;
  const maker = (category: ActSpec['category']) => (label: string, cols: number, rows = N) => make({ label, rows, cols, bytes: rows * cols * 4, category });
  const act = maker('activations');
  const scratch = maker('scratch');
  const h = Array.from({ length: config.numLayers + 1 }, (_, l) => act(`h[${l}]`, C));
  const sets = options.checkpointing ? 1 : config.numLayers;
  const layers = Array.from({ length: sets }, (_, l): LayerSlots<T> => {
    const name = (s: string) => (options.checkpointing ? `layer*.${s}` : `layer${l}.${s}`);
    const counted = (s: string, cols: number) => {
      if (l === 0) setBytes += N * cols * 4;
      return act(name(s), cols);
    };
    const loraU = new Map<LinearModule, T>();
    for (const m of options.lora?.modules ?? []) loraU.set(m, counted(`${m}.u`, options.lora!.r));
    return {
      xn1: counted('xn1', C),
      rstd1: counted('rstd1', 1),
      q: counted('q', H * D),
      k: counted('k', Hkv * D),
      v: counted('v', Hkv * D),
      ...(config.qkNorm
        ? { qRaw: counted('q_raw', H * D), kRaw: counted('k_raw', Hkv * D), rstdQ: counted('rstd_q', H), rstdK: counted('rstd_k', Hkv) }
        : {}),
      att: counted('att', H * D),
      stats: counted('stats', 2 * H),
      hMid: counted('h_mid', C),
      xn2: counted('xn2', C),
      rstd2: counted('rstd2', 1),
      gate: counted('gate', I),
      up: counted('up', I),
      act: counted('act', I),
      loraU,
    };
  });
  const xnF = act('xn_final', C);
  const rstdF = act('rstd_final', 1);
  const ids = act('input_ids', 1);
  const labels = act('labels', 1);
  const positions = act('positions', 1);
  const segments = act('segment_ids', 1);

  const lora = options.lora;
  const maxIn = Math.max(...[...linearShapes(config)].filter(([m]) => lora?.modules.includes(m)).map(([, s]) => s.inFeatures), 1);
  const grad: GradSlots<T> = {
    dh: scratch('d_h', C),
    dxn: scratch('d_xn', C),
    datt: scratch('d_att', H * D),
    dq: scratch('d_q', H * D),
    dk: scratch('d_k', Hkv * D),
    dv: scratch('d_v', Hkv * D),
    ...(config.qkNorm ? { dqRaw: scratch('d_q_raw', H * D), dkRaw: scratch('d_k_raw', Hkv * D) } : {}),
    da: scratch('d_act', I),
    dgate: scratch('d_gate', I),
    dup: scratch('d_up', I),
    ...(lora ? { du: scratch('d_lora_u', lora.r) } : {}),
    ...(lora && lora.dropout > 0 ? { xd: scratch('lora_xd', maxIn), dxd: scratch('lora_dxd', maxIn) } : {}),
  };
  const R = Math.max(1, Math.min(options.lossChunkRows, N));
  const rowLoss = scratch('row_loss', 1);
  const logits = scratch('logits_chunk', V, R);
  const chunks = R < N ? { xChunk: scratch('xn_chunk', C, R), dxChunk: scratch('d_xn_chunk', C, R) } : {};
  const lossSum = scratch('loss_sum', 1, 1);
  const evalLossSum = scratch('eval_loss_sum', 1, 1);
  return { h, layers, xnF, rstdF, ids, labels, positions, segments, grad, rowLoss, logits, ...chunks, lossSum, evalLossSum, lossChunkRows: R, layerSetBytes: setBytes };
}

export class ActivationPlan {
  readonly h: ActBuffer[];
  /** One set per layer, or a single shared set with checkpointing. */
  readonly layers: LayerActs[];
  readonly xnF: ActBuffer;
  readonly rstdF: ActBuffer;
  readonly ids: ActBuffer;
  readonly labels: ActBuffer;
  readonly positions: ActBuffer;
  readonly segments: ActBuffer;
  readonly grad: BackwardScratch;
  readonly rowLoss: ActBuffer;
  readonly logits: ActBuffer;
  /** Present when the loss needs more than one chunk. */
  readonly xChunk?: ActBuffer;
  readonly dxChunk?: ActBuffer;
  /** One f32 each: Σ token losses of training steps, and of evaluation. */
  readonly lossSum: GPUBuffer;
  readonly evalLossSum: GPUBuffer;
  /** Bytes of one layer's saved set: what checkpointing saves per layer beyond the first. */
  readonly layerSetBytes: number;
  /** Logit rows per loss chunk (R). */
  readonly lossChunkRows: number;
  private readonly buffers: GPUBuffer[] = [];

  constructor(
    private readonly rt: Runtime,
    config: ModelConfig,
    readonly options: PlanOptions,
  ) {
    const layout = activationLayout(config, options, (spec) => {
      // Kernels bind activations whole: one that outgrows a binding is refused up front.
      if (spec.bytes > rt.arena.maxBindingBytes) {
        this.release();
        throw new BufferTooLargeError(`activation ${spec.label} for ${options.maxTokens} tokens`, spec.bytes, rt.arena.maxBindingBytes);
      }
      const b = rt.arena.createBuffer(spec.label, spec.bytes, spec.category);
      this.buffers.push(b);
      return new ActBuffer(spec.label, b, spec.cols);
    });
    this.h = layout.h;
    this.layers = layout.layers;
    this.xnF = layout.xnF;
    this.rstdF = layout.rstdF;
    this.ids = layout.ids;
    this.labels = layout.labels;
    this.positions = layout.positions;
    this.segments = layout.segments;
    this.grad = layout.grad;
    this.rowLoss = layout.rowLoss;
    this.logits = layout.logits;
    this.xChunk = layout.xChunk;
    this.dxChunk = layout.dxChunk;
    this.lossSum = layout.lossSum.buffer;
    this.evalLossSum = layout.evalLossSum.buffer;
    this.layerSetBytes = layout.layerSetBytes;
    this.lossChunkRows = layout.lossChunkRows;
  }

  /** Gives every buffer of the plan back to the arena. */
  release(): void {
    for (const b of this.buffers.splice(0)) this.rt.arena.release(b);
  }

  /** The saved set layer l writes (its own, or the shared one with checkpointing). */
  layer(l: number): LayerActs {
    return this.layers[this.options.checkpointing ? 0 : l];
  }
}
