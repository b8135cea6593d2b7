import { WebtuneError } from '../errors.ts';

// Errors of the GPU layer. Each message says what happened and what the user can do.

/** No usable WebGPU: the reason names the cause (old browser, insecure origin, blocked GPU, no driver). */
export class WebGPUUnavailableError extends WebtuneError {
  constructor(readonly reason: string) {
    super('webgpu_unavailable', reason);
  }
}

/** The GPU device went away (driver reset, tab backgrounded too long, destroy()). */
export class DeviceLostError extends WebtuneError {
  constructor(readonly detail: string) {
    super(
      'device_lost',
      `The GPU device was lost (${detail || 'no reason given'}). Training state on the GPU is gone; ` +
        'reload the page (or rerun the command) to resume from the last checkpoint.',
    );
  }
}

/** A single buffer larger than the adapter allows even after splitting. */
export class BufferTooLargeError extends WebtuneError {
  constructor(
    readonly bufferName: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      'buffer_too_large',
      `${bufferName} needs ${formatBytes(bytes)} in one GPU buffer but this adapter allows at most ` +
        `${formatBytes(limit)}; use a smaller model, a shorter sequence length or a smaller batch.`,
    );
  }
}

/** The driver refused an allocation. */
export class GpuOutOfMemoryError extends WebtuneError {
  constructor(
    readonly bufferName: string,
    readonly bytes: number,
    readonly liveBytes: number,
  ) {
    super(
      'gpu_out_of_memory',
      `The GPU ran out of memory allocating ${bufferName} (${formatBytes(bytes)}, with ${formatBytes(liveBytes)} ` +
        'already in use); lower the batch size or sequence length, turn on activation checkpointing, or pick a smaller model.',
    );
  }
}

/** A WGSL compile or pipeline validation failure: always a bug of ours, so the message carries the details. */
export class ShaderError extends WebtuneError {
  constructor(kernel: string, detail: string) {
    super('shader_error', `kernel ${kernel} failed to compile: ${detail}`);
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
