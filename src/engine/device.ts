import { DeviceLostError, WebGPUUnavailableError } from './errors.ts';

// Device acquisition shared by the page, the worker and Node: given a `GPU` object
// (navigator.gpu, or Dawn's in Node), get the high-performance adapter, ask for the optional
// features we can use and the adapter's maximum buffer limits (the spec defaults are far too
// small for a model), and turn device loss into a typed error.

export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
export type OptionalFeature = (typeof OPTIONAL_FEATURES)[number];

/** Limits raised to the adapter's maximum. */
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/** A plain, cloneable description of the adapter, for the UI and the CLI. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<(typeof RAISED_LIMITS)[number] | 'minStorageBufferOffsetAlignment', number>;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterSummary;
  features: ReadonlySet<OptionalFeature>;
  /** Resolves (never rejects) with the loss, when it happens; `destroy()` resolves it too. */
  lost: Promise<DeviceLostError>;
  /**
   * The GPU object the device came from. Held for the device's lifetime: in Node, Dawn tears the
   * instance down when this is garbage-collected, and a live device then crashes the process.
   */
  instance: GPU;
}

export async function acquireDevice(gpu: GPU, label = 'webtune'): Promise<GpuContext> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'WebGPU is available but no GPU adapter was offered: the GPU may be blocked by the browser ' +
        '(check chrome://gpu) or its driver is missing. Update the GPU driver or enable hardware acceleration.',
    );
  }
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({
    label,
    requiredFeatures: features as GPUFeatureName[],
    requiredLimits,
  });
  const lost = device.lost.then((info) => new DeviceLostError(`${info.reason}: ${info.message}`));
  return { device, adapter: summarize(adapter, device), features: new Set(features), lost, instance: gpu };
}

function summarize(adapter: GPUAdapter, device: GPUDevice): AdapterSummary {
  const info = adapter.info;
  const limits = {} as AdapterSummary['limits'];
  for (const name of RAISED_LIMITS) limits[name] = device.limits[name];
  limits.minStorageBufferOffsetAlignment = device.limits.minStorageBufferOffsetAlignment;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter),
    features: [...adapter.features].map(String).sort(),
    limits,
  };
}
