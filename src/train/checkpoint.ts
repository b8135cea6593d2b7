import { InputError } from '../errors.ts';
import { openSafetensors } from '../formats/safetensors.ts';
import { memorySource } from '../formats/byte_source.ts';
import { serializeSafetensors } from '../formats/safetensors_writer.ts';
import type { TrainConfig } from './config.ts';
import type { EvalMetrics, StepMetrics } from './trainer.ts';

// A resumable run state as files (browser-safe: the CLI writes them to a folder atomically, the
// web app to IndexedDB). Everything a resumed run needs to continue exactly as if never stopped:
//   lora.safetensors       A, B of every target, keyed "<module path>.A/.B" (F32)
//   optimizer.safetensors  AdamW m and v, keyed "m.<i>" / "v.<i>" in parameter order (F32)
//   trainer_state.json     the last completed update, AdamW's own step counter (skipped steps
//                          do not count), settings and the metric history.
// The data order, dropout masks and LR schedule are pure functions of (seed, step), so the step
// number is the whole position; no RNG state beyond the seed needs saving.

export const CHECKPOINT_FILES = { lora: 'lora.safetensors', optimizer: 'optimizer.safetensors', state: 'trainer_state.json' } as const;
const FORMAT_VERSION = 1;

export interface TrainerState {
  /** Updates completed (the next one is step + 1). */
  step: number;
  /** Updates AdamW applied (its bias-correction counter). */
  applied: number;
  config: TrainConfig;
  history: { steps: StepMetrics[]; evals: EvalMetrics[] };
}

export interface Checkpoint {
  state: TrainerState;
  lora: Map<string, { A: Float32Array; B: Float32Array }>;
  moments: { m: Float32Array[]; v: Float32Array[] };
}

export function checkpointFiles(c: Checkpoint): Map<string, Uint8Array> {
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const lora = [...c.lora].flatMap(([path, { A, B }]) => [
    { name: `${path}.A`, dtype: 'F32' as const, shape: [A.length], bytes: bytes(A) },
    { name: `${path}.B`, dtype: 'F32' as const, shape: [B.length], bytes: bytes(B) },
  ]);
  const moments = (['m', 'v'] as const).flatMap((k) => c.moments[k].map((a, i) => ({ name: `${k}.${i}`, dtype: 'F32' as const, shape: [a.length], bytes: bytes(a) })));
  const state = JSON.stringify({ format: FORMAT_VERSION, ...c.state }, null, 1);
  return new Map([
    [CHECKPOINT_FILES.lora, serializeSafetensors(lora, { format: 'pt' })],
    [CHECKPOINT_FILES.optimizer, serializeSafetensors(moments, { format: 'pt' })],
    [CHECKPOINT_FILES.state, new TextEncoder().encode(state)],
  ]);
}

/** Reads a checkpoint back; `where` names it in errors. */
export async function parseCheckpoint(files: ReadonlyMap<string, Uint8Array>, where: string): Promise<Checkpoint> {
  const need = (name: string) => {
    const f = files.get(name);
    if (!f) throw new InputError('bad_checkpoint', `${where}/${name} is missing; this is not a complete webtune checkpoint`);
    return f;
  };
  let parsed: { format?: unknown } & Partial<TrainerState>;
  try {
    parsed = JSON.parse(new TextDecoder().decode(need(CHECKPOINT_FILES.state)));
  } catch (e) {
    throw new InputError('bad_checkpoint', `${where}/${CHECKPOINT_FILES.state} is not valid JSON (${(e as Error).message})`);
  }
  if (parsed.format !== FORMAT_VERSION || !Number.isInteger(parsed.step) || !Number.isInteger(parsed.applied) || !parsed.config || !parsed.history) {
    throw new InputError('bad_checkpoint', `${where}/${CHECKPOINT_FILES.state} is not a webtune checkpoint state of format ${FORMAT_VERSION}`);
  }
  const lora = new Map<string, { A: Float32Array; B: Float32Array }>();
  const loraFile = await openSafetensors(memorySource(need(CHECKPOINT_FILES.lora), `${where}/${CHECKPOINT_FILES.lora}`));
  for (const name of loraFile.names()) {
    const m = /^(.*)\.(A|B)$/.exec(name);
    if (!m) throw new InputError('bad_checkpoint', `${where}/${CHECKPOINT_FILES.lora}: unexpected tensor "${name}"`);
    const entry = lora.get(m[1]) ?? { A: new Float32Array(), B: new Float32Array() };
    entry[m[2] as 'A' | 'B'] = await loraFile.readFloat32(name);
    lora.set(m[1], entry);
  }
  const opt = await openSafetensors(memorySource(need(CHECKPOINT_FILES.optimizer), `${where}/${CHECKPOINT_FILES.optimizer}`));
  const count = opt.names().length / 2;
  const read = (k: string) => Promise.all(Array.from({ length: count }, (_, i) => opt.readFloat32(`${k}.${i}`)));
  return { state: parsed as TrainerState, lora, moments: { m: await read('m'), v: await read('v') } };
}
