import type { Recorder } from '../engine/recorder.ts';
import type { Batch } from '../data/batch.ts';

// What the trainer needs of a model: the contract between src/train and src/model/model.ts.
// The model owns its LoRA parameters, their gradients and a loss-sum buffer; the trainer owns the
// optimizer state, the schedule and the order of the data.

export interface ParamSlice {
  buffer: GPUBuffer;
  /** f32 elements. */
  count: number;
}

export interface TrainableModel {
  /** Writes a batch into the model's input buffers (queue.writeBuffer: takes effect at the next submit). */
  uploadBatch(batch: Batch): void;
  /**
   * Records forward and backward of the uploaded batch: adds Σ loss into the training loss sum
   * (cleared first when zeroGrads) and gradScale · d(Σ loss) into the LoRA gradients
   * (overwriting them when zeroGrads).
   */
  recordTrainStep(rec: Recorder, options: { gradScale: number; dropoutSeed: number; zeroGrads: boolean }): void;
  /** Records the forward only (no dropout), adding Σ loss into the eval loss sum (cleared first when zeroLoss). */
  recordEvalLoss(rec: Recorder, options: { zeroLoss?: boolean }): void;
  /** The sums, read back (4 bytes each). */
  readLossSum(): Promise<number>;
  readEvalLossSum(): Promise<number>;
  /** LoRA A and B read back / written, keyed by PEFT module path (checkpoints, resume). */
  exportLora(): Promise<Map<string, { A: Float32Array; B: Float32Array }>>;
  importLora(weights: ReadonlyMap<string, { A: Float32Array; B: Float32Array }>): void;
  /** LoRA A and B of every target, in one fixed order, and their gradients in the same order. */
  loraParameters(): ParamSlice[];
  loraGradients(): ParamSlice[];
}
