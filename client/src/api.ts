/**
 * One function per request of the protocol besides the poll itself: each
 * sends one HTTP request and validates the answer's shape. Retrying is the
 * caller's business.
 */
import { SessionAuth } from './auth.js';
import type { Clock } from './clock.js';
import { LifelineError, clientError } from './errors.js';
import { request, resolveUrl, withQuery, type FetchLike } from './http.js';
import {
  PROTOCOL_VERSION,
  type Ack,
  type ClientTransport,
  type HistoryResponse,
  type NegotiateRequest,
  type PresenceResponse,
  type SendRequest,
} from './protocol.js';
import { isEnvelope } from './longpoll.js';

/** What every request needs. */
export interface ApiContext {
  fetch: FetchLike;
  clock: Clock;
  /** The base URL, without a trailing slash ("/rt", "https://x/rt"). */
  base: string;
  /** Extra headers for every request (authentication, CSRF...). */
  headers: () => Promise<Record<string, string>>;
  /** Deadline of every request but the poll. */
  timeoutMs: number;
  /** A session proved, after a 401, which way its token must travel here (auth.ts): remember it for the next. */
  learnedAuth?: (headerless: boolean) => void;
}

/** A transport the server offers, with its absolute URL. */
export interface Offer {
  name: ClientTransport;
  url: string;
}

/** A negotiated session: what the transports and send need. */
export interface Session {
  clientId: string;
  token: string;
  /** The transports to try, in the server's order, limited to those the client may use. */
  offers: Offer[];
  sendUrl: string;
  pollTimeoutMs: number;
  heartbeatMs: number;
  sessionTtlMs: number;
  maxMessageBytes: number;
  /** How the token travels: the header, or the cookie and the body (auth.ts). */
  auth: SessionAuth;
  /** Where to start, and whether the requested cursor could not be honoured. */
  cursor: string;
  reset: boolean;
  topics: string[];
}

const DEFAULT_POLL_TIMEOUT_MS = 25_000;
const DEFAULT_HEARTBEAT_MS = 15_000;
const DEFAULT_SESSION_TTL_MS = 60_000;
const DEFAULT_MAX_MESSAGE_BYTES = 65_536;

const positive = (v: unknown, d: number): number => (typeof v === 'number' && v > 0 ? v : d);

function badResponse(what: string, status: number): LifelineError {
  return new LifelineError({ status, code: 'bad_response', detail: `${what}: the response is not of the documented shape` });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function authHeaders(ctx: ApiContext, s: Session): Promise<Record<string, string>> {
  return { ...(await ctx.headers()), ...s.auth.headers(s.token) };
}

/**
 * Runs one authenticated request, and again at once the other way when its
 * 401 says a proxy strips the token header (auth.ts): at most once per
 * session. Other errors, and a 401 of a session that is gone, reject.
 */
export async function authed<T>(ctx: ApiContext, s: Session, run: () => Promise<T>): Promise<T> {
  for (;;) {
    const used = s.auth.headerless;
    try {
      const out = await run();
      if (used === s.auth.headerless && s.auth.succeeded()) ctx.learnedAuth?.(used);
      return out;
    } catch (err) {
      if (err instanceof LifelineError && err.status === 401 && s.auth.unauthorized(used, ctx.clock.now(), s.sessionTtlMs)) continue;
      throw err;
    }
  }
}

/**
 * POST {base}/negotiate (§3). Keeps the transports the server advises that
 * `supported` contains, in its order; none is a `no_transport` error.
 */
export async function negotiate(
  ctx: ApiContext,
  body: Omit<NegotiateRequest, 'protocol'>,
  supported: readonly ClientTransport[],
  signal: AbortSignal,
  headerless = false,
): Promise<Session> {
  if (supported.length === 0) {
    throw clientError('no_transport', `none of the requested transports [${(body.transports ?? []).join(', ')}] is implemented by this client`);
  }
  const url = `${ctx.base}/negotiate`;
  const req: NegotiateRequest = { protocol: PROTOCOL_VERSION, ...body };
  const res = await request(ctx.fetch, ctx.clock, {
    method: 'POST',
    url,
    json: req,
    headers: await ctx.headers(),
    signal,
    timeoutMs: ctx.timeoutMs,
  });
  const b = res.body;
  if (
    !isObject(b) ||
    typeof b.token !== 'string' ||
    !b.token ||
    typeof b.clientId !== 'string' ||
    typeof b.cursor !== 'string' ||
    !b.cursor ||
    !Array.isArray(b.transports)
  ) {
    throw badResponse('negotiate', res.status);
  }
  const offered = b.transports.filter(
    (t): t is { name: string; url: string } => isObject(t) && typeof t.name === 'string' && typeof t.url === 'string',
  );
  const offers: Offer[] = offered
    .filter((t) => (supported as readonly string[]).includes(t.name))
    .map((t) => ({ name: t.name as ClientTransport, url: resolveUrl(t.url, url) }));
  if (!offers.length) {
    const names = offered.map((t) => t.name).join(', ') || 'none';
    throw clientError('no_transport', `the server offers ${names}; this client speaks ${supported.join(', ')}`);
  }
  const sendUrl = typeof b.sendUrl === 'string' && b.sendUrl ? b.sendUrl : `${ctx.base}/send`;
  return {
    clientId: b.clientId,
    token: b.token,
    offers,
    sendUrl: resolveUrl(sendUrl, url),
    pollTimeoutMs: positive(b.pollTimeoutMs, DEFAULT_POLL_TIMEOUT_MS),
    heartbeatMs: positive(b.heartbeatMs, DEFAULT_HEARTBEAT_MS),
    sessionTtlMs: positive(b.sessionTtlMs, DEFAULT_SESSION_TTL_MS),
    auth: new SessionAuth(headerless, ctx.clock.now()),
    maxMessageBytes: positive(b.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    cursor: b.cursor,
    reset: b.reset === true,
    topics: Array.isArray(b.topics) ? b.topics.filter((t): t is string => typeof t === 'string') : [],
  };
}

/** POST the send URL (§6). */
export async function sendMessage(ctx: ApiContext, s: Session, msg: SendRequest, signal: AbortSignal): Promise<Ack> {
  const res = await authed(ctx, s, async () =>
    request(ctx.fetch, ctx.clock, {
      method: 'POST',
      url: s.sendUrl,
      json: s.auth.body(msg, s.token),
      headers: await authHeaders(ctx, s),
      signal,
      timeoutMs: ctx.timeoutMs,
    }),
  );
  const b = res.body;
  if (!isObject(b) || (b.id !== undefined && typeof b.id !== 'string')) throw badResponse('send', res.status);
  const ack: Ack = { mid: typeof b.mid === 'string' ? b.mid : msg.mid };
  if (typeof b.id === 'string' && b.id) ack.id = b.id;
  return ack;
}

/** GET {base}/presence?topic= (§4). */
export async function getPresence(
  ctx: ApiContext,
  s: Session,
  topic: string,
  signal: AbortSignal,
): Promise<PresenceResponse> {
  const res = await authed(ctx, s, async () =>
    request(ctx.fetch, ctx.clock, {
      method: 'GET',
      url: withQuery(`${ctx.base}/presence`, { topic, ...s.auth.query(s.clientId) }),
      headers: await authHeaders(ctx, s),
      signal,
      timeoutMs: ctx.timeoutMs,
    }),
  );
  const b = res.body;
  if (!isObject(b) || !Array.isArray(b.clients)) throw badResponse('presence', res.status);
  return {
    ...b,
    topic: typeof b.topic === 'string' ? b.topic : topic,
    clients: b.clients.filter((c): c is PresenceResponse['clients'][number] => isObject(c) && typeof c.clientId === 'string'),
  };
}

/** GET {base}/history?topic=&limit= (§7a). */
export async function getHistory(ctx: ApiContext, s: Session, topic: string, limit: number | undefined, signal: AbortSignal): Promise<HistoryResponse> {
  const query = { topic, ...(limit === undefined ? {} : { limit: String(limit) }), ...s.auth.query(s.clientId) };
  const res = await authed(ctx, s, async () =>
    request(ctx.fetch, ctx.clock, {
      method: 'GET',
      url: withQuery(`${ctx.base}/history`, query),
      headers: await authHeaders(ctx, s),
      signal,
      timeoutMs: ctx.timeoutMs,
    }),
  );
  const b = res.body;
  if (!isObject(b) || !Array.isArray(b.events) || typeof b.cursor !== 'string') throw badResponse('history', res.status);
  return { topic, events: b.events.filter(isEnvelope), cursor: b.cursor, complete: b.complete === true };
}

/** How long endSession waits for its answer: close() resolves by then. */
const END_SESSION_TIMEOUT_MS = 2_000;

/**
 * DELETE {base}/session (§7), best effort: never rejects, and gives up after
 * END_SESSION_TIMEOUT_MS. `keepalive` lets it outlive a closing page.
 */
export async function endSession(ctx: ApiContext, s: Session): Promise<void> {
  try {
    await request(ctx.fetch, ctx.clock, {
      method: 'DELETE',
      url: withQuery(`${ctx.base}/session`, s.auth.query(s.clientId)),
      headers: await authHeaders(ctx, s),
      timeoutMs: END_SESSION_TIMEOUT_MS,
      keepalive: true,
    });
  } catch {
    // The session expires on its own after sessionTtlMs.
  }
}
