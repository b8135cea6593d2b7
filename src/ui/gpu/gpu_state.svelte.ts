import type { AdapterSummary, GpuProbe, WireError } from '../../worker/api.ts';

export type GpuStatus =
  | { kind: 'probing' }
  | { kind: 'ready'; adapter: AdapterSummary }
  | { kind: 'unavailable'; error: WireError };

/** After this long the page says the GPU is taking a while, rather than sitting silent. */
const SLOW_MS = 8_000;

/**
 * Whether the engine has a GPU, for the UI. The probe is passed in (the worker client's
 * `engine.probeGpu` in the app) so this class does not know about workers and can be driven by hand.
 */
export class GpuState {
  status: GpuStatus = $state.raw({ kind: 'probing' });
  /** The probe has run longer than expected: a GPU process starting up, or a driver that hangs. */
  slow = $state(false);
  /** The device was lost after it was ready (driver reset, GPU gone): what the engine said. */
  lost: WireError | null = $state.raw(null);
  readonly #probe: () => Promise<GpuProbe>;
  readonly #watchLoss: ((onLost: (e: WireError) => void) => Promise<unknown>) | undefined;
  /** Answers to an earlier check() that was overtaken by a newer one are dropped. */
  #generation = 0;

  /** `watchLoss` registers a callback for the device's loss (the engine's watchDeviceLoss, proxied). */
  constructor(probe: () => Promise<GpuProbe>, watchLoss?: (onLost: (e: WireError) => void) => Promise<unknown>) {
    this.#probe = probe;
    this.#watchLoss = watchLoss;
  }

  async check(): Promise<void> {
    const generation = ++this.#generation;
    this.status = { kind: 'probing' };
    this.slow = false;
    const timer = setTimeout(() => {
      if (generation === this.#generation) this.slow = true;
    }, SLOW_MS);
    let next: GpuStatus;
    try {
      const probe = await this.#probe();
      next = probe.ok ? { kind: 'ready', adapter: probe.adapter } : { kind: 'unavailable', error: probe.error };
    } catch (e) {
      next = { kind: 'unavailable', error: asWireError(e) };
    } finally {
      clearTimeout(timer);
    }
    if (generation !== this.#generation) return;
    this.status = next;
    this.slow = false;
    if (next.kind === 'ready') {
      this.lost = null;
      void this.#watchLoss?.((e) => {
        if (generation === this.#generation) this.lost = e;
      }).catch(() => undefined);
    }
  }
}

/** A rejection from the client (the worker stopped, or a bug): keep its code when it has one. */
function asWireError(e: unknown): WireError {
  const err = e as Partial<WireError> | null;
  return {
    name: typeof err?.name === 'string' ? err.name : 'Error',
    code: typeof err?.code === 'string' ? err.code : 'unexpected',
    message: typeof err?.message === 'string' && err.message ? err.message : String(e),
  };
}
