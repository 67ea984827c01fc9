/**
 * The circuit breaker on lost sessions. A 401 makes the client negotiate
 * again; if the new session is lost at once as well (a proxy that breaks
 * authentication in a way auth.ts cannot work around, a server that keeps
 * losing sessions), negotiating again and again would only spend the
 * address's negotiate budget, shared with every user behind it. So the
 * first FREE_LOSSES lost sessions within LOSS_WINDOW_MS renegotiate at
 * once; each one after that waits a growing, jittered backoff first.
 */
import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { LifelineError } from './errors.js';

export const LOSS_WINDOW_MS = 60_000;
export const FREE_LOSSES = 2;

export class LostSessionBreaker {
  #lost: number[] = [];
  #owed = false;
  /** The 401 that lost the last session: what the client shows while it waits. */
  error: LifelineError | undefined;

  /** A session was lost (401) at `now`. */
  note(now: number, error: LifelineError | undefined): void {
    this.#lost = this.#lost.filter((t) => now - t < LOSS_WINDOW_MS);
    this.#lost.push(now);
    this.error = error;
    this.#owed = this.#lost.length > FREE_LOSSES;
  }

  /** How long to wait before the negotiate that follows a loss: 0 while the breaker is closed. Asks once per loss. */
  take(backoff: BackoffOptions, random: () => number): number {
    if (!this.#owed) return 0;
    this.#owed = false;
    const over = this.#lost.length - FREE_LOSSES - 1;
    return backoffDelay(over, backoff, random, Math.min(1_000 * 2 ** over, backoff.maxMs));
  }
}
