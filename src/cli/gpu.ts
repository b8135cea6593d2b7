import { acquireNodeDevice } from '../engine/node_gpu.ts';
import { Runtime } from '../engine/runtime.ts';
import type { CliIo } from './io.ts';

// The CLI's GPU: the one the caller gave (tests), else the machine's own through Dawn, else
// SwiftShader (said on stderr), else a WebGPUUnavailableError saying what to install (main
// prints it as one line). `release` destroys only a device acquired here.
export async function withCliRuntime<T>(io: CliIo, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  if (io.runtime) return fn(io.runtime);
  const gpu = await acquireNodeDevice({ prefer: 'system', onNote: (note) => io.err(`webtune: ${note}\n`) });
  const rt = new Runtime(gpu);
  try {
    return await fn(rt);
  } finally {
    rt.destroy();
  }
}
