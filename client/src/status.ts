/**
 * The public connection state (`client.state`): one frozen snapshot,
 * replaced and announced on every change.
 */
import type { Session } from './api.js';
import type { ClientContext } from './context.js';
import type { LifelineError } from './errors.js';
import { skippedTransports } from './policy.js';
import type { ClientTransport } from './protocol.js';
import type { Hold } from './sender.js';
import type { ConnectionState } from './types.js';

const STOPPED: ConnectionState = Object.freeze({ status: 'disconnected', transport: null, attempt: 0 });

export class StatusBoard {
  readonly #ctx: ClientContext;
  #snapshot: ConnectionState = STOPPED;

  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
  }

  get state(): ConnectionState {
    return this.#snapshot;
  }

  set(next: ConnectionState): void {
    this.#snapshot = Object.freeze(next);
    this.#ctx.emitter.emit('state', this.#snapshot);
  }

  /** Stopped: by close(), or by `error` that retrying cannot fix. */
  stopped(error?: LifelineError): void {
    this.set({ ...STOPPED, ...(error && { error }) });
  }

  /** Connected on `transport`, or `rate-limited` while a send or presence call waits out `held`. */
  connected(s: Session, transport: ClientTransport, held: Hold | null): void {
    const skipped = skippedTransports(this.#ctx.usable, transport, s.offers, (t) => this.#ctx.book.reason(t));
    const base = { transport, clientId: s.clientId, ...(skipped.length ? { skipped } : {}) };
    const wait = held ? held.until - this.#ctx.clock.now() : 0;
    if (held && wait > 0) this.set({ status: 'rate-limited', ...base, attempt: held.attempt, error: held.error, retryInMs: wait });
    else this.set({ status: 'connected', ...base, attempt: 0 });
  }

  /** Waiting before going on, after failure number `attempt`: `rate-limited` for a 429, else `connecting` or `reconnecting`. */
  waiting(error: LifelineError, attempt: number, retryInMs: number, clientId: string | undefined, everConnected: boolean): void {
    this.set({
      status: error.status === 429 ? 'rate-limited' : everConnected ? 'reconnecting' : 'connecting',
      transport: null,
      ...(clientId ? { clientId } : {}),
      attempt,
      error,
      retryInMs,
    });
  }

  /** Whether a sign of life should be shown: the state still says trouble (or no longer says `held`). */
  behind(held: Hold | null): boolean {
    const st = this.#snapshot;
    return held ? st.status !== 'rate-limited' || st.transport === null : st.status !== 'connected' || st.attempt !== 0 || st.error !== undefined;
  }
}

/** In browsers, calls `fn` when the network comes back; returns how to stop, or null outside a browser. */
export function onOnline(fn: () => void): (() => void) | null {
  const w = (globalThis as { window?: Window }).window;
  if (!w || typeof w.addEventListener !== 'function') return null;
  w.addEventListener('online', fn);
  return () => w.removeEventListener('online', fn);
}
