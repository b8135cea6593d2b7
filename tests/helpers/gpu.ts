import { afterEach, describe } from 'vitest';
import { acquireNodeDevice, INSTALL_HINT } from '../../src/engine/node_gpu.ts';
import { Runtime } from '../../src/engine/runtime.ts';
import type { ArenaOptions } from '../../src/engine/arena.ts';
import type { GpuContext } from '../../src/engine/device.ts';

// The GPU for tests: Dawn in Node on SwiftShader (or the machine's GPU with WEBTUNE_TEST_GPU=system).
// With REQUIRE_WEBGPU=1 (CI) a missing adapter fails the file at import; without it the GPU suites
// are skipped with a warning that says what to install. Any uncaptured WebGPU error (a validation
// error in a kernel) fails the test during which it arrived.

const errors: string[] = [];
const prefer = process.env.WEBTUNE_TEST_GPU === 'system' ? 'system' : 'swiftshader';

// One device per test file (each GPU file runs in its own process): Dawn does not like a device
// being destroyed and another created right after in the same process.
let shared: GpuContext | undefined;
let gpuMissing: string | undefined;
try {
  shared = await acquireNodeDevice({ prefer });
  shared.device.addEventListener('uncapturederror', (event) => {
    errors.push((event as GPUUncapturedErrorEvent).error.message);
  });
} catch (e) {
  gpuMissing = `no WebGPU adapter for the GPU tests (${(e as Error).message}); ${INSTALL_HINT}`;
}
export { gpuMissing };
if (gpuMissing) {
  if (process.env.REQUIRE_WEBGPU === '1') throw new Error(`REQUIRE_WEBGPU=1: ${gpuMissing}`);
  console.warn(`\n*** SKIPPING GPU TESTS: ${gpuMissing}\n`);
}

/** A describe block that needs the GPU. */
export function describeGpu(name: string, fn: () => void): void {
  describe.skipIf(Boolean(gpuMissing))(name, fn);
}

/** A runtime over the file's shared device; release its buffers with `rt.arena.releaseAll()`. */
export async function gpuRuntime(options: ArenaOptions = {}): Promise<Runtime> {
  if (!shared) throw new Error(gpuMissing);
  return new Runtime(shared, options);
}

afterEach(() => {
  if (errors.length > 0) {
    const all = errors.splice(0);
    throw new Error(`uncaptured WebGPU errors:\n${all.join('\n')}`);
  }
});
