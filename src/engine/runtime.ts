import { GpuArena, type ArenaOptions } from './arena.ts';
import type { GpuContext } from './device.ts';
import { Kernel, type KernelSpec } from './kernel.ts';
import { Recorder, UniformPool } from './recorder.ts';

// Everything a launcher needs from the engine, in one object: the device, the byte-counting
// arena, the kernel (pipeline) cache and command recording.
export class Runtime {
  readonly device: GPUDevice;
  readonly arena: GpuArena;
  private readonly uniforms: UniformPool;
  private readonly kernels = new Map<string, Kernel>();

  constructor(
    readonly gpu: GpuContext,
    options: ArenaOptions = {},
  ) {
    this.device = gpu.device;
    this.arena = new GpuArena(gpu, options);
    this.uniforms = new UniformPool(gpu.device);
  }

  /** The kernel for a spec, built once per name and source (launchers call this on every dispatch). */
  kernel(spec: KernelSpec): Kernel {
    let kernel = this.kernels.get(spec.name);
    if (!kernel || kernel.spec.source !== spec.source) {
      kernel = new Kernel(this.device, spec);
      this.kernels.set(spec.name, kernel);
    }
    return kernel;
  }

  recorder(label?: string): Recorder {
    return new Recorder(this.device, this.uniforms, label);
  }

  /** Records with `fn`, submits, and waits for the GPU to finish (tests, loading, one-off work). */
  async run(label: string, fn: (rec: Recorder) => void): Promise<number> {
    const rec = this.recorder(label);
    fn(rec);
    rec.submit();
    await this.device.queue.onSubmittedWorkDone();
    return rec.dispatchCount;
  }

  destroy(): void {
    this.arena.releaseAll();
    this.device.destroy();
  }
}
