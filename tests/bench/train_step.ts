import { paddedLength, type TokenRow } from '../../src/data/batch.ts';
import { Batcher } from '../../src/data/sampler.ts';
import type { MemoryReport } from '../../src/engine/arena.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { parseHfConfig, type ModelConfig } from '../../src/formats/hf_config.ts';
import { readJson, type ModelFolder } from '../../src/formats/model_folder.ts';
import type { LinearModule } from '../../src/formats/tensor_names.ts';
import { loadBaseModel } from '../../src/model/load_base.ts';
import { linearShapes } from '../../src/model/lora_targets.ts';
import { estimateTrainingMemory, type MemoryEstimate } from '../../src/model/memory_estimate.ts';
import { Model } from '../../src/model/model.ts';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../../src/train/config.ts';
import { AdamW } from '../../src/train/optimizer.ts';
import { loraInitStream } from '../../src/train/rng.ts';
import { Trainer } from '../../src/train/trainer.ts';

// One training step measured, on any WebGPU device: no Node imports, so the Node bench
// (train_bench.ts) and the Chromium page (train_bench_page.ts) run the same code and return the
// same plain record. The step is measured twice over:
//   whole step: Trainer.step, exactly as training runs it (gradAccum micro-batches, each its own
//     submit, clip + AdamW recorded into the last, then the loss and the 16-byte state read back);
//   split: forward (recordEvalLoss: forward + lm_head + CE, no dropout), forward + backward
//     (recordTrainStep) and optimizer (grad-norm + AdamW), each its own submit, timed from
//     recording to onSubmittedWorkDone; backward = (forward + backward) − forward.
// Memory is read from the arena after the first step and set beside the estimate made before
// loading. FLOPs are the useful matmul work (see stepFlops), recomputation not counted.

export interface TrainStepOptions {
  batch: number;
  seq: number;
  gradAccum: number;
  r: number;
  modules: readonly LinearModule[];
  dropout: number;
  quant: 'nf4' | 'none';
  doubleQuant: boolean;
  checkpointing: boolean;
  /** Measured repetitions of each part (after one warm-up); medians are reported. */
  reps: number;
}

/** A part of the step: medians over the repetitions. */
export interface PartTiming {
  wallMs: number;
  /** CPU ms of this process (Node only: on SwiftShader the GPU is this process's threads). */
  cpuMs?: number;
  dispatches: number;
  submits: number;
  /** Useful matmul FLOPs of one repetition. */
  flops: number;
}

export interface TrainStepResult {
  model: { name: string; config: ModelConfig; parameters: number; quantizedBytes: number; loadMs: number };
  options: TrainStepOptions;
  /** Tokens of one optimizer step (batch · seq · gradAccum, no padding). */
  tokensPerStep: number;
  parts: { forward: PartTiming; backward: PartTiming; forwardBackward: PartTiming; optimizer: PartTiming; step: PartTiming };
  estimate: Pick<MemoryEstimate, 'live' | 'peak' | 'liveTotal' | 'peakTotal' | 'largest'>;
  measured: MemoryReport;
  finalLoss: number;
}

export type CpuClock = () => number;

export async function benchTrainStep(rt: Runtime, folder: ModelFolder, options: TrainStepOptions, cpuClock?: CpuClock): Promise<TrainStepResult> {
  const { batch: B, gradAccum, reps } = options;
  const config = parseHfConfig(await readJson(folder, 'config.json'), `${folder.name}/config.json`);
  const T = paddedLength(options.seq, 8);
  const estimate = estimateTrainingMemory(config, { ...options, seq: T, limits: { maxBindingBytes: rt.arena.maxBindingBytes, maxBufferBytes: rt.arena.maxBufferBytes } });
  if (estimate.problems.length > 0) throw new Error(`does not fit this adapter: ${estimate.problems[0].message}`);

  const t0 = performance.now();
  const base = await loadBaseModel(rt, folder, { quant: options.quant, doubleQuant: options.doubleQuant });
  await rt.device.queue.onSubmittedWorkDone();
  const loadMs = performance.now() - t0;
  const model = new Model(rt, base, {
    lora: { r: options.r, alpha: 2 * options.r, dropout: options.dropout, modules: options.modules, rslora: false, init: (t) => loraInitStream(1, t) },
    maxBatch: B,
    maxSeq: T,
    gradCheckpointing: options.checkpointing,
  });

  // Full rows of T random tokens, every one a target: the trainer's step with no padding.
  const steps = reps + 1;
  const rows: TokenRow[] = Array.from({ length: B * gradAccum * steps }, (_, i) => {
    const ids = Int32Array.from({ length: T }, (_, t) => (i * 7919 + t * 104729) % config.vocabSize);
    return { inputIds: ids, labels: ids.slice() };
  });
  const train = new Batcher(rows, 0, { batchSize: B, maxLength: T, order: 'file' });
  const trainConfig: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, batchSize: B, gradAccum, maxSteps: steps, epochs: 1, loraR: options.r, loraDropout: options.dropout, warmupSteps: 0 };
  const trainer = new Trainer(rt, model, trainConfig, { train });

  const counter = countSubmits(rt.device.queue);
  const flops = stepFlops(config, { B, T, r: options.r, modules: options.modules });
  const measure = async (fn: () => Promise<number>, flopsPerRep: number): Promise<PartTiming> => {
    const samples: { wallMs: number; cpuMs?: number; dispatches: number; submits: number }[] = [];
    for (let i = 0; i <= reps; i++) {
      const submits = counter.count;
      const cpu = cpuClock?.();
      const start = performance.now();
      const dispatches = await fn();
      await rt.device.queue.onSubmittedWorkDone();
      const wallMs = performance.now() - start;
      if (i > 0) samples.push({ wallMs, cpuMs: cpu === undefined ? undefined : cpuClock!() - cpu, dispatches, submits: counter.count - submits });
    }
    const cpus = samples.map((s) => s.cpuMs).filter((v): v is number => v !== undefined);
    return {
      wallMs: median(samples.map((s) => s.wallMs)),
      cpuMs: cpus.length ? median(cpus) : undefined,
      dispatches: samples[0].dispatches,
      submits: samples[0].submits,
      flops: flopsPerRep,
    };
  };

  try {
    // The whole step first (its first repetition warms the pipelines), then the memory it used.
    // Its dispatches are counted below, from the parts it is made of.
    let k = 0;
    let lastLoss = NaN;
    const step = await measure(async () => {
      lastLoss = (await trainer.step(++k, performance.now())).loss;
      return 0;
    }, gradAccum * (flops.forward + flops.backward));
    const measured = rt.arena.report();

    const gradScale = 1 / (B * T);
    const forward = await measure(() => rt.run('forward', (rec) => model.recordEvalLoss(rec, { zeroLoss: true })), flops.forward);
    const forwardBackward = await measure(
      () => rt.run('forward+backward', (rec) => model.recordTrainStep(rec, { gradScale, dropoutSeed: 7, zeroGrads: true })),
      flops.forward + flops.backward,
    );
    // A second AdamW over the same tensors, made after the memory was read so it does not count.
    const adamw = new AdamW(rt, model.loraParameters(), model.loraGradients(), { weightDecay: 0.01, maxGradNorm: 1 });
    let update = 0;
    const optimizer = await measure(() => rt.run('optimizer', (rec) => adamw.record(rec, ++update, 1e-4)), 0);
    step.dispatches = gradAccum * forwardBackward.dispatches + optimizer.dispatches;
    const backward: PartTiming = {
      wallMs: forwardBackward.wallMs - forward.wallMs,
      cpuMs: forwardBackward.cpuMs === undefined ? undefined : forwardBackward.cpuMs - forward.cpuMs!,
      dispatches: forwardBackward.dispatches - forward.dispatches,
      submits: 0,
      flops: flops.backward,
    };
    const { live, peak, liveTotal, peakTotal, largest } = estimate;
    return {
      model: { name: folder.name, config, parameters: base.report.parameters, quantizedBytes: base.report.quantizedBytes, loadMs },
      options: { ...options, seq: T },
      tokensPerStep: B * T * gradAccum,
      parts: { forward, backward, forwardBackward, optimizer, step },
      estimate: { live, peak, liveTotal, peakTotal, largest },
      measured,
      finalLoss: lastLoss,
    };
  } finally {
    counter.restore();
    rt.arena.releaseAll();
  }
}

/**
 * Useful matmul FLOPs of one micro-batch of B rows of T tokens (N = B·T), 2·M·N·K per matmul:
 *   forward: every base projection 2·N·in·out; LoRA 2·N·r·(in + out) per target; causal attention
 *     QKᵀ and PV over the T(T+1)/2 visible pairs per row and head, 2 · 2·D each; lm_head 2·N·C·V;
 *   backward: the frozen base and lm_head only dX (1× their forward); LoRA dA, dB, du, dx (2×);
 *     attention dQ, dK, dV, dP (2×). Recomputation (checkpointing, attention scores) is not counted.
 */
export function stepFlops(config: ModelConfig, s: { B: number; T: number; r: number; modules: readonly LinearModule[] }): { forward: number; backward: number } {
  const N = s.B * s.T;
  let base = 0;
  let lora = 0;
  for (const [module, { inFeatures, outFeatures }] of linearShapes(config)) {
    base += 2 * N * inFeatures * outFeatures;
    if (s.modules.includes(module)) lora += 2 * N * s.r * (inFeatures + outFeatures);
  }
  const L = config.numLayers;
  const attention = s.B * config.numHeads * 2 * 2 * config.headDim * ((s.T * (s.T + 1)) / 2);
  const head = 2 * N * config.hiddenSize * config.vocabSize;
  return { forward: L * (base + lora + attention) + head, backward: L * (base + 2 * lora + 2 * attention) + head };
}

/** Counts queue.submit calls (steps, and the readbacks' copies) until restored. */
function countSubmits(queue: GPUQueue): { readonly count: number; restore(): void } {
  const original = queue.submit;
  const state = { count: 0 };
  queue.submit = function (this: GPUQueue, buffers: Iterable<GPUCommandBuffer>) {
    state.count++;
    return original.call(this, buffers);
  };
  return {
    get count() {
      return state.count;
    },
    restore: () => void (queue.submit = original),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
