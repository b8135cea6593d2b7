import type { ModelConfig } from '../formats/hf_config.ts';
import { expectedTensors, LINEAR_MODULES, type LinearModule } from '../formats/tensor_names.ts';

// Which projections carry a LoRA pair, and their shapes (formats.md §2.1, §2.2, §2.7).
// A target is one nn.Linear W [out, in] of one decoder layer; its LoRA pair is
//   A [r, in]  (lora_A = nn.Linear(in, r)),   B [out, r]  (lora_B = nn.Linear(r, out)),
// so it adds r·(in + out) trainable parameters and y += scaling · B(A(dropout(x))).

export const ALL_LINEAR = 'all-linear';

export interface LoraTarget {
  layer: number;
  module: LinearModule;
  /** The HF module path, e.g. "model.layers.3.self_attn.q_proj". */
  path: string;
  inFeatures: number;
  outFeatures: number;
  /** [r, in] */
  aShape: [number, number];
  /** [out, r] */
  bShape: [number, number];
}

export function isLinearModule(name: unknown): name is LinearModule {
  return typeof name === 'string' && (LINEAR_MODULES as readonly string[]).includes(name);
}

/** Deduplicated, in the canonical LINEAR_MODULES order (q, k, v, o, gate, up, down). */
export function canonicalModules(modules: Iterable<LinearModule>): LinearModule[] {
  const set = new Set(modules);
  return LINEAR_MODULES.filter((m) => set.has(m));
}

/**
 * `--target-modules`: "all-linear" (PEFT's expansion: every nn.Linear but the output embedding,
 * which for these architectures is exactly the seven projections) or a comma-separated list of
 * module names. Unknown names are returned, not thrown, so a caller can report all of them.
 */
export function parseTargetModules(spec: string): { modules: LinearModule[]; unknown: string[] } {
  const trimmed = spec.trim();
  if (trimmed === ALL_LINEAR) return { modules: [...LINEAR_MODULES], unknown: [] };
  const names = trimmed.split(',').map((s) => s.trim());
  const modules: LinearModule[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    if (isLinearModule(name)) modules.push(name);
    else unknown.push(name);
  }
  return { modules: canonicalModules(modules), unknown };
}

const ATTENTION_MODULES: ReadonlySet<LinearModule> = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj']);

/** "self_attn" for q/k/v/o, "mlp" for gate/up/down: the parent module in the HF path. */
export function moduleParent(module: LinearModule): 'self_attn' | 'mlp' {
  return ATTENTION_MODULES.has(module) ? 'self_attn' : 'mlp';
}

export function modulePath(layer: number, module: LinearModule): string {
  return `model.layers.${layer}.${moduleParent(module)}.${module}`;
}

/**
 * The shape of one projection as [in, out], read from expectedTensors so that LoRA and the base
 * weights can never disagree (q: hidden → heads·head_dim; k, v: hidden → kv_heads·head_dim;
 * o: heads·head_dim → hidden; gate, up: hidden → intermediate; down: intermediate → hidden).
 */
export function linearShapes(config: ModelConfig): Map<LinearModule, { inFeatures: number; outFeatures: number }> {
  const shapes = new Map<LinearModule, { inFeatures: number; outFeatures: number }>();
  const prefix = 'model.layers.0.';
  for (const t of expectedTensors({ ...config, numLayers: Math.min(config.numLayers, 1) })) {
    if (!t.linear || !t.name.startsWith(prefix)) continue;
    const module = t.name.slice(0, -'.weight'.length).split('.').pop();
    if (isLinearModule(module)) shapes.set(module, { inFeatures: t.shape[1], outFeatures: t.shape[0] });
  }
  return shapes;
}

/** Every (layer, module) pair that gets LoRA, in state-dict order: layer by layer, q … down. */
export function loraTargets(config: ModelConfig, modules: readonly LinearModule[], r: number): LoraTarget[] {
  if (!Number.isSafeInteger(r) || r < 1) throw new RangeError(`LoRA rank must be an integer ≥ 1, got ${r}`);
  const shapes = linearShapes(config);
  const chosen = canonicalModules(modules);
  const targets: LoraTarget[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const module of chosen) {
      const { inFeatures, outFeatures } = shapes.get(module)!;
      targets.push({ layer, module, path: modulePath(layer, module), inFeatures, outFeatures, aShape: [r, inFeatures], bShape: [outFeatures, r] });
    }
  }
  return targets;
}

/** Σ r·(in + out) over the targets: what LoRA trains. */
export function trainableParameterCount(targets: readonly LoraTarget[]): number {
  return targets.reduce((n, t) => n + t.aShape[0] * t.aShape[1] + t.bShape[0] * t.bShape[1], 0);
}

/** PEFT's scaling (formats.md §2.2): alpha / r, or alpha / √r with rsLoRA. A double. */
export function loraScaling(alpha: number, r: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}
