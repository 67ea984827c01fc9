/** Time, injectable for tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/**
 * Waits `ms`, or less when `signal` aborts or `wake` is called. Never
 * rejects, and leaves no timer or listener behind once settled.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal, wakers?: Set<() => void>): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clock.clearTimeout(handle);
      signal?.removeEventListener('abort', done);
      wakers?.delete(done);
      resolve();
    };
    const handle = clock.setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done);
    wakers?.add(done);
  });
}
