import type { Runtime } from '../engine/runtime.ts';
import { readF32 } from '../engine/readback.ts';
import { createTensor, uploadTensor, type GpuTensor } from '../engine/tensor.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { LINEAR_MODULES, type LinearModule } from '../formats/tensor_names.ts';
import { initLoraA, initLoraB, type UniformSource } from './lora_init.ts';
import { loraScaling, loraTargets, trainableParameterCount, type LoraTarget } from './lora_targets.ts';

// The trainable LoRA pairs on the GPU (formats.md §2.1–2.3), one per target projection:
//   A (r, in), B (out, r), and their gradients dA, dB of the same shapes, all f32 in the 'lora'
// category, allocated once. A is PEFT's Kaiming-uniform, B zero, from the caller's random source
// (model/ must not import train/; the trainer passes t => loraInitStream(seed, t)).

export interface LoraOptions {
  r: number;
  alpha: number;
  /** Dropout probability on the input of A during training, in [0, 1). */
  dropout: number;
  modules: readonly LinearModule[];
  /** Scale by alpha/√r instead of alpha/r. */
  rslora: boolean;
  /** The uniform stream A of each target is drawn from (t => loraInitStream(seed, t) in the trainer). */
  init: (target: LoraTarget) => UniformSource;
}

export interface LoraPairGpu {
  target: LoraTarget;
  /** layer · 7 + index in LINEAR_MODULES: names the target's dropout stream whatever else is targeted. */
  slot: number;
  a: GpuTensor; // (r, in)
  b: GpuTensor; // (out, r)
  dA: GpuTensor; // (r, in)
  dB: GpuTensor; // (out, r)
}

/** One f32 tensor as the grad-norm and AdamW launchers take it. */
export interface FlatTensor {
  label: string;
  buffer: GPUBuffer;
  count: number;
}

/** A and B of one target as plain arrays, row-major: A (r, in), B (out, r). */
export interface LoraArrays {
  A: Float32Array;
  B: Float32Array;
}

type LoraTensorKey = 'a' | 'b' | 'dA' | 'dB';

/** The four f32 tensors of one target, in allocation order (the memory estimate sums the same list). */
export function loraPairTensors(target: LoraTarget): { key: LoraTensorKey; name: string; shape: readonly [number, number] }[] {
  return [
    { key: 'a', name: `${target.path}.lora_A`, shape: target.aShape },
    { key: 'b', name: `${target.path}.lora_B`, shape: target.bShape },
    { key: 'dA', name: `${target.path}.lora_A.grad`, shape: target.aShape },
    { key: 'dB', name: `${target.path}.lora_B.grad`, shape: target.bShape },
  ];
}

export class LoraParams {
  readonly pairs: LoraPairGpu[];
  /** pairs by layer and module, for the layer code. */
  readonly byLayer: Map<LinearModule, LoraPairGpu>[];
  readonly scaling: number;
  readonly parameterCount: number;

  constructor(
    private readonly rt: Runtime,
    config: ModelConfig,
    readonly options: LoraOptions,
  ) {
    if (!(options.dropout >= 0 && options.dropout < 1)) throw new RangeError(`LoRA dropout must be in [0, 1), got ${options.dropout}`);
    const targets = loraTargets(config, options.modules, options.r);
    this.scaling = loraScaling(options.alpha, options.r, options.rslora);
    this.parameterCount = trainableParameterCount(targets);
    this.byLayer = Array.from({ length: config.numLayers }, () => new Map());
    this.pairs = targets.map((target) => {
      const t = {} as Record<LoraTensorKey, GpuTensor>;
      for (const spec of loraPairTensors(target)) t[spec.key] = createTensor(rt.arena, spec.name, 'f32', spec.shape, 'lora');
      const pair: LoraPairGpu = { target, slot: target.layer * LINEAR_MODULES.length + LINEAR_MODULES.indexOf(target.module), ...t };
      // One A in host memory at a time.
      uploadTensor(rt.device, pair.a, initLoraA(target, options.init(target)));
      uploadTensor(rt.device, pair.b, initLoraB(target));
      this.byLayer[target.layer].set(target.module, pair);
      return pair;
    });
  }

  /** A then B of every target, in state-dict order (the order AdamW and grad-norm see them). */
  parameters(): FlatTensor[] {
    return this.pairs.flatMap((p) => [flat(p.a), flat(p.b)]);
  }

  /** dA then dB of every target, in the order of parameters(). */
  gradients(): FlatTensor[] {
    return this.pairs.flatMap((p) => [flat(p.dA), flat(p.dB)]);
  }

  /** Every A and B read back, keyed by PEFT module path ("model.layers.0.self_attn.q_proj"). */
  async export(): Promise<Map<string, LoraArrays>> {
    const out = new Map<string, LoraArrays>();
    for (const p of this.pairs) out.set(p.target.path, { A: await readF32(this.rt.device, p.a), B: await readF32(this.rt.device, p.b) });
    return out;
  }

  /** dA and dB of every target read back (tests, debugging), keyed like export(). */
  async exportGradients(): Promise<Map<string, { dA: Float32Array; dB: Float32Array }>> {
    const out = new Map<string, { dA: Float32Array; dB: Float32Array }>();
    for (const p of this.pairs) out.set(p.target.path, { dA: await readF32(this.rt.device, p.dA), dB: await readF32(this.rt.device, p.dB) });
    return out;
  }

  /** Replaces every A and B; the map must hold exactly this model's targets with their shapes. */
  import(weights: ReadonlyMap<string, LoraArrays>): void {
    const problems: string[] = [];
    for (const key of weights.keys()) if (!this.pairs.some((p) => p.target.path === key)) problems.push(`${key} is not a LoRA target of this model`);
    for (const p of this.pairs) {
      const w = weights.get(p.target.path);
      if (!w) problems.push(`${p.target.path} is missing`);
      else if (w.A.length !== p.a.numel || w.B.length !== p.b.numel) {
        problems.push(`${p.target.path}: A has ${w.A.length} values and B ${w.B.length}, expected [${p.a.shape}] and [${p.b.shape}]`);
      }
    }
    if (problems.length > 0) throw new Error(`LoRA import: ${problems.join('; ')}`);
    for (const p of this.pairs) {
      const w = weights.get(p.target.path)!;
      uploadTensor(this.rt.device, p.a, w.A);
      uploadTensor(this.rt.device, p.b, w.B);
    }
  }
}

/** Gives the pairs' buffers back to the arena (the parameters are gone afterwards). */
export function releaseLora(rt: Runtime, lora: LoraParams): void {
  for (const p of lora.pairs) for (const t of [p.a, p.b, p.dA, p.dB]) for (const c of t.chunks) rt.arena.release(c.buffer);
}

function flat(t: GpuTensor): FlatTensor {
  return { label: t.label, buffer: t.buffer, count: t.numel };
}
