/**
 * Full-jitter exponential backoff (PROTOCOL.md §8).
 *
 * Retry number n (0 for the first retry) waits a uniformly random time in
 * [0, min(maxMs, minMs × 2ⁿ)]: the cap is applied *before* randomising, so
 * clients that have all reached the cap stay spread over [0, maxMs] instead
 * of retrying in lockstep.
 *
 * A server's Retry-After is a floor that the jitter is added to: the wait is
 * in [retryAfter, retryAfter + ceiling]. Taking max(retryAfter, jitter)
 * would also never undercut the server, but would send every client back at
 * exactly retryAfter (e.g. all of them 1 s after a `503 shutting_down`),
 * which is the reconnect storm backoff exists to prevent.
 */

/** Backoff bounds, in milliseconds. */
export interface BackoffOptions {
  /** The ceiling of the first retry; doubles per retry. Default 500. */
  minMs: number;
  /** The largest ceiling. Default 20 000. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ minMs: 500, maxMs: 20_000 });

/** The longest Retry-After honoured, so a garbled header cannot park a client for days. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** Fills in defaults and checks the bounds. */
export function backoffOptions(opts?: Partial<BackoffOptions>): BackoffOptions {
  const minMs = opts?.minMs ?? DEFAULT_BACKOFF.minMs;
  const maxMs = opts?.maxMs ?? DEFAULT_BACKOFF.maxMs;
  if (!(Number.isFinite(minMs) && minMs >= 0) || !(Number.isFinite(maxMs) && maxMs >= minMs)) {
    throw new RangeError(`backoff: want 0 <= minMs <= maxMs, got minMs=${minMs} maxMs=${maxMs}`);
  }
  return { minMs, maxMs };
}

/** The upper bound of the jitter for retry number `attempt` (0-based). */
export function backoffCeiling(attempt: number, opts: BackoffOptions): number {
  const n = Math.max(0, Math.min(Math.floor(attempt), 60)); // 2^60 is past any maxMs; avoids Infinity·0
  return Math.min(opts.maxMs, opts.minMs * 2 ** n);
}

/**
 * The wait before retry number `attempt` (0-based), in whole ms:
 * `floorMs + random() × ceiling`. `random` must return values in [0, 1)
 * (values outside are clamped).
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number, floorMs = 0): number {
  const r = Math.min(Math.max(random(), 0), 1);
  const jitter = Math.floor(r * backoffCeiling(attempt, opts));
  const floor = Math.min(Math.max(floorMs, 0), MAX_RETRY_AFTER_MS);
  return Math.ceil(floor) + jitter;
}

/**
 * Parses a Retry-After header (delay-seconds or an HTTP-date) into ms.
 * Returns undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  let ms: number;
  if (/^\d+$/.test(v)) {
    ms = Number(v) * 1000;
  } else if (/^[A-Za-z]{3,9},/.test(v)) {
    // An HTTP-date: every form of it starts with the day name.
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  } else {
    return undefined;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
