// The engine's contract: the one way the UI reaches the GPU (DESIGN §1, §3). The engine runs in
// a module Web Worker (engine.worker.ts) and the UI calls it through Comlink (client.ts); tests
// and the CLI construct the same Engine class (engine.ts) directly.
//
// Rules every method follows, now and as the API grows:
// - Arguments and results are structured-cloneable plain values. Callbacks (progress, metrics,
//   streamed tokens) go as `Comlink.proxy(fn)`; large buffers go with `Comlink.transfer`.
// - A failure the user can act on (no GPU, a bad file, a setting out of range) resolves to
//   `{ ok: false, error: WireError }` carrying the user-facing message, rather than rejecting:
//   Comlink keeps only the name and message of a thrown Error, and the UI needs `code`.
// - A rejection is a bug of ours, or the worker itself stopping (see client.ts).
//
// What exists so far is below. Loading a model and a dataset, memory estimates, training
// (pause / resume / stop), generation, evaluation, export and saved runs (issue #7) join this
// interface as they are implemented, each with its types in this file.

import type { AdapterSummary } from '../engine/device.ts';

export type { AdapterSummary };

/** An error as it crosses the worker boundary: `WebtuneError.toJSON()`. */
export interface WireError {
  /**
   * The error class, e.g. `WebGPUUnavailableError`, for logs. A production build may minify class
   * names, so branch on `code`, never on this.
   */
  name: string;
  /** Stable identifier for tests and branching, e.g. `webgpu_unavailable`. */
  code: string;
  /** Written for the user: what happened and what to do. */
  message: string;
}

/** The outcome of an operation that can fail for a reason the user can act on. */
export type Outcome<T> = ({ ok: true } & T) | { ok: false; error: WireError };

/** What the engine found when it asked for a GPU: the adapter, or why there is none. */
export type GpuProbe = Outcome<{ adapter: AdapterSummary }>;

export interface EngineApi {
  /**
   * Acquires the GPU device (once; later calls reuse it until the device is lost) and describes
   * its adapter. Resolves `ok: false` with a `webgpu_unavailable` error whose message says why
   * (insecure origin, no WebGPU in this browser, GPU blocked or driver missing).
   */
  probeGpu(): Promise<GpuProbe>;
}
