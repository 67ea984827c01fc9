/**
 * The connection's decisions as pure functions of what happened: which
 * transports to try and in what order, when to probe back to a better one,
 * what an ended transport means, and which better transports are skipped
 * and why. No timers, no I/O: tested on their own with numbers for time.
 */
import type { Offer } from './api.js';
import { toLifelineError, type LifelineError } from './errors.js';
import { rank } from './failures.js';
import type { ClientTransport } from './protocol.js';
import type { FailureReason, TransportClose } from './transport.js';
import type { SkippedTransport } from './types.js';

/** A transport that drops this soon after opening, EARLY_DROPS times in a row, is `closed_early`. */
export const CLOSED_EARLY_MS = 5_000;
export const EARLY_DROPS = 3;

/** A transport ending, or `again`: go round at once (the supervisor was interrupted, or fell down a transport). */
export type Ended = TransportClose | { kind: 'again'; error?: undefined; retryAfterMs?: undefined };

export const AGAIN = { kind: 'again' } as const;

/** The transports to open, in order: from `home` down, or the server's order when there is no home. */
export function candidates(offers: readonly Offer[], home: ClientTransport | null): readonly Offer[] {
  const list = home ? offers.filter((o) => o.name === home || rank(o.name) > rank(home)) : offers;
  return list.length ? list : offers;
}

/** The offered transports better than `current`, best first: what failback probes. */
export function betterOffers(offers: readonly Offer[], current: ClientTransport | undefined): Offer[] {
  if (!current) return [];
  return offers.filter((o) => rank(o.name) < rank(current)).sort((a, b) => rank(a.name) - rank(b.name));
}

/** The first offered transport worse than `t`: where to fall when `t` proved unfit after opening. */
export function worseThan(offers: readonly Offer[], t: ClientTransport): ClientTransport | undefined {
  return offers.find((o) => rank(o.name) > rank(t))?.name;
}

/** When to probe back: `failbackMs` ±20 % (`random` in [0, 1), drawn only when needed), or undefined when failback is off. */
export function probeDelay(failbackMs: number, random: () => number): number | undefined {
  return failbackMs > 0 ? Math.round(failbackMs * (0.8 + 0.4 * random())) : undefined;
}

/**
 * Whether the home transport's end counts towards `closed_early`: `early`
 * when it dropped within CLOSED_EARLY_MS of opening, `late` when it lasted
 * (the count starts over), `none` when the end says nothing about the
 * transport (long-poll, a recycled stream, the server's rate limit).
 */
export function dropKind(c: TransportClose, home: ClientTransport | null, openedAt: number, now: number): 'early' | 'late' | 'none' {
  if (c.kind !== 'retry' || c.immediate || c.error?.status === 429 || !home || home === 'longpoll') return 'none';
  return now - openedAt < CLOSED_EARLY_MS ? 'early' : 'late';
}

/**
 * The negotiate refusals that retrying cannot fix (PROTOCOL.md §3): a 4xx
 * whose problem document has one of these codes. Anything else — above
 * all a 4xx without a Lifeline code, such as a proxy's `400 Request Header
 * Or Cookie Too Large` or its 401/403/404 — may pass (cookies expire,
 * proxies get fixed), so it is retried with backoff, never final.
 */
export const PERMANENT_NEGOTIATE_CODES: readonly string[] = ['bad_request', 'bad_topic', 'forbidden_topic', 'unsupported_protocol', 'too_large'];

/**
 * How a failed negotiate (or anything else thrown in the loop) ends the
 * attempt: fatal for the documented permanent refusals and the client's
 * own errors (no usable transport), a new start for a bad cursor, else a
 * retry with backoff (honouring Retry-After).
 */
export function closeForThrown(err: unknown): TransportClose {
  const e = toLifelineError(err);
  if (e.status === 0 && !e.retryable) return { kind: 'fatal', error: e };
  if (e.status === 400 && e.code === 'bad_cursor') return { kind: 'bad_cursor', error: e };
  if (e.status >= 400 && e.status < 500 && PERMANENT_NEGOTIATE_CODES.includes(e.code)) return { kind: 'fatal', error: e };
  return { kind: 'retry', error: e, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}) };
}

/** Whether a negotiate error refuses the topics asked for (rather than the network or the cursor failing). */
export function refusesTopics(e: LifelineError): boolean {
  return closeForThrown(e).kind === 'fatal' && e.code !== 'no_transport';
}

/** The loop's counters of trouble since the connection last worked. */
export interface Trouble {
  /** Consecutive failures: the backoff attempt. */
  failures: number;
  /** A lost session was answered by negotiating; nothing worked since. */
  renegotiated: boolean;
}

/** No trouble: the counters once the connection worked. */
export const CALM: Trouble = { failures: 0, renegotiated: false };

/**
 * What an ended transport (or a failed negotiate) means:
 * - `again`: go on at once (an interruption, a recycled stream, the first supersede);
 * - `renegotiate`: the session is gone: negotiate again from the cursor (once in a row);
 * - `restart`: the cursor is garbage: negotiate again from now, and say so;
 * - `backoff`: wait, then go on;
 * - `fatal`: stop.
 * Returns the counters as they are after the decision.
 */
export function meaning(c: Ended, t: Trouble): { action: 'again' | 'renegotiate' | 'restart' | 'backoff' | 'fatal'; trouble: Trouble } {
  switch (c.kind) {
    case 'again':
      return { action: 'again', trouble: t };
    case 'fatal':
      return { action: 'fatal', trouble: t };
    case 'bad_cursor':
      return { action: 'restart', trouble: t };
    case 'unknown_token':
      if (!t.renegotiated) return { action: 'renegotiate', trouble: { ...t, renegotiated: true } };
      return { action: 'backoff', trouble: t };
    case 'superseded':
      // Normally our own probe; otherwise reconnect once at once, then with backoff.
      return { action: t.failures === 0 ? 'again' : 'backoff', trouble: { ...t, failures: t.failures + 1 } };
    default:
      return { action: c.immediate ? 'again' : 'backoff', trouble: t };
  }
}

/** The transports better than `current` that this client may use but does not, and why (`state.skipped`). */
export function skippedTransports(
  usable: readonly ClientTransport[],
  current: ClientTransport,
  offers: readonly Offer[],
  failedBecause: (t: ClientTransport) => FailureReason | undefined,
): SkippedTransport[] {
  return usable
    .filter((t) => rank(t) < rank(current))
    .map((transport) => ({
      transport,
      reason: failedBecause(transport) ?? (offers.some((o) => o.name === transport) ? 'deprioritized' : 'not_offered'),
    }));
}
