import { endSession, getPresence, negotiate, sendMessage, type ApiContext, type Session } from './api.js';
import { backoffDelay, backoffOptions, type BackoffOptions } from './backoff.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { CursorTracker } from './cursor.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import { LifelineError, clientError, toLifelineError } from './errors.js';
import { AbortedError, type FetchLike } from './http.js';
import { poll } from './longpoll.js';
import { newMid } from './mid.js';
import type { Ack, ClientTransport, PollResponse, PresenceResponse, SendRequest, TransportName } from './protocol.js';
import { SerialQueue } from './queue.js';
import type {
  ClientEvents,
  ConnectionState,
  DefaultEvents,
  EventMap,
  LifelineEvent,
  LifelineOptions,
  ResetReason,
  SendOptions,
} from './types.js';

const DEFAULT_MAX_QUEUE = 100;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** How long close() waits for DELETE {base}/session. */
const END_SESSION_TIMEOUT_MS = 2_000;
const SUPPORTED: readonly ClientTransport[] = ['longpoll'];

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

interface TopicsChange {
  topics: string[];
  waiters: Waiter<void>[];
}

function closedError(): LifelineError {
  return clientError('closed', 'the client was closed');
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * A Lifeline client: negotiates a session, long-polls the followed topics
 * from its cursor, reconnects with full-jitter backoff and resumes without
 * loss or repetition, and sends messages idempotently.
 *
 * @typeParam M maps each event `type` to the type of its `data`.
 */
export class LifelineClient<M extends EventMap = DefaultEvents> {
  private readonly emitter = new Emitter<ClientEvents<M>>();
  private readonly api: ApiContext;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private readonly clock: Clock;
  private readonly transports: readonly TransportName[];
  private readonly usable: readonly ClientTransport[];
  private readonly meta: Record<string, unknown> | undefined;
  private readonly queue: SerialQueue<Ack>;
  private readonly tracker: CursorTracker;
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
  private pollCtl: AbortController | null = null;
  private readonly sessionWaiters = new Set<Waiter<Session>>();
  private topicsChange: TopicsChange | null = null;
  private pendingReset: { reason: ResetReason; previousCursor?: string } | null = null;
  private unlistenOnline: (() => void) | null = null;

  constructor(options: LifelineOptions) {
    if (!options || typeof options.url !== 'string' || options.url === '') {
      throw new TypeError('LifelineClient: options.url is required (e.g. "/rt")');
    }
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.backoff = backoffOptions(options.backoff);
    this.queue = new SerialQueue<Ack>(options.maxQueue ?? DEFAULT_MAX_QUEUE);
    this.tracker = new CursorTracker(options.cursor);
    this.topicList = [...(options.topics ?? [])];
    this.meta = options.meta;
    this.transports = [...(options.transports ?? SUPPORTED)];
    this.usable = SUPPORTED.filter((t) => this.transports.includes(t));
    const fetchFn: FetchLike = (options.fetch as FetchLike | undefined) ?? ((input, init) => globalThis.fetch(input, init));
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

  /** Subscribes to `event`, `state`, `reset` or `error`. Returns the unsubscribe function. */
  on<K extends keyof ClientEvents<M>>(name: K, listener: Listener<ClientEvents<M>[K]>): Unsubscribe {
    return this.emitter.on(name, listener);
  }

  /**
   * Connects (negotiate, then long-poll). Idempotent while running. After
   * `close()` or a fatal error it starts again, keeping the cursor.
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
   * Sends a message to a topic (PROTOCOL.md §6). Messages go out one at a
   * time in call order; while offline or connecting they wait in a queue
   * of at most `maxQueue`. Retried with the same `mid` on network errors,
   * 5xx, 429 and 401 (after negotiating again) until acknowledged.
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
    return this.queue.push(() => this.withSession((s) => sendMessage(this.api, s, msg, signal), signal));
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
      this.pollCtl?.abort(); // the loop negotiates at once
    });
  }

  /** Lists the clients present in a followed topic (GET {base}/presence). */
  presence(topic: string): Promise<PresenceResponse> {
    if (this.closed) return Promise.reject(closedError());
    const signal = this.life.signal;
    return this.withSession((s) => getPresence(this.api, s, topic, signal), signal);
  }

  /**
   * Stops everything: aborts in-flight requests and timers, rejects pending
   * sends, presence calls and setTopics with `closed`, sets the state to
   * `disconnected`, and ends the session (DELETE {base}/session, best
   * effort, at most 2 s). Idempotent. `start()` may be called again later.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const err = closedError();
    const session = this.session;
    this.closed = true;
    this.running = false;
    this.session = null;
    this.life.abort();
    this.pollCtl?.abort();
    this.pollCtl = null;
    this.queue.rejectAll(err);
    this.rejectWaiters(err);
    this.stopListeningOnline();
    this.setState({ status: 'disconnected', transport: null, attempt: 0 });
    this.closing = session ? endSession(this.api, session, END_SESSION_TIMEOUT_MS) : Promise.resolve();
    return this.closing;
  }

  // ---- the connection loop -------------------------------------------------

  private async loop(signal: AbortSignal): Promise<void> {
    let failures = 0; // consecutive failures: the backoff attempt
    let renegotiated = false; // a 401 was answered by negotiating; no poll succeeded since
    while (!signal.aborted) {
      let phase: 'negotiate' | 'poll' = 'negotiate';
      let ctl: AbortController | null = null;
      try {
        if (!this.session || this.topicsChange) {
          await this.negotiate(signal);
          if (signal.aborted) return;
          if (!this.session) continue; // a topics change was refused; go on with the old topics
        }
        phase = 'poll';
        const session = this.session;
        ctl = new AbortController();
        this.pollCtl = ctl;
        const res = await poll(this.api, session, this.tracker.cursor ?? session.cursor, ctl.signal);
        if (signal.aborted) return;
        if (res.superseded) continue;
        this.deliver(res, signal);
        if (signal.aborted) return;
        failures = 0;
        renegotiated = false;
        const st = this.snapshot;
        if (st.status !== 'connected' || st.attempt !== 0 || st.error) this.setConnected(session);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof AbortedError) continue; // the poll was cut on purpose (setTopics, a 401 seen by send)
        const e = toLifelineError(err);
        if (e.status === 400 && e.code === 'bad_cursor') {
          // Our cursor is garbage (e.g. a corrupted stored one): start over from now, and say so.
          const previousCursor = this.tracker.cursor;
          this.tracker.clear();
          this.pendingReset = previousCursor ? { reason: 'bad_cursor', previousCursor } : { reason: 'bad_cursor' };
          this.dropSession();
          this.emitter.emit('error', e);
          continue;
        }
        if (phase === 'poll' && e.status === 401) {
          this.dropSession(); // unknown_token: negotiate again with the last cursor
          if (!renegotiated) {
            renegotiated = true;
            continue;
          }
        } else if (!e.retryable) {
          this.fail(e);
          return;
        }
        const delay = backoffDelay(failures, this.backoff, this.random, e.retryAfterMs);
        failures++;
        const clientId = this.session?.clientId;
        this.setState({
          status: this.everConnected ? 'reconnecting' : 'connecting',
          transport: null,
          ...(clientId ? { clientId } : {}),
          attempt: failures,
          error: e,
          retryInMs: delay,
        });
        this.emitter.emit('error', e);
        await sleep(this.clock, delay, signal, this.wakers);
      } finally {
        if (ctl && this.pollCtl === ctl) this.pollCtl = null;
      }
    }
  }

  /** Negotiates a session with the current (or pending) topics and the cursor. */
  private async negotiate(signal: AbortSignal): Promise<void> {
    const change = this.topicsChange;
    const topics = change ? change.topics : this.topicList;
    const cursor = this.tracker.cursor;
    let s: Session;
    try {
      s = await negotiate(
        this.api,
        {
          topics,
          ...(cursor ? { cursor } : {}),
          transports: [...this.transports],
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
    this.setConnected(s);
    for (const w of [...this.sessionWaiters]) w.resolve(s);
    this.sessionWaiters.clear();
    if (reset) this.emitter.emit('reset', { ...reset, cursor: s.cursor });
  }

  /** Hands a poll's events to the application, dropping any already processed. */
  private deliver(res: PollResponse, signal: AbortSignal): void {
    if (res.reset) {
      const previousCursor = this.tracker.cursor;
      this.tracker.adopt(res.cursor);
      this.emitter.emit('reset', { reason: 'poll', cursor: res.cursor, ...(previousCursor ? { previousCursor } : {}) });
    }
    for (const ev of res.events ?? []) {
      if (signal.aborted) return; // closed by a listener: the rest is fetched again from the cursor on restart
      if (this.tracker.isDuplicate(ev.id)) continue;
      this.tracker.advance(ev.id);
      this.emitter.emit('event', ev as LifelineEvent<M>);
    }
    if (!signal.aborted) this.tracker.adopt(res.cursor);
  }

  /** Stops the loop on an error retrying cannot fix. */
  private fail(e: LifelineError): void {
    this.running = false;
    this.fatal = e;
    const session = this.session;
    this.session = null;
    if (session) void endSession(this.api, session, END_SESSION_TIMEOUT_MS);
    this.rejectWaiters(e);
    for (const wake of [...this.wakers]) wake();
    this.stopListeningOnline();
    this.setState({ status: 'disconnected', transport: null, attempt: 0, error: e });
    this.emitter.emit('error', e);
  }

  // ---- requests that need a session ---------------------------------------

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
        await sleep(this.clock, backoffDelay(failures++, this.backoff, this.random, e.retryAfterMs), signal, this.wakers);
      }
    }
  }

  /** The server no longer knows this session: make the loop negotiate again. */
  private invalidate(s: Session): void {
    if (this.session !== s) return;
    this.session = null;
    this.pollCtl?.abort();
  }

  private dropSession(): void {
    this.session = null;
  }

  private rejectWaiters(err: LifelineError): void {
    for (const w of [...this.sessionWaiters]) w.reject(err);
    this.sessionWaiters.clear();
    const change = this.topicsChange;
    this.topicsChange = null;
    if (change) for (const w of change.waiters) w.reject(err);
  }

  // ---- state ---------------------------------------------------------------

  private setConnected(s: Session): void {
    this.setState({ status: 'connected', transport: s.transport, clientId: s.clientId, attempt: 0 });
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
