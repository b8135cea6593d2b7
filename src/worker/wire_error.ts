import { WebtuneError } from '../errors.ts';
import type { WireError } from './api.ts';

/**
 * Any thrown value as a plain `WireError`. Our own errors keep their code and user-facing message;
 * anything else (a DOMException from the driver, a bug) is passed on with its own message, marked
 * `unexpected` so the UI can say it is not the user's doing.
 */
export function toWireError(e: unknown): WireError {
  if (e instanceof WebtuneError) return e.toJSON();
  if (e instanceof Error) return { name: e.name, code: 'unexpected', message: e.message || String(e) };
  return { name: 'Error', code: 'unexpected', message: String(e) };
}
