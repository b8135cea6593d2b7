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

/** What one decoder layer's forward leaves for its backward. */
export interface LayerActs {
  xn1: ActBuffer;
  rstd1: ActBuffer;
  q: ActBuffer;
  k: ActBuffer;
  v: ActBuffer;
  qRaw?: ActBuffer;
  kRaw?: ActBuffer;
  rstdQ?: ActBuffer;
  rstdK?: ActBuffer;
  att: ActBuffer;
  stats: ActBuffer;
  hMid: ActBuffer;
  xn2: ActBuffer;
  rstd2: ActBuffer;
  gate: ActBuffer;
  up: ActBuffer;
  act: ActBuffer;
  loraU: Map<LinearModule, ActBuffer>;
}

export interface BackwardScratch {
  dh: ActBuffer;
  dxn: ActBuffer;
  datt: ActBuffer;
  dq: ActBuffer;
  dk: ActBuffer;
  dv: ActBuffer;
  dqRaw?: ActBuffer;
  dkRaw?: ActBuffer;
  da: ActBuffer;
  dgate: ActBuffer;
  dup: ActBuffer;
  du?: ActBuffer;
  xd?: ActBuffer;
  dxd?: ActBuffer;
}

export interface PlanOptions {
  maxTokens: number;
  /** LoRA rank and targeted modules; null without LoRA. */
  lora: { r: number; modules: readonly LinearModule[]; dropout: number } | null;
  checkpointing: boolean;
  /** Logit rows per loss chunk. */
  lossChunkRows: number;
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
    const N = options.maxTokens;
    const { hiddenSize: C, intermediateSize: I, numHeads: H, numKvHeads: Hkv, headDim: D, vocabSize: V } = config;
    const buffer = (label: string, bytes: number, category: MemoryCategory) => {
      // Kernels bind activations whole: one that outgrows a binding is refused up front.
      if (bytes > rt.arena.maxBindingBytes) {
        this.release();
        throw new BufferTooLargeError(`activation ${label} for ${N} tokens`, bytes, rt.arena.maxBindingBytes);
      }
      const b = rt.arena.createBuffer(label, bytes, category);
      this.buffers.push(b);
      return b;
    };
    const make = (category: MemoryCategory) => (label: string, cols: number, rows = N) => new ActBuffer(label, buffer(label, rows * cols * 4, category), cols);
    const act = make('activations');
    const scratch = make('scratch');
    this.h = Array.from({ length: config.numLayers + 1 }, (_, l) => act(`h[${l}]`, C));
    const sets = options.checkpointing ? 1 : config.numLayers;
    const before = rt.arena.report().live.activations;
    this.layers = Array.from({ length: sets }, (_, l) => {
      const name = (s: string) => (options.checkpointing ? `layer*.${s}` : `layer${l}.${s}`);
      const loraU = new Map<LinearModule, ActBuffer>();
      for (const m of options.lora?.modules ?? []) loraU.set(m, act(name(`${m}.u`), options.lora!.r));
      return {
        xn1: act(name('xn1'), C),
        rstd1: act(name('rstd1'), 1),
        q: act(name('q'), H * D),
        k: act(name('k'), Hkv * D),
        v: act(name('v'), Hkv * D),
        ...(config.qkNorm
          ? { qRaw: act(name('q_raw'), H * D), kRaw: act(name('k_raw'), Hkv * D), rstdQ: act(name('rstd_q'), H), rstdK: act(name('rstd_k'), Hkv) }
          : {}),
        att: act(name('att'), H * D),
        stats: act(name('stats'), 2 * H),
        hMid: act(name('h_mid'), C),
        xn2: act(name('xn2'), C),
        rstd2: act(name('rstd2'), 1),
        gate: act(name('gate'), I),
        up: act(name('up'), I),
        act: act(name('act'), I),
        loraU,
      };
    });
    this.layerSetBytes = (rt.arena.report().live.activations - before) / sets;
    this.xnF = act('xn_final', C);
    this.rstdF = act('rstd_final', 1);
    this.ids = act('input_ids', 1);
    this.labels = act('labels', 1);
    this.positions = act('positions', 1);
    this.segments = act('segment_ids', 1);

    const lora = options.lora;
    const maxIn = Math.max(...[...linearShapes(config)].filter(([m]) => lora?.modules.includes(m)).map(([, s]) => s.inFeatures), 1);
    this.grad = {
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
    const R = (this.lossChunkRows = Math.max(1, Math.min(options.lossChunkRows, N)));
    this.rowLoss = scratch('row_loss', 1);
    this.logits = scratch('logits_chunk', V, R);
    if (R < N) {
      this.xChunk = scratch('xn_chunk', C, R);
      this.dxChunk = scratch('d_xn_chunk', C, R);
    }
    this.lossSum = buffer('loss_sum', 4, 'scratch');
    this.evalLossSum = buffer('eval_loss_sum', 4, 'scratch');
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
