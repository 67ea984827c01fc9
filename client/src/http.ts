import { parseRetryAfter } from './backoff.js';
import type { Clock } from './clock.js';
import { LifelineError, clientError } from './errors.js';
import type { Problem } from './protocol.js';
import { exhaustedForMs, limitsOf } from './ratelimit.js';

/** The fetch signature the client needs (a subset of the global one). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** One request. */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** Serialised as JSON. */
  json?: unknown;
  /** Aborting it rejects with an AbortedError. */
  signal?: AbortSignal;
  /** Give up after this long with a `timeout` LifelineError. */
  timeoutMs?: number;
  keepalive?: boolean;
}

/** A successful (2xx) response. `body` is undefined for an empty body. */
export interface HttpResponse {
  status: number;
  body: unknown;
  headers: Headers;
}

/** Thrown when the caller's signal aborted the request: not a failure, a cancellation. */
export class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortError';
  }
}

/**
 * Performs one request and decodes the answer. 2xx resolves with the parsed
 * JSON; anything else rejects with a LifelineError carrying the problem
 * document's status, code and detail (§2) and any Retry-After (or, on a
 * 429 without one, the RateLimit field's `t`); network
 * failures reject with code `network`, the deadline with `timeout`, the
 * caller's abort with AbortedError.
 */
export async function request(fetchFn: FetchLike, clock: Clock, req: HttpRequest): Promise<HttpResponse> {
  const ctl = new AbortController();
  let timedOut = false;
  const onAbort = (): void => ctl.abort();
  if (req.signal?.aborted) throw new AbortedError();
  req.signal?.addEventListener('abort', onAbort);
  const timer =
    req.timeoutMs !== undefined
      ? clock.setTimeout(() => {
          timedOut = true;
          ctl.abort();
        }, req.timeoutMs)
      : undefined;

  const failed = (err: unknown): Error => {
    if (req.signal?.aborted) return new AbortedError();
    if (timedOut) return clientError('timeout', `${req.method} ${req.url}: no response within ${req.timeoutMs} ms`, err);
    if (err instanceof LifelineError) return err;
    const why = err instanceof Error ? err.message : String(err);
    return clientError('network', `${req.method} ${req.url}: ${why}`, err);
  };

  try {
    const headers: Record<string, string> = { Accept: 'application/json', ...req.headers };
    const init: RequestInit = { method: req.method, headers, signal: ctl.signal, cache: 'no-store' };
    if (req.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(req.json);
    }
    if (req.keepalive) init.keepalive = true;

    let res: Response;
    let text: string;
    try {
      res = await fetchFn(req.url, init);
      text = await res.text();
    } catch (err) {
      throw failed(err);
    }
    if (res.status < 200 || res.status > 299) throw problemError(res, text, clock.now());
    if (text.trim() === '') return { status: res.status, body: undefined, headers: res.headers };
    try {
      return { status: res.status, body: JSON.parse(text) as unknown, headers: res.headers };
    } catch (err) {
      throw new LifelineError({
        status: res.status,
        code: 'bad_response',
        detail: `${req.method} ${req.url}: the body is not JSON`,
        cause: err,
      });
    }
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
    req.signal?.removeEventListener('abort', onAbort);
  }
}

/** Builds the LifelineError for a non-2xx response. */
function problemError(res: Response, text: string, now: number): LifelineError {
  let problem: Problem | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) problem = parsed as Problem;
  } catch {
    // Not a problem document (e.g. a proxy's HTML error page).
  }
  const code = typeof problem?.code === 'string' && problem.code ? problem.code : `http_${res.status}`;
  const detail =
    typeof problem?.detail === 'string' && problem.detail
      ? problem.detail
      : typeof problem?.title === 'string' && problem.title
        ? problem.title
        : res.statusText || `HTTP ${res.status}`;
  // Retry-After; failing that, on a 429, the `t` of an exhausted RateLimit policy.
  let retryAfterMs = parseRetryAfter(res.headers.get('Retry-After'), now);
  if (retryAfterMs === undefined && res.status === 429) retryAfterMs = exhaustedForMs(limitsOf(res.headers, now)) || undefined;
  return new LifelineError({
    status: res.status,
    code,
    detail,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(problem ? { problem } : {}),
  });
}

/**
 * Resolves a URL the server gave (e.g. "/rt/poll") against the base URL the
 * application gave. A relative base resolves against the page's location;
 * with neither (Node and a relative base) the reference is returned as is.
 */
export function resolveUrl(ref: string, base: string): string {
  const loc = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(ref, new URL(base, loc)).href;
  } catch {
    return ref;
  }
}

/** Returns `url` with `params` appended to its query. */
export function withQuery(url: string, params: Record<string, string>): string {
  const q = Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  if (!q) return url;
  const hash = url.indexOf('#');
  const path = hash >= 0 ? url.slice(0, hash) : url;
  return path + (path.includes('?') ? '&' : '?') + q;
}
