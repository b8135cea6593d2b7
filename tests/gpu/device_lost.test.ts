import { expect, it } from 'vitest';
import { describeGpu } from '../helpers/gpu.ts';
import { acquireNodeDevice } from '../../src/engine/node_gpu.ts';
import { DeviceLostError } from '../../src/engine/errors.ts';

describeGpu('device loss', () => {
  it('surfaces as a DeviceLostError that says what to do', async () => {
    const gpu = await acquireNodeDevice({ prefer: 'swiftshader' });
    gpu.device.destroy();
    const lost = await gpu.lost;
    expect(lost).toBeInstanceOf(DeviceLostError);
    expect(lost.code).toBe('device_lost');
    expect(lost.message).toMatch(/destroyed/);
    expect(lost.message).toMatch(/resume from the last checkpoint/);
  });
});
