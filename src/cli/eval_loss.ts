import { paddedLength } from '../data/batch.ts';
import type { TokenizedExample } from '../data/encode.ts';
import { Batcher } from '../data/sampler.ts';
import type { Runtime } from '../engine/runtime.ts';
import type { LoadedBase } from '../model/load_base.ts';
import type { LoraArrays, LoraOptions } from '../model/lora_params.ts';
import { Model } from '../model/model.ts';

// Eval loss and perplexity of `webtune eval` (issue #6): the mean cross-entropy per trained
// target token (formats.md §5.2: the data layer's labels, completion-only by default, exactly as
// training's eval loss) over the eval set, forward only, and perplexity = exp(loss). Computed for
// the base and, with an adapter, for base + LoRA — each with its own Model over the one loaded
// base, made and released in turn so only one activation plan exists at a time.

export interface LossFigures {
  loss: number;
  perplexity: number;
  /** Target tokens the mean is over. */
  targets: number;
}

const BATCH = 4;

async function meanLoss(rt: Runtime, model: Model, batcher: Batcher): Promise<LossFigures> {
  let targets = 0;
  let first = true;
  for (const batch of batcher.batches(0)) {
    model.uploadBatch(batch);
    const rec = rt.recorder('eval loss');
    model.recordEvalLoss(rec, { zeroLoss: first });
    rec.submit();
    first = false;
    targets += batch.numTargets;
  }
  const sum = await model.readEvalLossSum();
  const loss = targets > 0 ? sum / targets : NaN;
  return { loss, perplexity: Math.exp(loss), targets };
}

/** Base (and tuned, when `adapter` is given) loss over `examples` (already tokenized and labelled). */
export async function evalLosses(
  rt: Runtime,
  base: LoadedBase,
  examples: readonly TokenizedExample[],
  padId: number,
  adapter: { options: Omit<LoraOptions, 'dropout'>; weights: ReadonlyMap<string, LoraArrays> } | null,
): Promise<{ base: LossFigures; tuned: LossFigures | null }> {
  const longest = Math.max(...examples.map((e) => e.inputIds.length));
  const batcher = new Batcher(examples, padId, { batchSize: BATCH, packing: false, maxLength: longest, order: 'file', seed: 0 });
  const shape = { maxBatch: BATCH, maxSeq: paddedLength(longest, batcher.options.padMultiple), gradCheckpointing: true };
  const run = async (lora: LoraOptions | null): Promise<LossFigures> => {
    const model = new Model(rt, base, { lora, ...shape });
    try {
      if (adapter && lora) model.importLora(adapter.weights);
      return await meanLoss(rt, model, batcher);
    } finally {
      model.release();
    }
  };
  const baseLoss = await run(null);
  const tuned = adapter ? await run({ ...adapter.options, dropout: 0 }) : null;
  return { base: baseLoss, tuned };
}

/** "eval loss (N answer tokens): base 3.2100 (perplexity 24.78); tuned …". */
export function formatLosses(l: { base: LossFigures; tuned: LossFigures | null }): string {
  const one = (name: string, f: LossFigures) => `${name} ${f.loss.toFixed(4)} (perplexity ${f.perplexity.toFixed(2)})`;
  return `eval loss over ${l.base.targets} answer tokens: ${one('base', l.base)}${l.tuned ? `; ${one('tuned', l.tuned)}` : ''}\n`;
}
