import type { Problem } from './protocol.js';

/**
 * Codes the client itself produces (status 0: no HTTP response involved).
 * Server codes (PROTOCOL.md §2) such as `unknown_token` or `rejected` come
 * with their HTTP status.
 */
export type ClientErrorCode =
  /** The request never got a response (connection refused, reset, DNS, CORS...). */
  | 'network'
  /** The request got no response within the client's deadline. */
  | 'timeout'
  /** The server answered 2xx with a body that is not the documented JSON. */
  | 'bad_response'
  /** `send` while `maxQueue` messages are already waiting. */
  | 'queue_full'
  /** The client was closed (or closed while the operation was pending). */
  | 'closed'
  /** The server offered no transport this client implements. */
  | 'no_transport'
  /** A transport failed to open (PROTOCOL.md §3 `failed` reasons). */
  | 'no_upgrade'
  | 'open_timeout'
  | 'no_first_byte'
  | 'closed_early'
  | 'error';

/** What a LifelineError is built from. */
export interface LifelineErrorInit {
  /** HTTP status; 0 when there was no HTTP response. */
  status: number;
  /** Stable, machine-readable code (the problem's `code`, or a ClientErrorCode). */
  code: string;
  /** Human-readable explanation; may change between versions. */
  detail: string;
  /** Retry-After of the response, in ms, when it had one. */
  retryAfterMs?: number;
  /** The problem document as received. */
  problem?: Problem;
  cause?: unknown;
}

/**
 * The one error type of the client: every rejected promise and every
 * `error` event carries one. Test `code`, not `message`.
 */
export class LifelineError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly retryAfterMs?: number;
  readonly problem?: Problem;

  constructor(init: LifelineErrorInit) {
    const where = init.status ? `HTTP ${init.status} ` : '';
    super(`${where}${init.code}: ${init.detail}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'LifelineError';
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.problem !== undefined) this.problem = init.problem;
  }

  /**
   * Whether the same request may succeed later (PROTOCOL.md §2, §8):
   * network errors and timeouts, 5xx, 429, and garbled 2xx bodies (a proxy
   * in the way). Everything else is the request's fault.
   */
  get retryable(): boolean {
    if (this.status === 0) return this.code === 'network' || this.code === 'timeout';
    return this.status >= 500 || this.status === 429 || this.code === 'bad_response';
  }
}

/** Builds a client-side error (status 0). */
export function clientError(code: ClientErrorCode, detail: string, cause?: unknown): LifelineError {
  return new LifelineError({ status: 0, code, detail, cause });
}

/** Wraps anything thrown into a LifelineError (unknown throwables become `network`). */
export function toLifelineError(err: unknown): LifelineError {
  if (err instanceof LifelineError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return clientError('network', detail, err);
}

/** What every call gets once the client is closed. */
export function closedError(): LifelineError {
  return clientError('closed', 'the client was closed');
}
