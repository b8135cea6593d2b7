import * as Comlink from 'comlink';
import { WebtuneError } from '../errors.ts';
import type { EngineApi } from './api.ts';

/** The engine worker failed to load or threw outside any call: every pending call is answered with this. */
export class EngineStoppedError extends WebtuneError {
  constructor(detail: string) {
    super(
      'engine_stopped',
      `The webtune engine (a background worker) stopped: ${detail}. Reload the page; if this keeps ` +
        'happening, use a current Chrome or Edge and check the browser console for details.',
    );
  }
}

export interface EngineClient {
  /** The worker's Engine: each method returns a promise, as in `EngineApi`. */
  readonly engine: Comlink.Remote<EngineApi>;
  /** Stops the worker; pending and later calls reject with `EngineStoppedError`. */
  terminate(): void;
}

/**
 * Starts the engine in a module worker and wraps it for the UI. Comlink alone would leave a call
 * pending forever if the worker failed to load or crashed, so every call here also races the
 * worker's `error` event.
 */
export function createEngineClient(): EngineClient {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'webtune-engine' });
  let stop: (error: EngineStoppedError) => void = () => {};
  const stopped = new Promise<never>((_, reject) => {
    stop = reject;
  });
  // Nobody may be waiting when the worker stops; the rejection is still delivered to later calls.
  stopped.catch(() => {});
  worker.addEventListener('error', (event) => {
    stop(new EngineStoppedError(event.message || 'its script failed to load'));
  });
  worker.addEventListener('messageerror', () => {
    stop(new EngineStoppedError('it sent a message that could not be read'));
  });

  const remote = Comlink.wrap<EngineApi>(worker);
  const engine = new Proxy({} as Comlink.Remote<EngineApi>, {
    get(_, key) {
      // `then` must stay undefined, or awaiting the client would call into the worker.
      if (typeof key !== 'string' || key === 'then') return undefined;
      const method = Reflect.get(remote, key) as (...args: unknown[]) => Promise<unknown>;
      return (...args: unknown[]) => Promise.race([method(...args), stopped]);
    },
  });

  return {
    engine,
    terminate() {
      worker.terminate();
      stop(new EngineStoppedError('it was terminated'));
    },
  };
}
