import type { Trainer } from '../train/trainer.ts';
import type { RunControl } from './run_control.ts';
import type { RunRecorder } from './run_recorder.ts';

// What happens between two optimizer steps of a run in the engine (Trainer's beforeStep):
// - a pause asked for since the last step: checkpoint, tell the UI, hold until resume or stop;
// - otherwise a checkpoint when CHECKPOINT_EVERY_MS of training went by without one, so a closed
//   or crashed tab loses at most that much. It only reads state: the numbers do not change.

/** Checkpoints by time in the browser, on top of epoch ends and checkpointEvery. */
export const CHECKPOINT_EVERY_MS = 60_000;

export function stepGate(trainer: () => Trainer, control: RunControl, recorder: RunRecorder, everyMs = CHECKPOINT_EVERY_MS): (k: number) => Promise<void> {
  return async (k) => {
    const done = k - 1;
    if (control.pauseRequested) {
      await checkpointAt(trainer(), recorder, 'paused');
      // Asked to go on (or stop) while the checkpoint was written: no hold, no state change.
      if (!control.pauseRequested) return;
      recorder.state('paused', done);
      await control.hold();
      if (!control.signal.aborted) recorder.state('running', done);
    } else if (performance.now() - recorder.lastCheckpointAt >= everyMs) {
      await checkpointAt(trainer(), recorder, `${Math.round(everyMs / 1000)} s since the last one`);
    }
  };
}

/** A checkpoint of the trainer now, unless the store already holds this very step. */
export async function checkpointAt(trainer: Trainer, recorder: RunRecorder, why: string): Promise<void> {
  if (recorder.lastCheckpointStep === trainer.completedSteps) return;
  await recorder.checkpoint(await trainer.snapshot(), why);
}
