import { contextFrom, type ClientContext } from './context.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import { closedError } from './errors.js';
import { MID_PATTERN, newMid } from './mid.js';
import type { Ack, HistoryResponse, PresenceResponse, SendRequest } from './protocol.js';
import type { RateLimitInfo } from './ratelimit.js';
import { supervise, type Supervisor } from './supervisor.js';
import type { ClientEvents, ConnectionState, DefaultEvents, EventMap, LifelineOptions, SendOptions } from './types.js';

const DEFAULT_MAX_QUEUE = 100;

/**
 * Throws when `url` cannot be reached: every request would fail the same
 * way and the client would retry forever, so an unusable URL is a
 * configuration error, told at once. A relative URL is resolved against the
 * page; outside a browser (Node) there is none, so it must be absolute.
 */
function checkBaseUrl(url: string): void {
  const page = (globalThis as { location?: { href?: unknown } }).location?.href;
  const base = typeof page === 'string' ? page : undefined;
  let u: URL;
  try {
    u = new URL(url, base);
  } catch {
    throw new TypeError(
      base === undefined
        ? `LifelineClient: options.url ${JSON.stringify(url)} is not an absolute URL, and there is no page to resolve it against: outside a browser pass one such as "http://127.0.0.1:8080/rt"`
        : `LifelineClient: options.url ${JSON.stringify(url)} is not a URL: pass the path Lifeline is mounted at, e.g. "/rt", or an absolute URL`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TypeError(`LifelineClient: options.url ${JSON.stringify(url)} must be http: or https: (e.g. "https://example.com/rt"); WebSocket URLs are derived from it`);
  }
}

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
  readonly #emitter = new Emitter<ClientEvents<M>>();
  /** What the parts share: the cursor is read from its tracker. */
  readonly #ctx: ClientContext;
  /** Everything else: the connection, the session, the send path (supervisor.ts). */
  readonly #sup: Supervisor;

  constructor(options: LifelineOptions) {
    if (!options || typeof options.url !== 'string' || options.url === '') {
      throw new TypeError('LifelineClient: options.url is required (e.g. "/rt")');
    }
    checkBaseUrl(options.url);
    const ctx = (this.#ctx = contextFrom(options, this.#emitter as Emitter<ClientEvents>, (url, headers) => sup.sender.observe(url, headers)));
    const sup = (this.#sup = supervise(ctx, options.topics ?? [], options.maxQueue ?? DEFAULT_MAX_QUEUE));
    if (options.autoStart !== false) {
      queueMicrotask(() => {
        if (sup.phase === 'idle') sup.start();
      });
    }
  }

  /** The current connection state (a new frozen object on every change). */
  get state(): ConnectionState {
    return this.#sup.status.state;
  }

  /**
   * The cursor after the last event delivered (or where the session
   * started). Store it to resume later with the `cursor` option.
   */
  get cursor(): string | undefined {
    return this.#ctx.tracker.cursor;
  }

  /** The session's public id; undefined while there is no session. */
  get clientId(): string | undefined {
    return this.#sup.keeper.current?.clientId;
  }

  /** The topics followed (or about to be, while a `setTopics` is pending). */
  get topics(): readonly string[] {
    return this.#sup.keeper.topics;
  }

  /**
   * The last rate-limit information the server sent (RateLimit and
   * RateLimit-Policy fields), by policy name, e.g. `limits.sends?.remaining`.
   */
  get limits(): Readonly<Record<string, RateLimitInfo>> {
    return this.#sup.sender.limits;
  }

  /** Subscribes to `event`, `state`, `reset`, `error` or `limits`. Returns the unsubscribe function. */
  on<K extends keyof ClientEvents<M>>(name: K, listener: Listener<ClientEvents<M>[K]>): Unsubscribe {
    return this.#emitter.on(name, listener);
  }

  /**
   * Connects (negotiate, then the best transport that works). Idempotent
   * while running. After `close()` or a fatal error it starts again,
   * keeping the cursor.
   */
  start(): void {
    this.#sup.start();
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
   * The published event carries the same `mid` (`ev.mid`), so a message
   * shown before it is acknowledged can be matched; `Outbox` does that.
   * With `options.mid` a failed send is tried again under its id.
   *
   * @returns the acknowledgement `{ mid, id? }` (`id` is the published
   *   event's id; absent if the application published nothing).
   * @throws LifelineError: the server's refusal (e.g. 403 `forbidden_topic`,
   *   422 `rejected`, 413 `too_large`), `queue_full`, `closed`, or after
   *   `options.timeoutMs` the last failure (or `timeout`).
   */
  send<K extends keyof M & string>(topic: string, type: K, data: M[K], options?: SendOptions): Promise<Ack> {
    if (this.#sup.closed) return Promise.reject(closedError());
    let mid: string;
    try {
      mid = options?.mid ?? newMid();
    } catch (err) {
      return Promise.reject(err);
    }
    if (!MID_PATTERN.test(mid)) return Promise.reject(new TypeError(`send: mid ${JSON.stringify(mid)} is not 8–64 of A–Z a–z 0–9 _ -`));
    const msg: SendRequest = { topic, type, data, mid };
    if (options?.ttlMs !== undefined) msg.ttlMs = options.ttlMs;
    return this.#sup.sender.send(msg, options?.timeoutMs);
  }

  /**
   * Follows a new set of topics: negotiates a new session from the current
   * cursor (nothing is lost or repeated; the clientId changes). Resolves
   * once the server accepted them; rejects (keeping the old topics) if it
   * refused them. Before `start()` it only records them.
   */
  setTopics(topics: readonly string[]): Promise<void> {
    if (this.#sup.closed) return Promise.reject(closedError());
    return this.#sup.setTopics(topics);
  }

  /** Lists the clients present in a followed topic (GET {base}/presence). */
  presence(topic: string): Promise<PresenceResponse> {
    if (this.#sup.closed) return Promise.reject(closedError());
    return this.#sup.sender.presence(topic);
  }

  /**
   * A topic's newest events, oldest first (GET {base}/history), and the
   * cursor they end at; `complete` is false when older ones may have been
   * lost. The topic need not be followed; the server authorizes it.
   */
  history(topic: string, opts: { limit?: number } = {}): Promise<HistoryResponse> {
    if (this.#sup.closed) return Promise.reject(closedError());
    return this.#sup.sender.history(topic, opts.limit);
  }

  /**
   * Stops everything: closes the transport, aborts in-flight requests and
   * timers, rejects pending sends, presence calls and setTopics with
   * `closed`, sets the state to `disconnected`, and ends the session
   * (DELETE {base}/session, best effort, at most 2 s). Idempotent.
   * `start()` may be called again later.
   */
  close(): Promise<void> {
    return this.#sup.close();
  }
}
