import { collate, ignoreIndex, type Batch, type TokenRow } from '../../src/data/batch.ts';
import type { ModelConfig } from '../../src/formats/hf_config.ts';
import type { LinearModule } from '../../src/formats/tensor_names.ts';
import { linearShapes, modulePath } from '../../src/model/lora_targets.ts';
import { rng } from '../helpers/rng.ts';
import type { LoraWeights } from './model.ts';

// Seeded inputs for whole-model tests. The tiny fixture's weights (N(0, 0.02), norms 1) leave a
// model nearly linear with logits ≈ 0, where a wrong softmax, norm or SiLU derivative hides in the
// noise; these draw O(1) activations instead, so every nonlinearity and every norm weight counts:
//   matrices [rows, in]      ~ N(0, 1/in)   (projections, embeddings, lm_head: unit-variance
//                                            outputs from unit-variance inputs, logits ~ N(0, 1))
//   biases                   ~ N(0, 0.3²)
//   norm weights             ~ 1 + N(0, 0.2²)
// All float64, keyed by the names of the tensors given (e.g. tinyModel(...).tensors).

export function randomWeights(tensors: Map<string, { shape: number[] }>, seed: number): Map<string, Float64Array> {
  const r = rng(seed);
  const out = new Map<string, Float64Array>();
  for (const [name, { shape }] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    let draw: () => number;
    if (/norm\.weight$/.test(name)) draw = () => 1 + r.normal(0, 0.2);
    else if (name.endsWith('.bias')) draw = () => r.normal(0, 0.3);
    else draw = () => r.normal(0, 1 / Math.sqrt(shape[1]));
    out.set(name, Float64Array.from({ length: n }, draw));
  }
  return out;
}

/**
 * A LoRA pair on each (layer, module): A [r, in] ~ N(0, 1/in) and B [out, r] ~ N(0, bStd²),
 * B nonzero by default so that dA is too (PEFT's B = 0 init makes dA vanish at step 0).
 */
export function randomLora(
  config: ModelConfig,
  targets: readonly { layer: number; module: LinearModule; r: number }[],
  seed: number,
  bStd = 0.25,
): Map<string, LoraWeights> {
  const r = rng(seed);
  const shapes = linearShapes(config);
  const lora = new Map<string, LoraWeights>();
  for (const { layer, module, r: rank } of targets) {
    const { inFeatures, outFeatures } = shapes.get(module)!;
    const A = Float64Array.from({ length: rank * inFeatures }, () => r.normal(0, 1 / Math.sqrt(inFeatures)));
    const B = Float64Array.from({ length: outFeatures * rank }, () => (bStd === 0 ? 0 : r.normal(0, bStd)));
    lora.set(modulePath(layer, module), { A, B });
  }
  return lora;
}

/**
 * A batch from examples of the given lengths, `rows[b]` listing the lengths packed into row b,
 * through the real collate (pad id 0, columns rounded up to `padMultiple`). Ids are uniform over
 * the vocabulary; the first `promptTokens` labels of each example are -100 (a masked prompt).
 */
export function randomBatch(config: ModelConfig, rows: readonly (readonly number[])[], seed: number, promptTokens = 1, padMultiple = 8): Batch {
  const r = rng(seed);
  const examples: TokenRow[] = [];
  const placed: number[][] = [];
  for (const lengths of rows) {
    placed.push(lengths.map((n) => {
      const inputIds = Int32Array.from({ length: n }, () => r.int(0, config.vocabSize));
      const labels = inputIds.map((id, t) => (t < promptTokens ? ignoreIndex : id));
      examples.push({ inputIds, labels });
      return examples.length - 1;
    }));
  }
  return collate(examples, placed, 0, padMultiple);
}

/** An inverted-dropout mask (rows, cols): 0 with probability p, else 1/(1 − p). */
export function dropoutMask(rows: number, cols: number, p: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: rows * cols }, () => (r.uniform() < p ? 0 : 1 / (1 - p)));
}
