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
import { LifelineError, clientError, closedError, toLifelineError } from './errors.js';
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

/** Thrown inside the send path when a send's `timeoutMs` passed. */
const GAVE_UP = Symbol('gave up');

/** p, or GAVE_UP once signal aborts. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(GAVE_UP);
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    const done = (): void => signal.removeEventListener('abort', abort);
    p.then(
      (v) => (done(), resolve(v)),
      (e) => (done(), reject(e)),
    );
  });
}

/**
 * A signal that aborts when either does (AbortSignal.any is too new for
 * some browsers), and the function that detaches it from both.
 */
function either(a: AbortSignal, b: AbortSignal): [AbortSignal, () => void] {
  const ctl = new AbortController();
  const abort = (): void => ctl.abort();
  if (a.aborted || b.aborted) abort();
  a.addEventListener('abort', abort, { once: true });
  b.addEventListener('abort', abort, { once: true });
  return [ctl.signal, () => (a.removeEventListener('abort', abort), b.removeEventListener('abort', abort))];
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

  /**
   * Queues one message; it is tried until acknowledged or refused, or
   * until `timeoutMs` (from now) has passed: then it rejects with the last
   * failure (or `timeout`), and may be sent again under the same mid.
   */
  send(msg: SendRequest, timeoutMs?: number): Promise<Ack> {
    const { signal } = this.#host;
    let giveUp: AbortSignal | undefined;
    let last: LifelineError | undefined;
    // Why it was not sent: its last failure, else the rate limit holding the queue.
    const gaveUp = (): LifelineError => last ?? this.#held?.error ?? clientError('timeout', `not sent within ${timeoutMs} ms`);
    let settled: (() => void) | undefined;
    if (timeoutMs !== undefined) {
      const ctl = new AbortController();
      giveUp = ctl.signal;
      const t = this.#ctx.clock.setTimeout(() => ctl.abort(), timeoutMs);
      settled = () => this.#ctx.clock.clearTimeout(t);
    }
    const run = async (s: Session): Promise<Ack> => {
      await this.#pace(signal);
      return this.#sendOnce(s, msg, signal);
    };
    const done = this.#queue.push(
      () => this.#withSession(giveUp ? (s) => raceAbort(run(s), giveUp!) : run, signal, giveUp, (e) => (last = e)),
      giveUp,
      gaveUp,
    );
    if (!settled) return done;
    return done.then(
      (ack) => (settled(), ack),
      (err) => {
        settled();
        throw err === GAVE_UP ? gaveUp() : err;
      },
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
  async #withSession<T>(
    fn: (s: Session) => Promise<T>,
    signal: AbortSignal,
    giveUp?: AbortSignal,
    failed?: (e: LifelineError) => void,
  ): Promise<T> {
    let failures = 0;
    let renegotiated = false;
    // Waits end on close, and on giving up.
    const [wait, detach] = giveUp ? either(signal, giveUp) : [signal, () => {}];
    try {
      for (;;) {
        if (giveUp?.aborted) throw GAVE_UP;
        const s = await raceAbort(this.#host.waitSession(signal), giveUp);
        try {
          return await fn(s);
        } catch (err) {
          if (signal.aborted || err instanceof AbortedError) throw closedError();
          if (err === GAVE_UP) throw err;
          const e = toLifelineError(err);
          failed?.(e);
          if (e.status === 401) {
            this.#host.invalidate(s, e);
            if (renegotiated) throw e;
            renegotiated = true;
            continue;
          }
          if (!e.retryable) throw e;
          this.#ctx.emitter.emit('error', e);
          const ms = backoffDelay(failures++, this.#ctx.backoff, this.#ctx.random, e.retryAfterMs);
          if (e.status === 429) await this.#hold(ms, failures, e, wait);
          else await sleep(this.#ctx.clock, ms, wait, this.#ctx.wakers);
        }
      }
    } finally {
      detach();
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
