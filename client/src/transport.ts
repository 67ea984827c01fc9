/**
 * The one internal interface every transport implements (long-poll, SSE,
 * WebSocket), and the vocabulary of how a transport ends. A transport is one
 * connection attempt on one session: the client makes a new one for every
 * (re)connection and never reuses a closed one.
 */
import type { ApiContext, Session } from './api.js';
import type { LifelineError } from './errors.js';
import type { IdleLimit } from './idle.js';
import type { Ack, Envelope, SendRequest, TransportName } from './protocol.js';

/** Why a transport failed before it opened (PROTOCOL.md §3, `failed`). */
export type FailureReason = 'no_upgrade' | 'open_timeout' | 'no_first_byte' | 'closed_early' | 'error';

/**
 * How a transport ended:
 * - `failed`: it never opened, for a reason of its own (`reason`): try the next transport;
 * - `superseded`: a newer receiver of this session took over (normally the client's own);
 * - `unknown_token`: the session is gone: negotiate again with the cursor;
 * - `bad_cursor`: negotiate again without a cursor;
 * - `retry`: a transient condition: reconnect from the cursor, with backoff unless `immediate`;
 * - `fatal`: retrying cannot help.
 */
export type CloseKind = 'failed' | 'superseded' | 'unknown_token' | 'bad_cursor' | 'retry' | 'fatal';

export interface TransportClose {
  kind: CloseKind;
  reason?: FailureReason;
  error?: LifelineError;
  /** The server's advised delay (Retry-After, `retry:`, `retryAfterMs`). */
  retryAfterMs?: number;
  /** Reconnect at once (a recycled SSE stream): not a failure. */
  immediate?: boolean;
  /**
   * The connection was cut (a 502/504, or the stream or socket ended)
   * after this long without traffic: perhaps a proxy's idle timeout
   * (idle.ts).
   */
  quietMs?: number;
}

/** What a transport reports. None of them is called after `close()`. */
export interface TransportHandlers {
  /** The transport is open: events follow. Called at most once. */
  open(): void;
  /** One event, in the server's order. */
  event(ev: Envelope): void;
  /** The cursor could not be honoured; delivery continues from `cursor`. */
  reset(cursor: string): void;
  /** A long-poll batch's cursor (it may pass events of topics not followed). */
  cursor(cursor: string): void;
  /** The server answered: the connection works (resets the backoff). */
  alive(): void;
  /** The transport ended (before or after opening). Called once. */
  close(c: TransportClose): void;
}

/** What a transport is built from. */
export interface TransportContext {
  api: ApiContext;
  session: Session;
  /** The transport's URL, absolute. */
  url: string;
  /** The cursor to (re)start from: the last event processed. */
  cursor: () => string;
  handlers: TransportHandlers;
  /** The path's idle limit, as learned: polls hold less and streams beat more often below it. */
  idle: IdleLimit;
}

export interface Transport {
  readonly name: TransportName;
  /** Starts connecting. */
  start(): void;
  /** Stops at once, silently: no handler is called afterwards. */
  close(): void;
  /** Long-poll only: finish the request in flight but start no new one until `resume`. */
  pause?(): void;
  resume?(): void;
  /** WebSocket only: sends in-band while open. Rejects (retryably) if it closes first. */
  send?(msg: SendRequest): Promise<Ack>;
}

/** Whether an error is how a proxy cuts a response it found idle too long: a gateway timeout or error, or the connection ending. */
export function isCut(e: LifelineError): boolean {
  return e.status === 502 || e.status === 504 || (e.status === 0 && e.code === 'network');
}

/** Maps an HTTP-level error of a transport request to how the transport ends. */
export function closeFor(e: LifelineError): TransportClose {
  if (e.status === 401) return { kind: 'unknown_token', error: e };
  if (e.status === 400 && e.code === 'bad_cursor') return { kind: 'bad_cursor', error: e };
  if (e.retryable) return { kind: 'retry', error: e, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}) };
  return { kind: 'fatal', error: e };
}
