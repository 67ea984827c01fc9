/**
 * What the parts of a client share: built once by the facade from the
 * options, read by the supervisor, the session, the link and the send path.
 */
import type { ApiContext } from './api.js';
import { backoffOptions, type BackoffOptions } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import { CursorTracker } from './cursor.js';
import type { Emitter } from './emitter.js';
import { FailureBook, RANKING, defaultStorage } from './failures.js';
import { IdleLimit } from './idle.js';
import { resolveUrl, type FetchLike } from './http.js';
import type { ClientTransport } from './protocol.js';
import type { ClientEvents, LifelineOptions } from './types.js';
import type { WebSocketConstructor } from './websocket.js';

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_FAILBACK_MS = 60_000;

export interface ClientContext {
  readonly api: ApiContext;
  readonly clock: Clock;
  readonly random: () => number;
  readonly backoff: BackoffOptions;
  /** The facade's emitter, seen without the application's event map (the parts only emit). */
  readonly emitter: Emitter<ClientEvents>;
  /** The cursor: where delivery resumes after any reconnection. */
  readonly tracker: CursorTracker;
  /** Which transports failed here, and why. */
  readonly book: FailureBook;
  /** The network path's idle limit, as learned from cuts (idle.ts). */
  readonly idle: IdleLimit;
  /** What the client may use and can: sent in negotiate, best first. */
  readonly usable: readonly ClientTransport[];
  readonly wsCtor: WebSocketConstructor | undefined;
  readonly failbackMs: number;
  readonly meta: Record<string, unknown> | undefined;
  /** Wakes every backoff and rate-limit wait early (the browser went online, or the client stopped). */
  readonly wakers: Set<() => void>;
}

/**
 * The context the options describe. `observe` sees every response of every
 * endpoint, error or not (the send path reads its rate-limit fields).
 */
export function contextFrom(options: LifelineOptions, emitter: Emitter<ClientEvents>, observe: (url: string, headers: Headers) => void): ClientContext {
  const clock = options.clock ?? systemClock;
  const wsCtor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  const allowed: readonly string[] = options.transports ?? RANKING;
  const baseFetch: FetchLike = (options.fetch as FetchLike | undefined) ?? ((input, init) => globalThis.fetch(input, init));
  const h = options.headers;
  const base = options.url.replace(/\/+$/, '');
  const random = options.random ?? Math.random;
  const storage = options.storage === undefined ? defaultStorage() : options.storage;
  const book = new FailureBook(clock, storage, resolveUrl(base, base), random);
  return {
    api: {
      fetch: async (input, init) => {
        const res = await baseFetch(input, init);
        if (res?.headers) observe(input, res.headers);
        return res;
      },
      clock,
      base,
      headers: typeof h === 'function' ? async () => ({ ...(await h()) }) : async () => ({ ...h }),
      timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      learnedAuth: (headerless) => {
        book.headerless = headerless;
      },
    },
    clock,
    random,
    backoff: backoffOptions(options.backoff),
    emitter,
    tracker: new CursorTracker(options.cursor),
    book,
    idle: new IdleLimit(book.idleLimitMs, (ms) => {
      book.idleLimitMs = ms;
    }),
    usable: RANKING.filter((t) => allowed.includes(t) && (t !== 'websocket' || wsCtor !== undefined)),
    wsCtor,
    failbackMs: options.failbackMs ?? DEFAULT_FAILBACK_MS,
    meta: options.meta,
    wakers: new Set(),
  };
}
