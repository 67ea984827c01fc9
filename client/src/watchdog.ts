import type { Clock } from './clock.js';

/**
 * Fires `onExpire` once `ms` pass without a `kick()`: the liveness check of
 * the streams (no frame, event or comment for twice the heartbeat means the
 * connection is dead, PROTOCOL.md §5b). A kick only records the time, so it
 * costs nothing per event; the timer re-arms itself for what is left.
 */
export class Watchdog {
  #handle: unknown;
  #last: number;
  readonly #clock: Clock;
  readonly #ms: number;
  readonly #onExpire: () => void;

  constructor(clock: Clock, ms: number, onExpire: () => void) {
    this.#clock = clock;
    this.#ms = ms;
    this.#onExpire = onExpire;
    this.#last = clock.now();
    this.#arm(ms);
  }

  kick(): void {
    this.#last = this.#clock.now();
  }

  stop(): void {
    this.#clock.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  #arm(ms: number): void {
    this.#handle = this.#clock.setTimeout(() => {
      if (this.#handle === undefined) return;
      const left = this.#last + this.#ms - this.#clock.now();
      if (left > 0) this.#arm(left);
      else this.#onExpire();
    }, ms);
  }
}
