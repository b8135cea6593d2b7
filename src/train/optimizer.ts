import type { Recorder } from '../engine/recorder.ts';
import { readBuffer } from '../engine/readback.ts';
import type { Runtime } from '../engine/runtime.ts';
import { adamwStep } from '../kernels/adamw.ts';
import { GRAD_NORM_STATE_BYTES, gradNorm, GradNormState, gradNormSlots } from '../kernels/grad_norm.ts';
import { ADAMW } from './config.ts';
import type { ParamSlice } from './trainable.ts';

// AdamW over the LoRA parameters, with global-norm clipping, all on the GPU (formats.md §5.3–5.4):
// the norm kernel writes [norm, clip coefficient, non-finite flag, Σg²] into `state`, AdamW reads
// the coefficient and skips the whole update when the flag is set. The only readback of a step
// is `state` (16 bytes) and the loss — what the step must report.

export interface OptimizerSettings {
  weightDecay: number;
  /** ≤ 0 turns clipping off. */
  maxGradNorm: number;
}

export interface StepReport {
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** True when a gradient was NaN or ±inf: the update was skipped. */
  nonFinite: boolean;
}

export class AdamW {
  private readonly m: GPUBuffer[];
  private readonly v: GPUBuffer[];
  private readonly partials: GPUBuffer;
  readonly state: GPUBuffer;

  constructor(
    private readonly rt: Runtime,
    private readonly params: readonly ParamSlice[],
    private readonly grads: readonly ParamSlice[],
    private readonly settings: OptimizerSettings,
  ) {
    const arena = rt.arena;
    this.m = params.map((p, i) => arena.createBuffer(`adamw.m[${i}]`, p.count * 4, 'optimizer'));
    this.v = params.map((p, i) => arena.createBuffer(`adamw.v[${i}]`, p.count * 4, 'optimizer'));
    this.partials = arena.createBuffer('grad_norm.partials', gradNormSlots(grads) * 8, 'scratch');
    this.state = arena.createBuffer('grad_norm.state', GRAD_NORM_STATE_BYTES, 'scratch');
  }

  /** Records clipping and update number `step` (1-based) at learning rate `lr`. */
  record(rec: Recorder, step: number, lr: number): void {
    gradNorm(this.rt, rec, { grads: this.grads, partials: this.partials, state: this.state }, this.settings.maxGradNorm);
    adamwStep(
      this.rt,
      rec,
      this.params.map((p, i) => ({ param: p.buffer, grad: this.grads[i].buffer, m: this.m[i], v: this.v[i], count: p.count })),
      this.state,
      { lr, step, ...ADAMW, weightDecay: this.settings.weightDecay },
    );
  }

  /** After the step's submit: the norm and whether the update was skipped. */
  async report(): Promise<StepReport> {
    const s = new Float32Array(await readBuffer(this.rt.device, this.state, 0, GRAD_NORM_STATE_BYTES));
    return { gradNorm: s[GradNormState.norm], nonFinite: s[GradNormState.nonFinite] !== 0 };
  }

  /** The moments read back, for checkpoints (in parameter order). */
  async readMoments(): Promise<{ m: Float32Array[]; v: Float32Array[] }> {
    const read = (bs: GPUBuffer[]) => Promise.all(bs.map(async (b, i) => new Float32Array(await readBuffer(this.rt.device, b, 0, this.params[i].count * 4))));
    return { m: await read(this.m), v: await read(this.v) };
  }

  /** Restores moments saved by readMoments (resume). */
  writeMoments(moments: { m: readonly Float32Array[]; v: readonly Float32Array[] }): void {
    for (const [name, host, gpu] of [['m', moments.m, this.m], ['v', moments.v, this.v]] as const) {
      if (host.length !== gpu.length) throw new Error(`AdamW ${name}: ${host.length} tensors given, ${gpu.length} expected`);
      host.forEach((values, i) => {
        if (values.length !== this.params[i].count) throw new Error(`AdamW ${name}[${i}]: ${values.length} values given, ${this.params[i].count} expected`);
        this.rt.device.queue.writeBuffer(gpu[i], 0, values.buffer, values.byteOffset, values.byteLength);
      });
    }
  }

  /** Gives the moments and the norm scratch back to the arena (a run ends; the model may train again). */
  release(): void {
    for (const buffer of [...this.m, ...this.v, this.partials, this.state]) this.rt.arena.release(buffer);
  }
}
