/**
 * The long-poll transport (PROTOCOL.md §5): one GET per call, carrying the
 * cursor in the query and the token in the Lifeline-Token header.
 */
import type { ApiContext, Session } from './api.js';
import { LifelineError } from './errors.js';
import { request, withQuery } from './http.js';
import { TOKEN_HEADER, type Envelope, type PollResponse } from './protocol.js';

/** How much longer than the server's hold the client waits before calling a poll dead. */
export const POLL_GRACE_MS = 10_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isEnvelope(v: unknown): v is Envelope {
  return isObject(v) && typeof v.id === 'string' && v.id !== '' && typeof v.type === 'string' && typeof v.topic === 'string';
}

/**
 * Polls once from `cursor`. Resolves with the validated response (events
 * that lack an id, type or topic are left out); a poll that outlives the
 * server's hold by POLL_GRACE_MS is a `timeout` (a silently dead
 * connection).
 */
export async function poll(ctx: ApiContext, s: Session, cursor: string, signal: AbortSignal): Promise<PollResponse> {
  const res = await request(ctx.fetch, ctx.clock, {
    method: 'GET',
    url: withQuery(s.pollUrl, { cursor }),
    headers: { ...(await ctx.headers()), [TOKEN_HEADER]: s.token },
    signal,
    timeoutMs: s.pollTimeoutMs + POLL_GRACE_MS,
  });
  const b = res.body;
  if (!isObject(b) || typeof b.cursor !== 'string' || !b.cursor || (b.events !== undefined && !Array.isArray(b.events))) {
    throw new LifelineError({ status: res.status, code: 'bad_response', detail: 'poll: the response is not of the documented shape' });
  }
  const out: PollResponse = {
    events: ((b.events as unknown[] | undefined) ?? []).filter(isEnvelope),
    cursor: b.cursor,
  };
  if (b.more === true) out.more = true;
  if (b.reset === true) out.reset = true;
  if (b.superseded === true) out.superseded = true;
  return out;
}
