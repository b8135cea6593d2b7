// The root of every error webtune raises on purpose. `message` is written for the user: it says
// what happened (naming the file, line, tensor or field) and what to do. `code` is stable, for
// tests and for crossing the worker boundary as a plain value.
export class WebtuneError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** A structured-cloneable copy, for postMessage / Comlink. */
  toJSON(): { name: string; code: string; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** A problem with something the user handed us (a file, a flag, a setting): exit code 2 in the CLI. */
export class InputError extends WebtuneError {}
