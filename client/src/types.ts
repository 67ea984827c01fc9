import type { BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';
import type { LifelineError } from './errors.js';
import type { FetchLike } from './http.js';
import type { ClientTransport, Envelope, PresenceData, TransportName } from './protocol.js';
import type { RateLimitInfo } from './ratelimit.js';
import type { StorageLike } from './failures.js';
import type { FailureReason } from './transport.js';
import type { WebSocketConstructor } from './websocket.js';

/**
 * Maps an event `type` to the type of its `data`, e.g.
 * `{ message: { text: string }; typing: { on: boolean } }`. Any object type
 * (interfaces too) will do.
 */
export type EventMap = object;

/** The map used when none is given: any type, `data: unknown`. */
export type DefaultEvents = Record<string, unknown>;

/** Events every server may publish, unless the application's map redefines them. */
export interface BuiltinEvents {
  presence: PresenceData;
}

/** The application's map plus the built-in events it does not redefine. */
export type WithBuiltins<M extends EventMap> = M & Omit<BuiltinEvents, keyof M>;

/**
 * An event as delivered to `on('event')`: a union discriminated on `type`,
 * so `if (ev.type === 'message') ev.data` is typed.
 */
export type LifelineEvent<M extends EventMap = DefaultEvents> = {
  [K in keyof WithBuiltins<M> & string]: Envelope<K, WithBuiltins<M>[K]>;
}[keyof WithBuiltins<M> & string];

/** The connection's status. */
export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'rate-limited' | 'disconnected';

/**
 * Why a transport better than the current one is not in use: it failed
 * here (a FailureReason), the server does not offer it (`not_offered`), or
 * the server advised it after the current one, from failures it remembers
 * for this client's address (`deprioritized`).
 */
export type SkipReason = FailureReason | 'not_offered' | 'deprioritized';

/** A better transport that was skipped, and why. */
export interface SkippedTransport {
  transport: ClientTransport;
  reason: SkipReason;
}

/** A snapshot of the connection; a new object on every change. */
export interface ConnectionState {
  /**
   * `connecting` until the first negotiate succeeds (including its
   * retries), `connected` while a session is up and polls succeed,
   * `reconnecting` after a failure once connected, `rate-limited` while
   * the server's rate limit holds the client back (it refused a request
   * with 429, an in-band error frame, close 1008 or an SSE `problem`, or
   * the RateLimit fields said nothing is left): the session is kept, and
   * `retryInMs` says how long the client waits (at least what the server
   * advised, plus jitter); `transport` is set when the connection stays
   * open and only a send or presence call waits. `disconnected` before
   * `start()`, after `close()` and after a fatal error (see `error`).
   */
  status: ConnectionStatus;
  /** The transport in use when connected: 'websocket', 'sse' or 'longpoll'. */
  transport: ClientTransport | null;
  /**
   * When connected: the transports better than `transport` that this
   * client may use but is not using, best first, with the reason (e.g.
   * `[{ transport: 'websocket', reason: 'no_upgrade' }]`). Absent when none.
   * The client probes them again every `failbackMs`.
   */
  skipped?: readonly SkippedTransport[];
  /** The session's public id, when there is a session. */
  clientId?: string;
  /** Consecutive failed attempts so far; 0 when healthy. */
  attempt: number;
  /** The last failure (while retrying), or the fatal one (when disconnected). */
  error?: LifelineError;
  /** While waiting to retry: how long the wait is, in ms. */
  retryInMs?: number;
}

/** Why the client's cursor was replaced by the server's head. */
export type ResetReason =
  /** Negotiate could not resume from the cursor (another epoch, or events gone). */
  | 'negotiate'
  /** A poll could not resume from the cursor. */
  | 'poll'
  /** An SSE stream or a WebSocket could not resume from the cursor. */
  | 'stream'
  /** The server called the cursor malformed; the client started over from now. */
  | 'bad_cursor';

/**
 * The server could not resume from the client's cursor: events may have been
 * missed, so the application should reload its state (e.g. refetch the
 * room's history) and carry on; delivery continues from `cursor`.
 */
export interface ResetInfo {
  reason: ResetReason;
  /** The cursor the client continues from (the server's head). */
  cursor: string;
  /** The cursor that could not be honoured. */
  previousCursor?: string;
}

/** What `on` can listen to. */
export interface ClientEvents<M extends EventMap = DefaultEvents> {
  /** Every event of every followed topic, in the server's order, exactly once. */
  event: LifelineEvent<M>;
  /** Every change of `client.state`. */
  state: ConnectionState;
  /** The server could not resume from the cursor; see ResetInfo. */
  reset: ResetInfo;
  /** Every failure, transient (retried) or fatal; for logging. */
  error: LifelineError;
  /** A response described a rate-limit policy (RateLimit / RateLimit-Policy fields); also `client.limits`. */
  limits: RateLimitInfo;
}

/** Options of `send`. */
export interface SendOptions {
  /** Makes the event ephemeral: not delivered once this many ms have passed (§4). */
  ttlMs?: number;
  /**
   * The message id (MID_PATTERN). Default a fresh one. Pass the mid of a
   * send that failed to try it again: the server applies a message once
   * per session and mid.
   */
  mid?: string;
  /**
   * Give up after this many ms (offline, retrying, or held by the rate
   * limit): the send then rejects with the last failure, or `timeout`.
   * Default: never; only a refusal or `close()` ends a send.
   */
  timeoutMs?: number;
}

/** Options of the client. Only `url` is required. */
export interface LifelineOptions {
  /** The base URL Lifeline is mounted at, e.g. "/rt" or "https://example.com/rt". */
  url: string;
  /** Topics to follow (at most 32). Default none. Change with `setTopics`. */
  topics?: readonly string[];
  /** A JSON object (≤ 1 KiB) attached to the session and shown in presence. */
  meta?: Record<string, unknown>;
  /** Resume from this cursor (e.g. one the application stored); default "from now". */
  cursor?: string;
  /**
   * The transports the client may use (default all: 'websocket', 'sse',
   * 'longpoll'); sent to the server in negotiate. Order does not matter:
   * the client follows the server's advice and always prefers WebSocket,
   * then SSE, then long-poll. E.g. `['longpoll']` forces long-poll,
   * `['sse', 'longpoll']` excludes WebSocket. A list with nothing this
   * client can use ends in a `no_transport` error state.
   */
  transports?: readonly TransportName[];
  /**
   * The WebSocket constructor. Default `globalThis.WebSocket`; without one
   * (Node 20) the client does not use WebSocket. In Node, pass e.g. the
   * `ws` package's.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * After falling back to a worse transport, probe the better ones about
   * this often (±20 % jitter) and switch back when one works. Default
   * 60 000 ms; 0 turns failback off.
   */
  failbackMs?: number;
  /** Reconnect backoff bounds. Default { minMs: 500, maxMs: 20000 }. */
  backoff?: Partial<BackoffOptions>;
  /** How many sends may wait (including the one in flight). Default 100. */
  maxQueue?: number;
  /** Deadline of negotiate, send and presence requests. Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** Extra request headers (e.g. authentication), or a function returning them, called per request. */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);
  /** The fetch to use. Default the global fetch. */
  fetch?: FetchLike | typeof fetch;
  /** Source of randomness for backoff jitter, in [0, 1). Default Math.random. */
  random?: () => number;
  /**
   * Where the client keeps, across page loads, its record of which
   * transports failed or worked here (reported to the server, which counts
   * distinct clients behind one address), a random device id for that
   * count, and whether a proxy here strips the Lifeline-Token header.
   * Entries expire after 10 minutes. Default `localStorage` when usable;
   * null keeps it in memory for this client only.
   */
  storage?: StorageLike | null;
  /** Time source for timers. Default the real one. */
  clock?: Clock;
  /**
   * Connect on construction. Default true: the connection starts in a
   * microtask, so listeners added right after `new` see every state
   * change. With false, call `start()`.
   */
  autoStart?: boolean;
}
