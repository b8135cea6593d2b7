import { grid, type BindingResource } from '../engine/recorder.ts';

// Checks the elementwise and row-wise launchers make before recording: a wrong size here would
// otherwise be a silent out-of-bounds read (WGSL clamps it) or a partly written output.

/** Bytes a binding covers: its explicit size, or the rest of the buffer after its offset. */
export function bindingBytes(r: BindingResource): number {
  if ('buffer' in r) return r.size ?? r.buffer.size - (r.offset ?? 0);
  return r.size;
}

/** Throws unless `r` covers at least `elements` 4-byte values. */
export function requireElements(kernel: string, name: string, r: BindingResource, elements: number): void {
  const have = bindingBytes(r);
  if (have < elements * 4) throw new Error(`${kernel}: ${name} holds ${have} bytes, needs ${elements * 4} (${elements} values)`);
}

/** Throws unless every count is a non-negative integer and their product indexes within u32. */
export function requireCounts(kernel: string, counts: Readonly<Record<string, number>>): number {
  let product = 1;
  for (const [name, v] of Object.entries(counts)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${kernel}: ${name} must be a non-negative integer, got ${v}`);
    product *= v;
  }
  if (product > 0xffffffff) throw new Error(`${kernel}: ${product} elements overflow the kernel's u32 indices`);
  return product;
}

/** Workgroups for `n` threads in groups of `wg`, split over (x, y) past 65535. */
export function threadGrid(n: number, wg: number): [number, number] {
  return grid(Math.ceil(n / wg));
}
