// Number formatting for people: binary units because GPU limits are powers of two, and the
// exact figure beside it where precision matters (limits are compared against tensor sizes).

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1073741824 → "1 GiB", 2147483644 → "2.00 GiB", 16384 → "16 KiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return 'unknown';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = Number.isInteger(value) ? 0 : value < 10 ? 2 : value < 100 ? 1 : 0;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** "maxStorageBufferBindingSize" → ["max", "Storage", "Buffer", "Binding", "Size"]: where a long name may wrap. */
export function camelParts(name: string): string[] {
  return name.split(/(?=[A-Z])/);
}

/** 1073741824 → "1,073,741,824" (fixed locale, so screenshots and tests read the same everywhere). */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
