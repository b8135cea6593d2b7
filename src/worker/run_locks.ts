// A run trains in one tab at a time. While an engine trains a run it holds the Web Lock
// "webtune-run:<id>" (navigator.locks: one set of locks for every tab and worker of the origin,
// released by the browser when a tab closes or crashes). So a record still marked "running" whose
// lock is held is training in another tab, not interrupted, and no second tab can resume it.
// Where there are no Web Locks (Node), only the engine's own run counts as live.

export interface RunLocks {
  /** Takes the run's lock and holds it until `release()`; null when someone else holds it. */
  acquire(runId: string): Promise<{ release(): void } | null>;
  /** Runs whose lock is held now, by this engine or another tab. */
  held(): Promise<Set<string>>;
}

const PREFIX = 'webtune-run:';

/** The origin's Web Locks, or null where the platform has none. */
export function webRunLocks(): RunLocks | null {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  return locks ? lockManagerRunLocks(locks) : null;
}

export function lockManagerRunLocks(locks: LockManager): RunLocks {
  return {
    acquire: (runId) =>
      new Promise((resolve, reject) => {
        locks
          .request(PREFIX + runId, { ifAvailable: true }, (lock) => {
            if (!lock) {
              resolve(null);
              return undefined;
            }
            // The lock is held for as long as this promise is pending.
            return new Promise<void>((release) => resolve({ release: () => release() }));
          })
          .catch(reject);
      }),
    held: async () => {
      const { held = [] } = await locks.query();
      return new Set(held.map((l) => l.name ?? '').filter((n) => n.startsWith(PREFIX)).map((n) => n.slice(PREFIX.length)));
    },
  };
}

/** Locks in one Map, shared by the engines given the same instance (tests: two "tabs" in one process). */
export function memoryRunLocks(): RunLocks {
  const taken = new Set<string>();
  return {
    acquire: async (runId) => {
      if (taken.has(runId)) return null;
      taken.add(runId);
      return { release: () => void taken.delete(runId) };
    },
    held: async () => new Set(taken),
  };
}
