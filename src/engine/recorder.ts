import type { Kernel, Overrides } from './kernel.ts';
import { packUniforms, type UniformValues } from './uniforms.ts';

// Records many dispatches into one command encoder and submits them together: a training step is
// one submit. Each dispatch gets its own 256-byte slot in a uniform block; the blocks are written
// with one queue.writeBuffer each just before the submit (queue order guarantees the writes land
// before the commands run, and after every earlier submit, so blocks are reused across steps).

const SLOT_BYTES = 256; // minUniformBufferOffsetAlignment is at most 256 by the spec
const SLOTS_PER_BLOCK = 256;

export type BindingResource = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface DispatchArgs {
  bindings: readonly BindingResource[];
  uniforms?: UniformValues;
  workgroups: readonly [number, number?, number?];
  overrides?: Overrides;
}

interface UniformBlock {
  buffer: GPUBuffer;
  host: ArrayBuffer;
  view: DataView;
}

/** Uniform blocks outlive recorders; one pool per device, lent to one open recorder at a time. */
export class UniformPool {
  readonly blocks: UniformBlock[] = [];
  inUse = false;
  constructor(readonly device: GPUDevice) {}

  block(i: number): UniformBlock {
    while (this.blocks.length <= i) {
      const host = new ArrayBuffer(SLOT_BYTES * SLOTS_PER_BLOCK);
      const buffer = this.device.createBuffer({
        label: `uniforms[${this.blocks.length}]`,
        size: host.byteLength,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      this.blocks.push({ buffer, host, view: new DataView(host) });
    }
    return this.blocks[i];
  }
}

export class Recorder {
  readonly encoder: GPUCommandEncoder;
  private pass?: GPUComputePassEncoder;
  private slots = 0;
  dispatchCount = 0;

  constructor(
    readonly device: GPUDevice,
    readonly uniforms: UniformPool,
    label = 'step',
  ) {
    if (uniforms.inUse) throw new Error('another Recorder is still open: submit it before recording the next');
    uniforms.inUse = true;
    this.encoder = device.createCommandEncoder({ label });
  }

  dispatch(kernel: Kernel, args: DispatchArgs): void {
    const { spec } = kernel;
    if (args.bindings.length !== spec.bindings.length) {
      throw new Error(`${spec.name}: ${args.bindings.length} bindings given, ${spec.bindings.length} declared`);
    }
    const entries: GPUBindGroupEntry[] = args.bindings.map((r, i) => ({
      binding: i,
      resource: 'buffer' in r ? r : { buffer: r },
    }));
    if (spec.uniforms) {
      const slot = this.slots++;
      const block = this.uniforms.block(Math.floor(slot / SLOTS_PER_BLOCK));
      const offset = (slot % SLOTS_PER_BLOCK) * SLOT_BYTES;
      packUniforms(spec.name, spec.uniforms, args.uniforms ?? {}, block.view, offset);
      entries.push({ binding: entries.length, resource: { buffer: block.buffer, offset, size: kernel.uniformBytes } });
    }
    const bindGroup = this.device.createBindGroup({ label: spec.name, layout: kernel.bindGroupLayout, entries });
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    this.pass ??= this.encoder.beginComputePass({ label: 'compute' });
    this.pass.setPipeline(kernel.pipeline(args.overrides));
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  clear(buffer: GPUBuffer, offset = 0, size?: number): void {
    this.endPass();
    this.encoder.clearBuffer(buffer, offset, size);
  }

  /** Writes the used uniform slots and submits everything recorded. */
  submit(): void {
    this.endPass();
    const used = Math.ceil(this.slots / SLOTS_PER_BLOCK);
    for (let i = 0; i < used; i++) {
      const block = this.uniforms.block(i);
      const bytes = i === used - 1 ? ((this.slots - 1) % SLOTS_PER_BLOCK + 1) * SLOT_BYTES : block.host.byteLength;
      this.device.queue.writeBuffer(block.buffer, 0, block.host, 0, bytes);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.uniforms.inUse = false;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }
}

/** Splits a 1-D workgroup count over x and y so neither exceeds the per-dimension limit. */
export function grid(workgroups: number, maxPerDimension = 65535): [number, number] {
  if (workgroups <= maxPerDimension) return [workgroups, 1];
  const y = Math.ceil(workgroups / maxPerDimension);
  return [Math.ceil(workgroups / y), y];
}
