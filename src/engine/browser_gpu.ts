import { acquireDevice, type GpuContext } from './device.ts';
import { WebGPUUnavailableError } from './errors.ts';

// WebGPU in the page or in a worker: explain precisely why it is missing when it is.
export async function acquireBrowserDevice(): Promise<GpuContext> {
  const scope = globalThis as typeof globalThis & { isSecureContext?: boolean };
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    if (scope.isSecureContext === false) {
      throw new WebGPUUnavailableError(
        'WebGPU is only offered to secure pages: open webtune over https:// or from http://localhost, not a plain http:// address.',
      );
    }
    throw new WebGPUUnavailableError(
      'This browser has no WebGPU. Use a current Chrome or Edge (113 or later), or Safari 26 / Firefox 141 or later with WebGPU enabled.',
    );
  }
  return acquireDevice(gpu);
}
