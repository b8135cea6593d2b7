import type { ModelCard, ModelSource, Progress, WireError } from '../../worker/api.ts';
import type { HubState } from './hub_state.svelte.ts';
import type { ModelState } from './model_state.svelte.ts';
import type { RunsState } from './runs_state.svelte.ts';
import type { TrainState } from './train_state.svelte.ts';

/** Where continuing a saved run has got before its training starts (then TrainState shows it). */
export type ResumeStatus =
  | { kind: 'idle' }
  /** The run's own base model is loading (its progress is the model screen's). */
  | { kind: 'loading-model'; runId: string; runName: string; model: string }
  /** The run trained on a folder the user picked: only they can hand it over again. */
  | { kind: 'need-folder'; runId: string; runName: string; folder: string }
  | { kind: 'failed'; runId: string; runName: string; error: WireError };

/**
 * Continuing a saved run (a stopped one, or one a reload or crash interrupted): the run's base model
 * must be the loaded one, so the demo model or a Hub model (from the browser's cache) is loaded
 * first by itself; a picked folder must be picked again. Then the run trains on in the Train screen.
 */
export class ResumeState {
  status: ResumeStatus = $state.raw({ kind: 'idle' });

  constructor(
    private readonly model: ModelState,
    private readonly hub: HubState,
    private readonly runs: RunsState,
    private readonly train: TrainState,
    /** Called just before the run continues on the loaded model. */
    private readonly onResuming: () => void = () => {},
  ) {}

  get busy(): boolean {
    return this.status.kind === 'loading-model';
  }

  /** How far loading the run's model has got. */
  get progress(): Progress | null {
    return this.busy && this.model.status.kind === 'loading' ? this.model.status.progress : null;
  }

  /** Whether a Resume button can be pressed now. */
  get canResume(): boolean {
    return !this.busy && !this.train.active && !this.model.busy;
  }

  clear(): void {
    this.status = { kind: 'idle' };
  }

  async resume(id: string): Promise<void> {
    if (!this.canResume) return;
    const run = await this.runs.get(id);
    if (!run) return;
    const who = { runId: run.id, runName: run.name };
    const source = run.modelSource;
    if (!sameModel(this.model.card, source)) {
      if (source.kind === 'files') {
        this.status = { kind: 'need-folder', ...who, folder: source.name };
        return;
      }
      this.status = { kind: 'loading-model', ...who, model: source.kind === 'demo' ? 'the demo model' : source.repo };
      if (source.kind === 'demo') await this.model.loadDemo();
      else {
        this.hub.setRepo(source.repo);
        this.hub.base = source.base;
        await this.hub.download();
      }
      if (this.model.status.kind === 'failed') {
        this.status = { kind: 'failed', ...who, error: this.model.status.error };
        return;
      }
      if (!sameModel(this.model.card, source)) {
        this.status = { kind: 'failed', ...who, error: { name: 'Error', code: 'wrong_model', message: `The run's model (${describeSource(source)}) did not load. Load it in step 1, then press Resume again.` } };
        return;
      }
    }
    this.status = { kind: 'idle' };
    this.onResuming();
    await this.train.resumeRun(run);
  }
}

/** Whether the loaded model is the one a run trained on, as the engine's resumeRun checks it (kind, repository and Hub address, or folder name). */
export function sameModel(card: ModelCard | null, source: ModelSource): boolean {
  const loaded = card?.loadedFrom;
  if (!loaded || loaded.kind !== source.kind) return false;
  if (loaded.kind === 'hub' && source.kind === 'hub') return loaded.repo === source.repo && loaded.base === source.base;
  if (loaded.kind === 'files' && source.kind === 'files') return loaded.name === source.name;
  return true;
}

/** "the demo model", "HuggingFaceTB/SmolLM2-135M from https://huggingface.co", "the folder “x”". */
export function describeSource(source: ModelSource): string {
  if (source.kind === 'demo') return 'the demo model';
  if (source.kind === 'hub') return `${source.repo} from ${source.base}`;
  return `the folder “${source.name}”`;
}
