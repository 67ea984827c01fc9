/**
 * The long-poll transport (PROTOCOL.md §5): one GET at a time, carrying the
 * cursor in the query and the token in the Lifeline-Token header (or, behind
 * a proxy that strips it, proving the session by its cookie: auth.ts).
 */
import { authed, type ApiContext, type Session } from './api.js';
import { LifelineError, toLifelineError } from './errors.js';
import { AbortedError, request, withQuery } from './http.js';
import type { Envelope, PollResponse } from './protocol.js';
import { closeFor, isCut, type Transport, type TransportContext } from './transport.js';

/** How much longer than the server's hold the client waits before calling a poll dead. */
export const POLL_GRACE_MS = 10_000;
/** A first poll still held after this long, with no error, counts as open. */
export const POLL_OPEN_MS = 500;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isEnvelope(v: unknown): v is Envelope {
  return isObject(v) && typeof v.id === 'string' && v.id !== '' && typeof v.type === 'string' && typeof v.topic === 'string';
}

/**
 * Polls once from `cursor`, asking the server to hold it at most
 * `holdMs` (its own `pollTimeoutMs` when undefined). Resolves with the
 * validated response (events that lack an id, type or topic are left
 * out); a poll that outlives the hold by POLL_GRACE_MS is a `timeout` (a
 * silently dead connection).
 */
export async function poll(ctx: ApiContext, s: Session, url: string, cursor: string, signal: AbortSignal, holdMs?: number): Promise<PollResponse> {
  const hold: Record<string, string> = holdMs === undefined ? {} : { timeout: String(holdMs) };
  const res = await authed(ctx, s, async () =>
    request(ctx.fetch, ctx.clock, {
      method: 'GET',
      url: withQuery(url, { cursor, ...hold, ...s.auth.query(s.clientId) }),
      headers: { ...(await ctx.headers()), ...s.auth.headers(s.token) },
      signal,
      timeoutMs: (holdMs ?? s.pollTimeoutMs) + POLL_GRACE_MS,
    }),
  );
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

/**
 * Polls in a loop until closed. It opens at once (a poll that fails fails
 * fast; one that is held is working), and ends only on an error: a
 * superseded poll is ignored and polled again. Once the path's idle limit
 * is known (idle.ts) each poll asks to be held less than it.
 */
export class LongPollTransport implements Transport {
  readonly name = 'longpoll';
  readonly #ctl = new AbortController();
  #opened = false;
  #paused: (() => void) | null = null;
  #pausing = false;
  readonly #ctx: TransportContext;

  constructor(ctx: TransportContext) {
    this.#ctx = ctx;
  }

  start(): void {
    void this.#loop();
  }

  close(): void {
    this.#ctl.abort();
    this.#paused?.();
  }

  pause(): void {
    this.#pausing = true;
  }

  resume(): void {
    this.#pausing = false;
    this.#paused?.();
  }

  #open(): void {
    if (this.#opened || this.#ctl.signal.aborted) return;
    this.#opened = true;
    this.#ctx.handlers.open();
  }

  async #loop(): Promise<void> {
    const { api, session, url, handlers: h, idle } = this.#ctx;
    let sentAt = api.clock.now();
    const signal = this.#ctl.signal;
    const timer = api.clock.setTimeout(() => this.#open(), POLL_OPEN_MS);
    try {
      while (!signal.aborted) {
        if (this.#pausing) {
          await new Promise<void>((r) => (this.#paused = r));
          this.#paused = null;
          continue;
        }
        sentAt = api.clock.now();
        const res = await poll(api, session, url, this.#ctx.cursor(), signal, idle.pollTimeoutMs(session.pollTimeoutMs));
        if (signal.aborted) return;
        this.#open();
        h.alive();
        if (res.superseded || signal.aborted) continue;
        if (res.reset) h.reset(res.cursor);
        for (const ev of res.events ?? []) {
          if (signal.aborted) return; // closed by a listener: the rest comes again from the cursor
          h.event(ev);
        }
        if (!signal.aborted) h.cursor(res.cursor);
      }
    } catch (err) {
      if (signal.aborted || err instanceof AbortedError) return;
      this.#ctl.abort();
      const e = toLifelineError(err);
      // A held poll is quiet: cut while held, it may have met a proxy's idle timeout.
      h.close(isCut(e) ? { ...closeFor(e), quietMs: api.clock.now() - sentAt } : closeFor(e));
    } finally {
      api.clock.clearTimeout(timer);
    }
  }
}
