/**
 * Which transports failed for this client, and why: reported to the server
 * in negotiate's `failed` (PROTOCOL.md §3) and shown in `state.skipped`. A
 * failure is forgotten when that transport works again, or after
 * FAILURE_MEMORY_MS (as long as the server remembers one).
 */
import type { Clock } from './clock.js';
import type { ClientTransport } from './protocol.js';
import type { FailureReason } from './transport.js';

export const FAILURE_MEMORY_MS = 10 * 60_000;

/** Every transport, best first. */
export const RANKING: readonly ClientTransport[] = ['websocket', 'sse', 'longpoll'];

export const rank = (t: ClientTransport): number => RANKING.indexOf(t);

/** A failure as negotiate reports it. */
export interface Failure {
  transport: ClientTransport;
  reason: FailureReason;
}

export class FailureBook {
  readonly #seen = new Map<ClientTransport, { reason: FailureReason; at: number }>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  record(transport: ClientTransport, reason: FailureReason): void {
    if (transport !== 'longpoll') this.#seen.set(transport, { reason, at: this.#clock.now() });
  }

  clear(transport: ClientTransport): void {
    this.#seen.delete(transport);
  }

  reason(transport: ClientTransport): FailureReason | undefined {
    const f = this.#seen.get(transport);
    if (f && this.#clock.now() - f.at > FAILURE_MEMORY_MS) this.#seen.delete(transport);
    return this.#seen.get(transport)?.reason;
  }

  list(): Failure[] {
    return RANKING.flatMap((transport) => {
      const reason = this.reason(transport);
      return reason ? [{ transport, reason }] : [];
    });
  }
}
