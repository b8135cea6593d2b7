import type { Outcome, WireError } from '../../worker/api.ts';

// Small helpers the UI state classes share for talking to the engine.

/** A rejection from the client (the worker stopped, or a bug) as a WireError, keeping its code. */
export function asWireError(e: unknown): WireError {
  const err = e as Partial<WireError> | null;
  return {
    name: typeof err?.name === 'string' ? err.name : 'Error',
    code: typeof err?.code === 'string' ? err.code : 'unexpected',
    message: typeof err?.message === 'string' && err.message ? err.message : String(e),
  };
}

/** Awaits an engine call; a rejection becomes an `ok: false` outcome like any other failure. */
export async function settle<T>(call: Promise<Outcome<T>>): Promise<Outcome<T>> {
  try {
    return await call;
  } catch (e) {
    return { ok: false, error: asWireError(e) };
  }
}

/** Starts a browser download of what the engine handed over: bytes, or a Blob kept in IndexedDB (not copied). */
export function download(data: Uint8Array | Blob, fileName: string, type = 'application/zip'): void {
  const blob = data instanceof Blob ? data : new Blob([data as Uint8Array<ArrayBuffer>], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  // The click has started the download; the URL may go once the browser has read it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
