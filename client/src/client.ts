import { endSession, getPresence, negotiate, sendMessage, type ApiContext, type Offer, type Session } from './api.js';
import { backoffDelay, backoffOptions, type BackoffOptions } from './backoff.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { CursorTracker } from './cursor.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import { LifelineError, clientError, toLifelineError } from './errors.js';
import { FailureBook, RANKING, rank, type Failure } from './failures.js';
import { AbortedError, type FetchLike } from './http.js';
import { LongPollTransport } from './longpoll.js';
import { newMid } from './mid.js';
import type { Ack, ClientTransport, Envelope, PresenceResponse, SendRequest } from './protocol.js';
import { SerialQueue } from './queue.js';
import { exhaustedForMs, limitsOf, type RateLimitInfo } from './ratelimit.js';
import { SseTransport } from './sse.js';
import type { FailureReason, Transport, TransportClose, TransportContext } from './transport.js';
import type {
  ClientEvents,
  ConnectionState,
  DefaultEvents,
  EventMap,
  LifelineEvent,
  LifelineOptions,
  ResetReason,
  SendOptions,
  SkippedTransport,
} from './types.js';
import { WebSocketTransport, type WebSocketConstructor } from './websocket.js';

const DEFAULT_MAX_QUEUE = 100;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_FAILBACK_MS = 60_000;
/** How long close() waits for DELETE {base}/session. */
const END_SESSION_TIMEOUT_MS = 2_000;
/** A transport that drops this soon after opening, EARLY_DROPS times in a row, is `closed_early`. */
const CLOSED_EARLY_MS = 5_000;
const EARLY_DROPS = 3;

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

interface TopicsChange {
  topics: string[];
  waiters: Waiter<void>[];
}

/** What the connection loop waits for: a transport opening or ending, or `again` (go round at once). */
type Outcome = 'open' | TransportClose | { kind: 'again' };
type Ended = Exclude<Outcome, 'open'>;

const AGAIN = { kind: 'again' } as const;

function closedError(): LifelineError {
  return clientError('closed', 'the client was closed');
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const bytes = (s: string): number => new TextEncoder().encode(s).length;

/**
 * A Lifeline client: negotiates a session, receives the followed topics
 * from its cursor over the best transport that works (WebSocket, then SSE,
 * then long-poll, falling back on its own and returning to the better one
 * when it works again), reconnects with full-jitter backoff and resumes
 * without loss or repetition, and sends messages idempotently.
 *
 * @typeParam M maps each event `type` to the type of its `data`.
 */
export class LifelineClient<M extends EventMap = DefaultEvents> {
  private readonly emitter = new Emitter<ClientEvents<M>>();
  private readonly api: ApiContext;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private readonly clock: Clock;
  /** What the client may use and can: sent in negotiate, best first. */
  private readonly usable: readonly ClientTransport[];
  private readonly wsCtor: WebSocketConstructor | undefined;
  private readonly failbackMs: number;
  private readonly meta: Record<string, unknown> | undefined;
  private readonly queue: SerialQueue<Ack>;
  private readonly tracker: CursorTracker;
  private readonly book: FailureBook;
  private readonly wakers = new Set<() => void>();

  private topicList: string[];
  private snapshot: ConnectionState = Object.freeze({ status: 'disconnected', transport: null, attempt: 0 });
  private session: Session | null = null;
  /** Aborted by close(); a new one on start() after close(). */
  private life = new AbortController();
  private running = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  private fatal: LifelineError | null = null;
  private everConnected = false;
  private readonly sessionWaiters = new Set<Waiter<Session>>();
  private topicsChange: TopicsChange | null = null;
  private pendingReset: { reason: ResetReason; previousCursor?: string } | null = null;
  private unlistenOnline: (() => void) | null = null;
  /** The last RateLimitInfo of each policy (`limits`). */
  private limitMap: Readonly<Record<string, RateLimitInfo>> = Object.freeze({});
  /** Sends wait until then: a send response said nothing is left (r=0) for `t`. */
  private paceUntil = 0;
  /** A send or presence call waiting out the server's rate limit while connected: shown as `rate-limited`. */
  private held: { until: number; attempt: number; error: LifelineError } | null = null;

  // The connection loop's state.
  /** Consecutive failures: the backoff attempt. */
  private failures = 0;
  /** A 401 was answered by negotiating; nothing worked since. */
  private renegotiated = false;
  /** The transport delivering events (or being opened by the loop). */
  private active: Transport | null = null;
  private activeOpen = false;
  private openedAt = 0;
  /** The transport the loop reconnects to first; null: the server's order. */
  private home: ClientTransport | null = null;
  /** Early drops of `home` in a row. */
  private early = 0;
  /** The transports that failed to open in the current round: kept once a worse one opens. */
  private roundFailed: Failure[] = [];
  private waiter: ((o: Outcome) => void) | null = null;
  private stash: Outcome | null = null;
  // Failback.
  private probe: Transport | null = null;
  private probeSettle: ((o: 'open' | TransportClose) => void) | null = null;
  private probing: Promise<void> | null = null;
  private failbackTimer: unknown;

  constructor(options: LifelineOptions) {
    if (!options || typeof options.url !== 'string' || options.url === '') {
      throw new TypeError('LifelineClient: options.url is required (e.g. "/rt")');
    }
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.backoff = backoffOptions(options.backoff);
    this.queue = new SerialQueue<Ack>(options.maxQueue ?? DEFAULT_MAX_QUEUE);
    this.tracker = new CursorTracker(options.cursor);
    this.book = new FailureBook(this.clock);
    this.topicList = [...(options.topics ?? [])];
    this.meta = options.meta;
    this.wsCtor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.failbackMs = options.failbackMs ?? DEFAULT_FAILBACK_MS;
    const allowed: readonly string[] = options.transports ?? RANKING;
    this.usable = RANKING.filter((t) => allowed.includes(t) && (t !== 'websocket' || this.wsCtor !== undefined));
    const baseFetch: FetchLike = (options.fetch as FetchLike | undefined) ?? ((input, init) => globalThis.fetch(input, init));
    // Every response, error or not, on every endpoint: read its rate-limit fields.
    const fetchFn: FetchLike = async (input, init) => {
      const res = await baseFetch(input, init);
      if (res?.headers) this.observeLimits(input, res.headers);
      return res;
    };
    const h = options.headers;
    this.api = {
      fetch: fetchFn,
      clock: this.clock,
      base: options.url.replace(/\/+$/, ''),
      headers: typeof h === 'function' ? async () => ({ ...(await h()) }) : async () => ({ ...h }),
      timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    };
    if (options.autoStart !== false) {
      queueMicrotask(() => {
        if (!this.closed && !this.running && this.fatal === null) this.start();
      });
    }
  }

  /** The current connection state (a new frozen object on every change). */
  get state(): ConnectionState {
    return this.snapshot;
  }

  /**
   * The cursor after the last event delivered (or where the session
   * started). Store it to resume later with the `cursor` option.
   */
  get cursor(): string | undefined {
    return this.tracker.cursor;
  }

  /** The session's public id; undefined while there is no session. */
  get clientId(): string | undefined {
    return this.session?.clientId;
  }

  /** The topics followed (or about to be, while a `setTopics` is pending). */
  get topics(): readonly string[] {
    return [...(this.topicsChange?.topics ?? this.topicList)];
  }

  /**
   * The last rate-limit information the server sent (RateLimit and
   * RateLimit-Policy fields), by policy name, e.g. `limits.sends?.remaining`.
   */
  get limits(): Readonly<Record<string, RateLimitInfo>> {
    return this.limitMap;
  }

  /** Subscribes to `event`, `state`, `reset`, `error` or `limits`. Returns the unsubscribe function. */
  on<K extends keyof ClientEvents<M>>(name: K, listener: Listener<ClientEvents<M>[K]>): Unsubscribe {
    return this.emitter.on(name, listener);
  }

  /**
   * Connects (negotiate, then the best transport that works). Idempotent
   * while running. After `close()` or a fatal error it starts again,
   * keeping the cursor.
   */
  start(): void {
    if (this.running) return;
    if (this.closed) {
      this.closed = false;
      this.closing = null;
      this.life = new AbortController();
    }
    this.fatal = null;
    this.running = true;
    this.listenOnline();
    this.setState({ status: this.everConnected ? 'reconnecting' : 'connecting', transport: null, attempt: 0 });
    void this.loop(this.life.signal);
  }

  /**
   * Sends a message to a topic (PROTOCOL.md §6): in-band over WebSocket
   * when that is the transport, else POST to the send URL. Messages go out
   * one at a time in call order; while offline or connecting they wait in a
   * queue of at most `maxQueue`. Retried with the same `mid` (on whatever
   * transport is current) on network errors, a WebSocket closing before the
   * acknowledgement, 5xx, 429 and 401 (after negotiating again) until
   * acknowledged: the server applies it once. A refusal by the server's
   * rate limit (429, or an in-band error frame) is retried after the delay
   * it advised plus jitter, and when a send's response says the limit is
   * spent (RateLimit `r=0`) the next send waits `t` first; meanwhile the
   * state is `rate-limited`.
   *
   * @returns the acknowledgement `{ mid, id? }` (`id` is the published
   *   event's id; absent if the application published nothing).
   * @throws LifelineError: the server's refusal (e.g. 403 `forbidden_topic`,
   *   422 `rejected`, 413 `too_large`), `queue_full`, or `closed`.
   */
  send<K extends keyof M & string>(topic: string, type: K, data: M[K], options?: SendOptions): Promise<Ack> {
    if (this.closed) return Promise.reject(closedError());
    let mid: string;
    try {
      mid = newMid();
    } catch (err) {
      return Promise.reject(err);
    }
    const msg: SendRequest = { topic, type, data, mid };
    if (options?.ttlMs !== undefined) msg.ttlMs = options.ttlMs;
    const signal = this.life.signal;
    return this.queue.push(() =>
      this.withSession(async (s) => {
        await this.pace(signal);
        return this.sendOnce(s, msg, signal);
      }, signal),
    );
  }

  /**
   * Follows a new set of topics: negotiates a new session from the current
   * cursor (nothing is lost or repeated; the clientId changes). Resolves
   * once the server accepted them; rejects (keeping the old topics) if it
   * refused them. Before `start()` it only records them.
   */
  setTopics(topics: readonly string[]): Promise<void> {
    const next = [...topics];
    if (this.closed) return Promise.reject(closedError());
    if (!this.running) {
      this.topicList = next;
      return Promise.resolve();
    }
    if (!this.topicsChange && sameList(next, this.topicList)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (this.topicsChange) {
        this.topicsChange.topics = next;
        this.topicsChange.waiters.push({ resolve, reject });
      } else {
        this.topicsChange = { topics: next, waiters: [{ resolve, reject }] };
      }
      this.interrupt(); // the loop negotiates at once
    });
  }

  /** Lists the clients present in a followed topic (GET {base}/presence). */
  presence(topic: string): Promise<PresenceResponse> {
    if (this.closed) return Promise.reject(closedError());
    const signal = this.life.signal;
    return this.withSession((s) => getPresence(this.api, s, topic, signal), signal);
  }

  /**
   * Stops everything: closes the transport, aborts in-flight requests and
   * timers, rejects pending sends, presence calls and setTopics with
   * `closed`, sets the state to `disconnected`, and ends the session
   * (DELETE {base}/session, best effort, at most 2 s). Idempotent.
   * `start()` may be called again later.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const err = closedError();
    const session = this.session;
    this.closed = true;
    this.running = false;
    this.session = null;
    this.life.abort();
    this.interrupt();
    this.queue.rejectAll(err);
    this.rejectWaiters(err);
    this.stopListeningOnline();
    this.setState({ status: 'disconnected', transport: null, attempt: 0 });
    this.closing = session ? endSession(this.api, session, END_SESSION_TIMEOUT_MS) : Promise.resolve();
    return this.closing;
  }

  // ---- the connection loop -------------------------------------------------

  private async loop(signal: AbortSignal): Promise<void> {
    this.failures = 0;
    this.renegotiated = false;
    while (!signal.aborted) {
      let out: Ended | null;
      try {
        if (!this.session || this.topicsChange) {
          await this.negotiate(signal);
          if (signal.aborted) return;
          if (!this.session) continue; // a topics change was refused; go on with the old topics
        }
        out = await this.connect(this.session, signal);
        if (!out || signal.aborted) return;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof AbortedError) continue;
        const e = toLifelineError(err);
        const c: TransportClose = { kind: e.status === 400 && e.code === 'bad_cursor' ? 'bad_cursor' : e.retryable ? 'retry' : 'fatal', error: e };
        if (e.retryAfterMs !== undefined) c.retryAfterMs = e.retryAfterMs;
        out = c;
      }
      switch (out.kind) {
        case 'again':
          continue;
        case 'fatal':
          this.fail(out.error ?? clientError('error', 'failed'));
          return;
        case 'bad_cursor': {
          // Our cursor is garbage (e.g. a corrupted stored one): start over from now, and say so.
          const previousCursor = this.tracker.cursor;
          this.tracker.clear();
          this.pendingReset = previousCursor ? { reason: 'bad_cursor', previousCursor } : { reason: 'bad_cursor' };
          this.session = null;
          if (out.error) this.emitter.emit('error', out.error);
          continue;
        }
        case 'unknown_token':
          this.session = null; // negotiate again with the last cursor
          if (!this.renegotiated) {
            this.renegotiated = true;
            continue;
          }
          break;
        case 'superseded':
          // Normally our own probe; otherwise reconnect once at once, then with backoff.
          if (this.failures++ === 0) continue;
          break;
        default:
          if (out.immediate) continue; // a recycled stream: not a failure
      }
      const e = out.error ?? clientError('network', `the ${this.home ?? 'transport'} connection ended`);
      const delay = backoffDelay(this.failures, this.backoff, this.random, out.retryAfterMs);
      this.failures++;
      const clientId = this.session?.clientId;
      this.setState({
        status: e.status === 429 ? 'rate-limited' : this.everConnected ? 'reconnecting' : 'connecting',
        transport: null,
        ...(clientId ? { clientId } : {}),
        attempt: this.failures,
        error: e,
        retryInMs: delay,
      });
      this.emitter.emit('error', e);
      await sleep(this.clock, delay, signal, this.wakers);
    }
  }

  /** Negotiates a session with the current (or pending) topics and the cursor. */
  private async negotiate(signal: AbortSignal): Promise<void> {
    const change = this.topicsChange;
    const topics = change ? change.topics : this.topicList;
    const cursor = this.tracker.cursor;
    const failed = this.book.list();
    let s: Session;
    try {
      s = await negotiate(
        this.api,
        {
          topics,
          ...(cursor ? { cursor } : {}),
          transports: [...this.usable],
          ...(failed.length ? { failed } : {}),
          ...(this.meta ? { meta: this.meta } : {}),
        },
        this.usable,
        signal,
      );
    } catch (err) {
      if (err instanceof AbortedError || signal.aborted) throw err;
      const e = toLifelineError(err);
      const refused = !e.retryable && !(e.status === 400 && e.code === 'bad_cursor') && e.code !== 'no_transport';
      if (change && this.topicsChange === change && refused) {
        // The new topics were refused: keep the old ones (and the old session, if any).
        this.topicsChange = null;
        for (const w of change.waiters) w.reject(e);
        this.emitter.emit('error', e);
        return;
      }
      throw e;
    }
    if (signal.aborted) {
      void endSession(this.api, s, END_SESSION_TIMEOUT_MS);
      return;
    }
    const old = this.session;
    this.session = s;
    this.paceUntil = 0; // a new session has its own send budget
    this.home = null;
    this.early = 0;
    if (old && old.token !== s.token) void endSession(this.api, old, END_SESSION_TIMEOUT_MS);
    if (change) {
      this.topicList = [...topics];
      if (this.topicsChange === change && change.topics === topics) {
        this.topicsChange = null;
        for (const w of change.waiters) w.resolve();
      } // else setTopics was called again meanwhile: the loop negotiates once more
    }
    const reset = this.pendingReset ?? (s.reset ? { reason: 'negotiate' as const, ...(cursor ? { previousCursor: cursor } : {}) } : null);
    this.pendingReset = null;
    this.tracker.adopt(s.cursor);
    this.everConnected = true;
    for (const w of [...this.sessionWaiters]) w.resolve(s);
    this.sessionWaiters.clear();
    if (reset) this.emitter.emit('reset', { ...reset, cursor: s.cursor });
  }

  /**
   * Opens the first transport that works, from `home` down (the server's
   * order right after negotiate), and serves it until it ends. A transport
   * that fails to open for a reason of its own passes to the next one; the
   * failures are kept (and reported at the next negotiate) only once a
   * worse transport opened, so that a server that is simply down does not
   * get WebSocket blamed. Resolves with how it ended, or null if aborted.
   */
  private async connect(s: Session, signal: AbortSignal): Promise<Ended | null> {
    const home = this.home;
    let list = home ? s.offers.filter((o) => o.name === home || rank(o.name) > rank(home)) : s.offers;
    if (!list.length) list = s.offers;
    const failed: Failure[] = [];
    this.roundFailed = failed;
    let last: Ended = AGAIN;
    for (const offer of list) {
      if (signal.aborted) return null;
      const r = await this.attempt(s, offer);
      if (r === 'open') return this.serve(); // the failures were recorded when it opened
      if (r.kind !== 'failed') return r;
      failed.push({ transport: offer.name, reason: r.reason ?? 'error' });
      if (r.error) this.emitter.emit('error', r.error);
      last = { ...r, kind: 'retry' };
    }
    return last;
  }

  /** Starts one transport as the active one and waits until it opens or ends. */
  private attempt(s: Session, offer: Offer): Promise<Outcome> {
    const t = this.create(offer, s);
    this.active = t;
    this.activeOpen = false;
    this.stash = null;
    const next = this.next();
    t.start();
    return next;
  }

  /** Waits until the active transport ends, following switches to a probe that opened. */
  private async serve(): Promise<Ended> {
    const startedAt = this.openedAt;
    for (;;) {
      const out = await this.next();
      if (out === 'open') continue;
      if (this.probing && out.kind !== 'again') {
        await this.probing; // e.g. the probe superseded the old transport
        if (this.active && this.activeOpen) continue; // switched
      }
      if (out.kind === 'failed' && this.home) {
        // It opened, then found itself unfit (an SSE stream behind a buffering proxy): the next one down, at once.
        this.fallDown(this.home, out.reason ?? 'error', out.error);
        return AGAIN;
      }
      if (out.kind === 'retry' && !out.immediate && out.error?.status !== 429 && this.home && this.home !== 'longpoll') {
        if (this.clock.now() - (this.openedAt || startedAt) < CLOSED_EARLY_MS) {
          if (++this.early >= EARLY_DROPS) {
            this.fallDown(this.home, 'closed_early', clientError('closed_early', `${this.home}: dropped within ${CLOSED_EARLY_MS} ms of opening ${EARLY_DROPS} times`));
          }
        } else {
          this.early = 0;
        }
      }
      return out;
    }
  }

  /** The home transport failed after opening (e.g. it keeps dropping right away): use the next one down. */
  private fallDown(t: ClientTransport, reason: FailureReason, e?: LifelineError): void {
    this.early = 0;
    this.book.record(t, reason);
    if (e) this.emitter.emit('error', e);
    const worse = this.session?.offers.find((o) => rank(o.name) > rank(t));
    if (worse) this.home = worse.name;
  }

  private next(): Promise<Outcome> {
    const stashed = this.stash;
    if (stashed) {
      this.stash = null;
      return Promise.resolve(stashed);
    }
    return new Promise<Outcome>((resolve) => (this.waiter = resolve));
  }

  private wake(o: Outcome): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) w(o);
    else if (!this.stash || this.stash === 'open') this.stash = o;
  }

  /** Ends the transports and makes the loop go round at once (setTopics, a lost session, close). */
  private interrupt(): void {
    this.stopTransports();
    this.wake(AGAIN);
  }

  /** Closes the transports, silently; the loop is not woken. */
  private stopTransports(): void {
    this.cancelFailback();
    const { active, probe } = this;
    this.active = this.probe = null;
    this.activeOpen = false;
    active?.close();
    probe?.close();
    const settle = this.probeSettle;
    this.probeSettle = null;
    settle?.({ kind: 'retry' });
  }

  // ---- transports ------------------------------------------------------------

  private create(offer: Offer, s: Session): Transport {
    let t: Transport | undefined;
    const ctx: TransportContext = {
      api: this.api,
      session: s,
      url: offer.url,
      cursor: () => this.tracker.cursor ?? s.cursor,
      handlers: {
        open: () => this.onOpen(t!),
        event: (ev) => this.onEvent(t!, ev),
        reset: (cursor) => this.onReset(t!, cursor),
        cursor: (cursor) => {
          if (t === this.active) this.tracker.adopt(cursor);
        },
        alive: () => {
          if (t !== this.active) return;
          this.failures = 0;
          this.renegotiated = false;
          const st = this.snapshot;
          if (this.held ? st.status !== 'rate-limited' || st.transport === null : st.status !== 'connected' || st.attempt !== 0 || st.error) this.setConnected();
        },
        close: (c) => this.onClose(t!, c),
      },
    };
    if (offer.name === 'websocket' && this.wsCtor) t = new WebSocketTransport(ctx, this.wsCtor);
    else if (offer.name === 'sse') t = new SseTransport(ctx);
    else t = new LongPollTransport(ctx);
    return t;
  }

  private onOpen(t: Transport): void {
    if (t === this.probe) {
      this.switchTo(t);
      const settle = this.probeSettle;
      this.probeSettle = null;
      settle?.('open');
      return;
    }
    if (t !== this.active) return;
    this.activeOpen = true;
    this.opened(t);
    this.wake('open');
  }

  /** Bookkeeping when `t` becomes the open, active transport. */
  private opened(t: Transport): void {
    for (const f of this.roundFailed.splice(0)) this.book.record(f.transport, f.reason);
    this.openedAt = this.clock.now();
    if (this.home !== t.name) this.early = 0;
    this.home = t.name;
    this.book.clear(t.name);
    if (t.name !== 'longpoll') {
      this.failures = 0;
      this.renegotiated = false;
    }
    this.setConnected();
    this.scheduleFailback();
  }

  /**
   * A probe opened: it becomes the active transport from the cursor of the
   * last event processed (it was opened from there), the old one is closed
   * and anything it still delivers is ignored. Events the old one delivered
   * meanwhile come again on the new one and are dropped as duplicates.
   */
  private switchTo(t: Transport): void {
    const old = this.active;
    this.probe = null;
    this.active = t;
    this.activeOpen = true;
    old?.close();
    this.opened(t);
  }

  private onEvent(t: Transport, ev: Envelope): void {
    if (t !== this.active || !this.running) return;
    if (this.tracker.isDuplicate(ev.id)) return;
    this.tracker.advance(ev.id);
    this.emitter.emit('event', ev as LifelineEvent<M>);
  }

  private onReset(t: Transport, cursor: string): void {
    if (t !== this.active || !this.running) return;
    const previousCursor = this.tracker.cursor;
    this.tracker.adopt(cursor);
    this.emitter.emit('reset', { reason: t.name === 'longpoll' ? 'poll' : 'stream', cursor, ...(previousCursor ? { previousCursor } : {}) });
  }

  private onClose(t: Transport, c: TransportClose): void {
    if (t === this.probe) {
      this.probe = null;
      const settle = this.probeSettle;
      this.probeSettle = null;
      settle?.(c);
      return;
    }
    if (t !== this.active) return;
    this.active = null;
    this.activeOpen = false;
    this.cancelFailback();
    this.wake(c);
  }

  // ---- failback ----------------------------------------------------------------

  /** The offered transports better than the active one, best first. */
  private better(): Offer[] {
    const cur = this.active?.name;
    if (!cur || !this.session) return [];
    return this.session.offers.filter((o) => rank(o.name) < rank(cur)).sort((a, b) => rank(a.name) - rank(b.name));
  }

  private scheduleFailback(): void {
    this.cancelFailback();
    if (!(this.failbackMs > 0) || !this.running || !this.activeOpen || this.probing || !this.better().length) return;
    const ms = Math.round(this.failbackMs * (0.8 + 0.4 * this.random()));
    this.failbackTimer = this.clock.setTimeout(() => {
      this.failbackTimer = undefined;
      const s = this.session;
      if (!s || !this.activeOpen || this.probing) return this.scheduleFailback();
      this.probing = this.failback(s).finally(() => {
        this.probing = null;
        this.scheduleFailback();
      });
    }, ms);
  }

  private cancelFailback(): void {
    if (this.failbackTimer !== undefined) this.clock.clearTimeout(this.failbackTimer);
    this.failbackTimer = undefined;
  }

  /**
   * Probes the better transports, best first, on the same session from the
   * current cursor. While a probe opens, the active transport starts no new
   * receiver (a long-poll finishes its request in flight and waits), so
   * that the two do not keep superseding each other. A probe that opens
   * takes over (switchTo); one that fails is remembered and the active
   * transport goes on.
   */
  private async failback(s: Session): Promise<void> {
    for (const offer of this.better()) {
      const old = this.active;
      if (!old || !this.activeOpen || this.session !== s || !this.running) return;
      old.pause?.();
      const t = this.create(offer, s);
      const r = await new Promise<'open' | TransportClose>((resolve) => {
        this.probe = t;
        this.probeSettle = resolve;
        t.start();
      });
      if (r === 'open') return;
      if (this.probe === t) this.probe = null;
      old.resume?.();
      if (r.kind !== 'failed') return; // trouble with the session: the active transport sees it too
      this.book.record(offer.name, r.reason ?? 'error');
      if (r.error) this.emitter.emit('error', r.error);
      if (this.active === old && this.activeOpen) this.setConnected();
    }
  }

  // ---- requests that need a session ---------------------------------------

  /** One attempt at a send: in-band on an open WebSocket (if the frame fits), else over HTTP. */
  private sendOnce(s: Session, msg: SendRequest, signal: AbortSignal): Promise<Ack> {
    const t = this.active;
    if (t?.send && this.activeOpen && this.session === s && bytes(JSON.stringify(msg)) + 16 <= s.maxMessageBytes) return t.send(msg);
    return sendMessage(this.api, s, msg, signal);
  }

  /** Resolves with the live session, waiting for negotiate if there is none. */
  private waitSession(signal: AbortSignal): Promise<Session> {
    if (signal.aborted || this.closed) return Promise.reject(closedError());
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.session) return Promise.resolve(this.session);
    return new Promise<Session>((resolve, reject) => {
      this.sessionWaiters.add({ resolve, reject });
    });
  }

  /**
   * Runs fn with the session until it succeeds: 401 negotiates again (once
   * in a row), network errors, 5xx and 429 back off; other errors reject.
   */
  private async withSession<T>(fn: (s: Session) => Promise<T>, signal: AbortSignal): Promise<T> {
    let failures = 0;
    let renegotiated = false;
    for (;;) {
      const s = await this.waitSession(signal);
      try {
        return await fn(s);
      } catch (err) {
        if (signal.aborted || err instanceof AbortedError) throw closedError();
        const e = toLifelineError(err);
        if (e.status === 401) {
          this.invalidate(s);
          if (renegotiated) throw e;
          renegotiated = true;
          continue;
        }
        if (!e.retryable) throw e;
        this.emitter.emit('error', e);
        const ms = backoffDelay(failures++, this.backoff, this.random, e.retryAfterMs);
        if (e.status === 429) await this.hold(ms, failures, e, signal);
        else await sleep(this.clock, ms, signal, this.wakers);
      }
    }
  }

  /** Waits ms for the server's rate limit, showing `rate-limited` meanwhile if connected. */
  private async hold(ms: number, attempt: number, error: LifelineError, signal: AbortSignal): Promise<void> {
    const h = { until: this.clock.now() + ms, attempt, error };
    this.held = h;
    this.setConnected();
    await sleep(this.clock, ms, signal, this.wakers);
    if (this.held !== h) return; // another wait took over
    this.held = null;
    if (this.running) this.setConnected();
  }

  /** Before a send: wait while the last send response said the limit is spent. */
  private pace(signal: AbortSignal): Promise<void> | undefined {
    const ms = this.paceUntil - this.clock.now();
    this.paceUntil = 0; // once waited out, until a response says so again
    if (ms <= 0) return;
    const error = new LifelineError({ status: 429, code: 'rate_limited', detail: `the send limit is spent: waiting ${ms} ms (RateLimit r=0)`, retryAfterMs: ms });
    return this.hold(ms, 0, error, signal);
  }

  /** Reads the rate-limit fields of a response: `limits`, and pacing after a send. */
  private observeLimits(url: string, headers: Headers): void {
    const now = this.clock.now();
    const infos = limitsOf(headers, now);
    if (!infos.length) return;
    const map = { ...this.limitMap };
    for (const i of infos) map[i.policy] = Object.freeze(i);
    this.limitMap = Object.freeze(map);
    if (url === this.session?.sendUrl) {
      const ms = exhaustedForMs(infos);
      this.paceUntil = ms ? Math.max(this.paceUntil, now + ms) : 0;
    }
    for (const i of infos) this.emitter.emit('limits', this.limitMap[i.policy]!);
  }

  /** The server no longer knows this session: make the loop negotiate again. */
  private invalidate(s: Session): void {
    if (this.session !== s) return;
    this.session = null;
    this.interrupt();
  }

  private rejectWaiters(err: LifelineError): void {
    for (const w of [...this.sessionWaiters]) w.reject(err);
    this.sessionWaiters.clear();
    const change = this.topicsChange;
    this.topicsChange = null;
    if (change) for (const w of change.waiters) w.reject(err);
  }

  /** Stops the loop on an error retrying cannot fix. */
  private fail(e: LifelineError): void {
    this.running = false;
    this.fatal = e;
    const session = this.session;
    this.session = null;
    this.stopTransports();
    if (session) void endSession(this.api, session, END_SESSION_TIMEOUT_MS);
    this.rejectWaiters(e);
    for (const wake of [...this.wakers]) wake();
    this.stopListeningOnline();
    this.setState({ status: 'disconnected', transport: null, attempt: 0, error: e });
    this.emitter.emit('error', e);
  }

  // ---- state ---------------------------------------------------------------

  /** The better transports not in use, and why (`state.skipped`). */
  private skipped(cur: ClientTransport): SkippedTransport[] {
    const offers = this.session?.offers ?? [];
    return this.usable
      .filter((t) => rank(t) < rank(cur))
      .map((transport) => ({
        transport,
        reason: this.book.reason(transport) ?? (offers.some((o) => o.name === transport) ? 'deprioritized' : 'not_offered'),
      }));
  }

  private setConnected(): void {
    const s = this.session;
    const t = this.active;
    if (!s || !t || !this.activeOpen) return;
    const skipped = this.skipped(t.name);
    const base = { transport: t.name, clientId: s.clientId, ...(skipped.length ? { skipped } : {}) };
    const h = this.held;
    const wait = h ? h.until - this.clock.now() : 0;
    if (h && wait > 0) this.setState({ status: 'rate-limited', ...base, attempt: h.attempt, error: h.error, retryInMs: wait });
    else this.setState({ status: 'connected', ...base, attempt: 0 });
  }

  private setState(next: ConnectionState): void {
    this.snapshot = Object.freeze(next);
    this.emitter.emit('state', this.snapshot);
  }

  /** In browsers, cut the backoff short when the network comes back. */
  private listenOnline(): void {
    const w = (globalThis as { window?: Window }).window;
    if (this.unlistenOnline || !w || typeof w.addEventListener !== 'function') return;
    const onOnline = (): void => {
      for (const wake of [...this.wakers]) wake();
    };
    w.addEventListener('online', onOnline);
    this.unlistenOnline = () => w.removeEventListener('online', onOnline);
  }

  private stopListeningOnline(): void {
    this.unlistenOnline?.();
    this.unlistenOnline = null;
  }
}
