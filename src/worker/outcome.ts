import * as Comlink from 'comlink';
import type { Outcome, ProgressCallback } from './api.ts';
import { toWireError } from './wire_error.ts';

// How the engine's methods answer (api.ts's rules): failures as values, big buffers transferred,
// and callbacks into the page that can never fail the engine's own work.

/** Runs `fn`, turning a thrown error into `{ ok: false, error }` for the UI. */
export async function attempt<T extends object>(fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, ...(await fn()) };
  } catch (e) {
    return { ok: false, error: toWireError(e) };
  }
}

/** Marks the zip's buffer for transfer: Comlink moves it to the page instead of copying it. */
export function withTransfer<T extends Outcome<{ bytes: Uint8Array }>>(out: T): T {
  return out.ok ? Comlink.transfer(out, [out.bytes.buffer]) : out;
}

/**
 * A UI callback that can never fail the engine's work: a Comlink proxy returns a promise that
 * rejects when the page has gone, and a progress report is not worth an error.
 */
export function quietly<A extends unknown[]>(fn: ((...args: A) => unknown) | undefined): (...args: A) => void {
  return (...args) => {
    try {
      void Promise.resolve(fn?.(...args)).catch(() => undefined);
    } catch {
      // The caller stopped listening.
    }
  };
}

export function progress(onProgress: ProgressCallback | undefined, stage: string): void {
  quietly(onProgress)({ stage, done: 0, total: 0 });
}
