import { acquireBrowserDevice } from '../engine/browser_gpu.ts';
import type { GpuContext } from '../engine/device.ts';
import type { EngineApi, GpuProbe } from './api.ts';
import { toWireError } from './wire_error.ts';

/**
 * The engine behind the worker API. A plain class: the worker exposes one instance through
 * Comlink, and tests and the CLI construct it directly, passing the device acquisition that suits
 * them (the default is the page's or worker's `navigator.gpu`; in Node, `acquireNodeDevice`).
 */
export class Engine implements EngineApi {
  readonly #acquire: () => Promise<GpuContext>;
  #gpu: Promise<GpuContext> | undefined;

  constructor(acquire: () => Promise<GpuContext> = acquireBrowserDevice) {
    this.#acquire = acquire;
  }

  async probeGpu(): Promise<GpuProbe> {
    try {
      const gpu = await this.#device();
      return { ok: true, adapter: gpu.adapter };
    } catch (e) {
      return { ok: false, error: toWireError(e) };
    }
  }

  /**
   * One device for the engine's lifetime. A failed acquisition or a lost device is forgotten, so
   * the next call tries again (the user may have fixed the cause, or the driver reset).
   */
  #device(): Promise<GpuContext> {
    if (!this.#gpu) {
      const pending = this.#acquire();
      const forget = () => {
        if (this.#gpu === pending) this.#gpu = undefined;
      };
      this.#gpu = pending;
      pending.then((gpu) => gpu.lost.then(forget), forget);
    }
    return this.#gpu;
  }
}
