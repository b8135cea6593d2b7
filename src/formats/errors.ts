import { InputError } from '../errors.ts';

// Errors for files the user hands us. Every message names the file (and the tensor or field when
// there is one) and ends with what to do, because it is shown as the single line the CLI prints.

/** A safetensors file that breaks formats.md §3.3, or that cannot be read back. */
export class SafetensorsFormatError extends InputError {
  constructor(
    readonly file: string,
    readonly tensor: string | null,
    readonly reason: string,
  ) {
    super('bad_safetensors', `${file}: ${tensor === null ? '' : `tensor "${tensor}": `}${reason}`);
  }
}

/** A folder that lacks a file we need, or whose index / JSON files are malformed. */
export class ModelFolderError extends InputError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super('bad_model_folder', `${file}: ${reason}`);
  }
}

/** A file that shrank or changed while we were reading it. */
export class FileReadError extends InputError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super('file_read', `${file}: ${reason}`);
  }
}

/**
 * A config.json describing a model webtune cannot run: unknown model_type, a missing or invalid
 * required field, an unsupported rope type or activation. `field` is the config key path.
 */
export class UnsupportedModelError extends InputError {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly supported: string,
    readonly file = 'config.json',
  ) {
    super('unsupported_model', `${file}: ${field} = ${showValue(value)} is not supported; webtune supports ${supported}`);
  }
}

/** The tensors in a checkpoint do not match what its config.json says they should be. */
export class TensorMismatchError extends InputError {
  constructor(
    readonly where: string,
    readonly tensor: string,
    readonly reason: string,
  ) {
    super('tensor_mismatch', `${where}: tensor "${tensor}": ${reason}`);
  }
}

function showValue(value: unknown): string {
  if (value === undefined) return '(missing)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
