import { acquireBrowserDevice } from '../../src/engine/browser_gpu.ts';
import type { AdapterSummary } from '../../src/engine/device.ts';
import { Runtime } from '../../src/engine/runtime.ts';
import { checkRange, type ByteSource } from '../../src/formats/byte_source.ts';
import { folderFromEntries } from '../../src/formats/model_folder.ts';
import { benchTrainStep, type TrainStepOptions, type TrainStepResult } from './train_step.ts';

// The training-step bench page: the same benchTrainStep as in Node, on the browser's WebGPU
// (the engine the worker runs; here on the page's main thread). train_bench_chromium.ts serves
// it with the model folder under /model/ (index.json lists the files and sizes; tensors are read
// with HTTP Range requests, one at a time, as from a picked folder) and the options as
// ?options=JSON. The result goes to the console and to window.__trainBench for the driver.

export type PageOutcome = { ok: true; adapter: AdapterSummary; result: TrainStepResult } | { ok: false; error: string };

declare global {
  interface Window {
    __trainBench?: PageOutcome;
  }
}

/** A file on the serving origin, read by byte ranges. */
function httpSource(url: string, name: string, size: number): ByteSource {
  return {
    name,
    size,
    async read(offset, length) {
      checkRange(this, offset, length);
      if (length === 0) return new Uint8Array(0);
      const response = await fetch(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (response.status !== 206 || bytes.byteLength !== length) throw new Error(`${name}: range ${offset}+${length} gave HTTP ${response.status}, ${bytes.byteLength} bytes`);
      return bytes;
    },
  };
}

async function main(): Promise<PageOutcome> {
  const options = JSON.parse(new URLSearchParams(location.search).get('options') ?? 'null') as TrainStepOptions | null;
  if (!options) throw new Error('no ?options= given');
  const index = (await (await fetch('/model/index.json')).json()) as { name: string; files: { path: string; size: number }[] };
  const entries = new Map(index.files.map((f) => [f.path, () => httpSource(`/model/${f.path}`, `${index.name}/${f.path}`, f.size)] as const));
  const gpu = await acquireBrowserDevice();
  const result = await benchTrainStep(new Runtime(gpu), folderFromEntries(index.name, entries), options);
  return { ok: true, adapter: gpu.adapter, result };
}

const out = document.getElementById('out')!;
main().then(
  (outcome) => {
    console.log(`train bench: ${JSON.stringify(outcome)}`);
    out.textContent = JSON.stringify(outcome, null, 2);
    window.__trainBench = outcome;
  },
  (e: unknown) => {
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    console.log(`train bench failed: ${error}`);
    out.textContent = error;
    window.__trainBench = { ok: false, error };
  },
);
