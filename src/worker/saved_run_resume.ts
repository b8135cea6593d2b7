import { InputError } from '../errors.ts';
import type { RunRecord, RunStore } from '../storage/run_store.ts';
import { parseCheckpoint, type Checkpoint } from '../train/checkpoint.ts';
import type { TrainConfig } from '../train/config.ts';
import type { ModelSource, ResumeBlocker, RunHistory } from './api.ts';
import type { ModelSession } from './model_session.ts';

// What resuming a saved run needs, read back from the run store and checked before anything is
// built on the GPU: the record, its last checkpoint (whose settings the run continues with), its
// history, the copy of its dataset, and that the loaded model is the one it trained on.

export interface SavedRunToResume {
  record: RunRecord;
  checkpoint: Checkpoint;
  config: TrainConfig;
  history: RunHistory | undefined;
  dataset: Blob;
}

/** Why `resumeRun` cannot continue a run, from its record alone (null: it can). */
export function resumeBlocker(r: RunRecord, live: boolean): ResumeBlocker {
  if (live) return 'running';
  if (r.status === 'completed') return 'finished';
  if (!r.checkpoint) return 'no_checkpoint';
  if (r.datasetBytes === 0) return 'no_dataset';
  return null;
}

/** `live`: the run is training now, here or in another tab. */
export async function savedRunToResume(store: RunStore<RunHistory>, id: string, model: ModelSession | undefined, live: boolean): Promise<SavedRunToResume> {
  const record = await store.record(id);
  const blocker = resumeBlocker(record, live);
  const named = `The run "${record.name}"`;
  if (blocker === 'running') throw new InputError('busy', `${named} is training now (in this tab or another one of this browser).`);
  if (blocker === 'finished') throw new InputError('run_finished', `${named} finished all ${record.totalSteps} steps: there is nothing to resume. Start a new run to train longer.`);
  checkModel(record, model);
  const stored = blocker === 'no_checkpoint' ? undefined : await store.checkpoint(id);
  if (!stored) throw new InputError('no_checkpoint', `${named} has no saved checkpoint (it stopped before its first one), so it cannot be resumed; start it again.`);
  const dataset = blocker === 'no_dataset' ? undefined : await store.dataset(id);
  if (!dataset) throw new InputError('no_dataset', `${named} kept no copy of its dataset "${record.dataset}" (the browser refused to store it), so it cannot be resumed; start it again.`);
  const checkpoint = await parseCheckpoint(new Map(Object.entries(stored.files)), `the checkpoint of "${record.name}"`);
  return { record, checkpoint, config: checkpoint.state.config, history: await store.history(id), dataset };
}

/** How the run's model was loaded (records store it as plain data; older ones lack it). */
export function modelSourceOf(r: RunRecord): ModelSource {
  const s = r.modelSource;
  if (s.kind === 'demo') return { kind: 'demo' };
  if (s.kind === 'hub' && typeof s.repo === 'string' && typeof s.base === 'string') return { kind: 'hub', repo: s.repo, base: s.base };
  return { kind: 'files', name: typeof s.name === 'string' ? s.name : r.model };
}

/** The loaded model must be the run's: same name, loaded the same way. */
function checkModel(record: RunRecord, model: ModelSession | undefined): void {
  const wanted = modelSourceOf(record);
  if (model && model.card.name === record.model && sameSource(model.source, wanted)) return;
  const loaded = model ? `the loaded model is ${model.card.name}` : 'no model is loaded';
  throw new InputError('wrong_model', `The run "${record.name}" trained ${record.model}, but ${loaded}. ${howToLoad(record.model, wanted)}, then resume the run.`);
}

function sameSource(a: ModelSource, b: ModelSource): boolean {
  if (a.kind === 'hub' && b.kind === 'hub') return a.repo === b.repo && a.base === b.base;
  if (a.kind === 'files' && b.kind === 'files') return a.name === b.name;
  return a.kind === b.kind;
}

function howToLoad(name: string, source: ModelSource): string {
  switch (source.kind) {
    case 'demo':
      return 'Load the demo model';
    case 'hub':
      return `Load ${source.repo} from ${source.base} again (downloaded files are cached)`;
    case 'files':
      return `Pick the model folder "${source.name}" again (a picked folder cannot be reopened by the page)`;
    default:
      return `Load ${name} again`;
  }
}
