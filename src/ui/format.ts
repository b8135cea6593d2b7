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

/** Seconds as people read them: "45 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** 2100000 → "2.1 M", 135000000 → "135 M", 1100000000 → "1.1 B" (parameter counts). */
export function formatCompact(n: number): string {
  if (n >= 1e9) return `${trim(n / 1e9)} B`;
  if (n >= 1e6) return `${trim(n / 1e6)} M`;
  if (n >= 1e3) return `${trim(n / 1e3)} k`;
  return String(n);
}

/** A metric with 4 significant digits; very small or large values in exponent form (learning rates). */
export function formatMetric(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

function trim(v: number): string {
  return v >= 100 ? v.toFixed(0) : Number(v.toPrecision(2)).toString();
}
