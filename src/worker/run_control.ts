// Stop, pause and resume for the one training run in the engine. The engine's methods only set
// flags here; the run acts on them between optimizer steps (Trainer's beforeStep), so a step is
// never cut in half and the numbers are those of a run never paused.

export class RunControl {
  readonly #abort = new AbortController();
  #wantPause = false;
  /** Set while the run is held between steps: resolves the hold. */
  #release: (() => void) | null = null;

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get pauseRequested(): boolean {
    return this.#wantPause && !this.#abort.signal.aborted;
  }

  get paused(): boolean {
    return this.#release !== null;
  }

  /** Ends the run after its current step, or at once when paused. */
  stop(): void {
    this.#abort.abort();
    this.#wake();
  }

  pause(): void {
    this.#wantPause = true;
  }

  resume(): void {
    this.#wantPause = false;
    this.#wake();
  }

  /** Holds the run until resume() or stop(). */
  hold(): Promise<void> {
    if (!this.pauseRequested) return Promise.resolve();
    return new Promise((resolve) => {
      this.#release = resolve;
    });
  }

  #wake(): void {
    const release = this.#release;
    this.#release = null;
    release?.();
  }
}
