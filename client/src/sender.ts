/**
 * The send path: the queue of outgoing messages (one at a time, in call
 * order), pacing by the server's RateLimit fields, and retrying each message
 * under its one `mid` until acknowledged; also presence calls, which share
 * the retrying. Where a message goes (in-band or POST) is decided per try.
 */
import { getHistory, getPresence, sendMessage, type Session } from './api.js';
import { backoffDelay } from './backoff.js';
import { sleep } from './clock.js';
import type { ClientContext } from './context.js';
import { LifelineError, closedError, toLifelineError } from './errors.js';
import { AbortedError } from './http.js';
import type { Ack, HistoryResponse, PresenceResponse, SendRequest } from './protocol.js';
import { SerialQueue } from './queue.js';
import { exhaustedForMs, limitsOf, type RateLimitInfo } from './ratelimit.js';
import type { Transport } from './transport.js';

/** A send or presence call waiting out the server's rate limit while connected: shown as `rate-limited`. */
export interface Hold {
  until: number;
  attempt: number;
  error: LifelineError;
}

/** What the send path asks of the supervisor. */
export interface SendHost {
  readonly running: boolean;
  /** Aborted once the client is closed: a call stops on the signal of the time it was made. */
  readonly signal: AbortSignal;
  readonly session: Session | null;
  /** The open transport, if any: WebSocket sends in-band. */
  readonly openTransport: Transport | null;
  /** The live session, waiting for a negotiate if there is none; rejects once the client stopped. */
  waitSession(signal: AbortSignal): Promise<Session>;
  /** The server no longer knows `s` (401): negotiate again. */
  invalidate(s: Session, error: LifelineError): void;
  showConnected(): void;
}

const bytes = (s: string): number => new TextEncoder().encode(s).length;

export class SendPath {
  readonly #ctx: ClientContext;
  readonly #host: SendHost;
  readonly #queue: SerialQueue<Ack>;
  /** Sends wait until then: a send response said nothing is left (r=0) for `t`. */
  #paceUntil = 0;
  #held: Hold | null = null;
  /** The last RateLimitInfo of each policy. */
  #limits: Readonly<Record<string, RateLimitInfo>> = Object.freeze({});

  constructor(ctx: ClientContext, host: SendHost, maxQueue: number) {
    this.#ctx = ctx;
    this.#host = host;
    this.#queue = new SerialQueue<Ack>(maxQueue);
  }

  get limits(): Readonly<Record<string, RateLimitInfo>> {
    return this.#limits;
  }

  get held(): Hold | null {
    return this.#held;
  }

  /** Queues one message; it is tried until acknowledged or refused. */
  send(msg: SendRequest): Promise<Ack> {
    const { signal } = this.#host;
    return this.#queue.push(() =>
      this.#withSession(async (s) => {
        await this.#pace(signal);
        return this.#sendOnce(s, msg, signal);
      }, signal),
    );
  }

  presence(topic: string): Promise<PresenceResponse> {
    const { signal } = this.#host;
    return this.#withSession((s) => getPresence(this.#ctx.api, s, topic, signal), signal);
  }

  history(topic: string, limit?: number): Promise<HistoryResponse> {
    const { signal } = this.#host;
    return this.#withSession((s) => getHistory(this.#ctx.api, s, topic, limit, signal), signal);
  }

  /** A new session has its own send budget. */
  newSession(): void {
    this.#paceUntil = 0;
  }

  rejectAll(err: LifelineError): void {
    this.#queue.rejectAll(err);
  }

  /** Reads the rate-limit fields of any response: `limits`, and pacing after a send. */
  observe(url: string, headers: Headers): void {
    const now = this.#ctx.clock.now();
    const infos = limitsOf(headers, now);
    if (!infos.length) return;
    const map = { ...this.#limits };
    for (const i of infos) map[i.policy] = Object.freeze(i);
    this.#limits = Object.freeze(map);
    if (url === this.#host.session?.sendUrl) {
      const ms = exhaustedForMs(infos);
      this.#paceUntil = ms ? Math.max(this.#paceUntil, now + ms) : 0;
    }
    for (const i of infos) this.#ctx.emitter.emit('limits', this.#limits[i.policy]!);
  }

  /** One attempt at a send: in-band on an open WebSocket (if the frame fits), else over HTTP. */
  #sendOnce(s: Session, msg: SendRequest, signal: AbortSignal): Promise<Ack> {
    const t = this.#host.openTransport;
    if (t?.send && this.#host.session === s && bytes(JSON.stringify(msg)) + 16 <= s.maxMessageBytes) return t.send(msg);
    return sendMessage(this.#ctx.api, s, msg, signal);
  }

  /**
   * Runs fn with the session until it succeeds: 401 negotiates again (once
   * in a row), network errors, 5xx and 429 back off; other errors reject.
   */
  async #withSession<T>(fn: (s: Session) => Promise<T>, signal: AbortSignal): Promise<T> {
    let failures = 0;
    let renegotiated = false;
    for (;;) {
      const s = await this.#host.waitSession(signal);
      try {
        return await fn(s);
      } catch (err) {
        if (signal.aborted || err instanceof AbortedError) throw closedError();
        const e = toLifelineError(err);
        if (e.status === 401) {
          this.#host.invalidate(s, e);
          if (renegotiated) throw e;
          renegotiated = true;
          continue;
        }
        if (!e.retryable) throw e;
        this.#ctx.emitter.emit('error', e);
        const ms = backoffDelay(failures++, this.#ctx.backoff, this.#ctx.random, e.retryAfterMs);
        if (e.status === 429) await this.#hold(ms, failures, e, signal);
        else await sleep(this.#ctx.clock, ms, signal, this.#ctx.wakers);
      }
    }
  }

  /** Waits ms for the server's rate limit, showing `rate-limited` meanwhile if connected. */
  async #hold(ms: number, attempt: number, error: LifelineError, signal: AbortSignal): Promise<void> {
    const h = { until: this.#ctx.clock.now() + ms, attempt, error };
    this.#held = h;
    this.#host.showConnected();
    await sleep(this.#ctx.clock, ms, signal, this.#ctx.wakers);
    if (this.#held !== h) return; // another wait took over
    this.#held = null;
    if (this.#host.running) this.#host.showConnected();
  }

  /** Before a send: wait while the last send response said the limit is spent. */
  #pace(signal: AbortSignal): Promise<void> | undefined {
    const ms = this.#paceUntil - this.#ctx.clock.now();
    this.#paceUntil = 0; // once waited out, until a response says so again
    if (ms <= 0) return;
    const error = new LifelineError({ status: 429, code: 'rate_limited', detail: `the send limit is spent: waiting ${ms} ms (RateLimit r=0)`, retryAfterMs: ms });
    return this.#hold(ms, 0, error, signal);
  }
}
