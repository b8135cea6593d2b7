import { availableParallelism, loadavg } from 'node:os';
import { acquireNodeDevice } from '../../src/engine/node_gpu.ts';
import { Runtime } from '../../src/engine/runtime.ts';
import type { Recorder } from '../../src/engine/recorder.ts';

// Shared plumbing of the GPU benchmarks: one device (the machine's GPU if it has one, else
// SwiftShader), and a timer that records many dispatches into one submit after a warm-up, then
// measures them with queue.onSubmittedWorkDone() and, when the adapter has 'timestamp-query',
// with GPU timestamps around the dispatches.

let shared: Promise<Runtime> | undefined;

/** The benchmarks' runtime, acquired once; prints which adapter it got. */
export function benchRuntime(): Promise<Runtime> {
  shared ??= (async () => {
    const gpu = await acquireNodeDevice({ prefer: 'system', onNote: (m) => console.log(`note: ${m}`) });
    const a = gpu.adapter;
    const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || 'unnamed adapter';
    console.log(`adapter: ${name}${a.isFallbackAdapter ? ' (fallback)' : ''}`);
    console.log(`features: ${[...gpu.features].join(', ') || 'none of shader-f16, subgroups, timestamp-query'}`);
    const [load] = loadavg();
    if (load > availableParallelism()) {
      console.log(`note: load average ${load.toFixed(1)} on ${availableParallelism()} cores: wall-clock figures are contended`);
    }
    return new Runtime(gpu);
  })();
  return shared;
}

export interface Timing {
  /** Dispatch repetitions in the measured submit. */
  reps: number;
  /** Wall-clock milliseconds per repetition (submit → onSubmittedWorkDone). */
  wallMs: number;
  /** GPU milliseconds per repetition from timestamps, when the adapter offers them. */
  gpuMs?: number;
  /**
   * CPU milliseconds this process spent per repetition. On SwiftShader the GPU is this process's
   * threads, so cpuMs / cores is what wallMs would be on an idle machine: steadier on a shared one.
   */
  cpuMs: number;
}

export interface TimeOptions {
  /** Aim for a measured submit of about this long (ms). */
  targetMs?: number;
  maxReps?: number;
}

/**
 * Times `record` (which records one repetition of the work into a recorder). The first submit
 * compiles pipelines and warms caches; the second, of one repetition, sizes the measured one so it
 * lasts about `targetMs`.
 */
export async function timeDispatches(rt: Runtime, label: string, record: (rec: Recorder) => void, options: TimeOptions = {}): Promise<Timing> {
  const { targetMs = 1000, maxReps = 2000 } = options;
  await rt.run(`${label} warm-up`, record);
  const t0 = performance.now();
  await rt.run(`${label} sizing`, record);
  const once = Math.max(performance.now() - t0, 1e-3);
  const reps = Math.max(3, Math.min(maxReps, Math.round(targetMs / once)));

  const stamps = rt.gpu.features.has('timestamp-query') ? new Stamps(rt.device, label) : undefined;
  const rec = rt.recorder(label);
  stamps?.mark(rec, 0);
  for (let i = 0; i < reps; i++) record(rec);
  stamps?.mark(rec, 1);
  stamps?.resolve(rec);
  const cpu = process.cpuUsage();
  const start = performance.now();
  rec.submit();
  await rt.device.queue.onSubmittedWorkDone();
  const wallMs = (performance.now() - start) / reps;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / reps;
  const gpuNs = await stamps?.read();
  stamps?.destroy();
  return { reps, wallMs, cpuMs, gpuMs: gpuNs === undefined ? undefined : gpuNs / 1e6 / reps };
}

/**
 * Two timestamps around the recorded work. The Recorder owns its compute pass, so each mark is an
 * empty pass of its own that writes a timestamp; clearing 4 bytes of a scratch buffer first ends
 * the recorder's open pass (a clear is a command outside any pass).
 */
class Stamps {
  private readonly set: GPUQuerySet;
  private readonly resolved: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly scratch: GPUBuffer;

  constructor(
    private readonly device: GPUDevice,
    label: string,
  ) {
    this.set = device.createQuerySet({ label: `${label} timestamps`, type: 'timestamp', count: 2 });
    this.resolved = device.createBuffer({ label: `${label} timestamps`, size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.staging = device.createBuffer({ label: `${label} timestamps readback`, size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.scratch = device.createBuffer({ label: `${label} pass breaker`, size: 4, usage: GPUBufferUsage.COPY_DST });
  }

  mark(rec: Recorder, index: 0 | 1): void {
    rec.clear(this.scratch);
    const timestampWrites = index === 0 ? { querySet: this.set, endOfPassWriteIndex: 0 } : { querySet: this.set, beginningOfPassWriteIndex: 1 };
    rec.encoder.beginComputePass({ label: `timestamp ${index}`, timestampWrites }).end();
  }

  resolve(rec: Recorder): void {
    rec.encoder.resolveQuerySet(this.set, 0, 2, this.resolved, 0);
    rec.encoder.copyBufferToBuffer(this.resolved, 0, this.staging, 0, 16);
  }

  /** Nanoseconds between the marks, or undefined when the adapter gave no usable values. */
  async read(): Promise<number | undefined> {
    await this.staging.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigUint64Array(this.staging.getMappedRange().slice(0));
    this.staging.unmap();
    return end > begin ? Number(end - begin) : undefined;
  }

  destroy(): void {
    this.set.destroy();
    this.resolved.destroy();
    this.staging.destroy();
    this.scratch.destroy();
  }
}

/** SwiftShader (or another CPU adapter): the GPU is this process's threads. */
export function isSoftware(rt: Runtime): boolean {
  return rt.gpu.adapter.isFallbackAdapter || /swiftshader/i.test(JSON.stringify(rt.gpu.adapter));
}

/** Milliseconds a repetition takes on the device: GPU timestamps, else wall clock. */
export function deviceMs(t: Timing): number {
  return t.gpuMs ?? t.wallMs;
}

/** On a software adapter: what a repetition would take on an idle machine (cpu ms ÷ cores). */
export function idleMs(t: Timing): number {
  return t.cpuMs / availableParallelism();
}

export const IDLE_NOTE = `* from cpu ms ÷ ${availableParallelism()} cores: what an idle machine would give (a software adapter runs on this process's threads)`;

/** Prints rows as an aligned table (numbers right-aligned). */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const numeric = headers.map((_, c) => rows.every((r) => typeof r[c] === 'number' || /^[\d.,—-]+$/.test(String(r[c]))));
  const line = (r: string[]) => r.map((v, c) => (numeric[c] ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '─'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

/** A figure with 3 significant digits, or a dash when absent. */
export function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(3);
}
