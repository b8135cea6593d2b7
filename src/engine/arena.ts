import type { GpuContext } from './device.ts';
import { BufferTooLargeError, GpuOutOfMemoryError } from './errors.ts';

// The one place GPU buffers are created. Every buffer belongs to a category, and the arena keeps
// live and peak bytes per category and in total, so memory can be reported and budgeted.

export const MEMORY_CATEGORIES = ['base', 'lora', 'optimizer', 'activations', 'scratch'] as const;
export type MemoryCategory = (typeof MEMORY_CATEGORIES)[number];

export interface MemoryReport {
  live: Record<MemoryCategory, number>;
  peak: Record<MemoryCategory, number>;
  liveTotal: number;
  /** The highest total at any moment (not the sum of the per-category peaks). */
  peakTotal: number;
}

/** Usage of ordinary storage tensors. A function: in Node the GPUBufferUsage global arrives late. */
export function storageUsage(): number {
  return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
}

export interface ArenaOptions {
  /** Test hook: pretend the binding limit is this small, to exercise tensor splitting. */
  maxBindingBytes?: number;
}

export class GpuArena {
  readonly device: GPUDevice;
  /** Largest byte range one binding may cover (maxStorageBufferBindingSize, or a test override). */
  readonly maxBindingBytes: number;
  readonly maxBufferBytes: number;
  private readonly sizes = new Map<GPUBuffer, { bytes: number; category: MemoryCategory }>();
  private readonly live = zeroes();
  private readonly peak = zeroes();
  private liveTotal = 0;
  private peakTotal = 0;
  private pendingChecks: Promise<void>[] = [];

  constructor(readonly gpu: GpuContext, options: ArenaOptions = {}) {
    this.device = gpu.device;
    this.maxBufferBytes = gpu.device.limits.maxBufferSize;
    this.maxBindingBytes = Math.min(options.maxBindingBytes ?? Infinity, gpu.device.limits.maxStorageBufferBindingSize);
  }

  /** Creates a buffer of at least `bytes` (rounded up to 4), counted under `category`. */
  createBuffer(label: string, bytes: number, category: MemoryCategory, usage = storageUsage()): GPUBuffer {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (size > this.maxBufferBytes) throw new BufferTooLargeError(label, size, this.maxBufferBytes);
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ label, size, usage });
    const liveBefore = this.liveTotal;
    this.pendingChecks.push(
      this.device.popErrorScope().then((error) => {
        if (error) throw new GpuOutOfMemoryError(label, size, liveBefore);
      }),
    );
    this.sizes.set(buffer, { bytes: size, category });
    this.live[category] += size;
    this.liveTotal += size;
    this.peak[category] = Math.max(this.peak[category], this.live[category]);
    this.peakTotal = Math.max(this.peakTotal, this.liveTotal);
    return buffer;
  }

  /** Throws GpuOutOfMemoryError if any allocation since the last call was refused by the driver. */
  async checkAllocations(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    await Promise.all(checks);
  }

  release(buffer: GPUBuffer): void {
    const entry = this.sizes.get(buffer);
    if (!entry) return;
    this.sizes.delete(buffer);
    this.live[entry.category] -= entry.bytes;
    this.liveTotal -= entry.bytes;
    buffer.destroy();
  }

  report(): MemoryReport {
    return { live: { ...this.live }, peak: { ...this.peak }, liveTotal: this.liveTotal, peakTotal: this.peakTotal };
  }

  /** Releases every buffer this arena made. */
  releaseAll(): void {
    for (const buffer of [...this.sizes.keys()]) this.release(buffer);
  }
}

function zeroes(): Record<MemoryCategory, number> {
  return Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, 0])) as Record<MemoryCategory, number>;
}
