import { describe, expect, test } from 'vitest';
import type { AdapterSummary, WireError } from '../../../src/worker/api.ts';
import { GpuState } from '../../../src/ui/gpu/gpu_state.svelte.ts';

// The GPU's state for the UI: a ready adapter starts a watch for the device's loss, and a loss
// reported by the engine is shown until a new check finds the GPU again.

const adapter = { vendor: 'test' } as AdapterSummary;
const lostError: WireError = { name: 'DeviceLostError', code: 'device_lost', message: 'The GPU device was lost (destroyed).' };

describe('GpuState', () => {
  test('a device lost after the probe is reported; checking again clears it', async () => {
    let report: ((e: WireError) => void) | undefined;
    let watches = 0;
    const gpu = new GpuState(
      async () => ({ ok: true, adapter }),
      async (onLost) => {
        watches++;
        report = onLost;
        return { ok: true };
      },
    );
    await gpu.check();
    expect(gpu.status).toEqual({ kind: 'ready', adapter });
    expect(watches).toBe(1);
    expect(gpu.lost).toBeNull();
    report!(lostError);
    expect(gpu.lost).toEqual(lostError);
    await gpu.check();
    expect(gpu.lost).toBeNull();
    expect(watches).toBe(2);
  });

  test('no watch without an adapter; a failing watch is not an error of the page', async () => {
    let watches = 0;
    const none = new GpuState(
      async () => ({ ok: false, error: { name: 'E', code: 'webgpu_unavailable', message: 'none' } }),
      async () => void watches++,
    );
    await none.check();
    expect(none.status.kind).toBe('unavailable');
    expect(watches).toBe(0);
    const failing = new GpuState(async () => ({ ok: true, adapter }), () => Promise.reject(new Error('worker gone')));
    await failing.check();
    expect(failing.status.kind).toBe('ready');
    expect(failing.lost).toBeNull();
  });
});
