/**
 * The session: negotiating it (and again when it is lost, the cursor is
 * bad or the topics change), the callers waiting for one, and the topics
 * change in flight. The supervisor decides when to negotiate; this decides
 * what is asked and what the answer changes.
 */
import { endSession, negotiate, type Session } from './api.js';
import type { ClientContext } from './context.js';
import { toLifelineError, type LifelineError } from './errors.js';
import { AbortedError } from './http.js';
import { refusesTopics } from './policy.js';
import type { ResetReason } from './types.js';

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

interface TopicsChange {
  topics: string[];
  waiters: Waiter<void>[];
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

export class SessionKeeper {
  readonly #ctx: ClientContext;
  #session: Session | null = null;
  #topics: string[];
  #change: TopicsChange | null = null;
  #pendingReset: { reason: ResetReason; previousCursor?: string } | null = null;
  readonly #waiters = new Set<Waiter<Session>>();
  /** A session was negotiated once: later trouble is `reconnecting`, not `connecting`. */
  everConnected = false;

  constructor(ctx: ClientContext, topics: readonly string[]) {
    this.#ctx = ctx;
    this.#topics = [...topics];
  }

  get current(): Session | null {
    return this.#session;
  }

  /** The topics followed, or about to be while a change is pending. */
  get topics(): readonly string[] {
    return [...(this.#change?.topics ?? this.#topics)];
  }

  /** There is no session, or the topics are to change: the supervisor negotiates before anything else. */
  get stale(): boolean {
    return !this.#session || this.#change !== null;
  }

  /**
   * Asks for new topics. Not running: only records them. Running: resolves
   * once a negotiate accepted them (calling `renegotiate` to make the
   * supervisor go at once), rejects if the server refused them.
   */
  setTopics(topics: readonly string[], running: boolean, renegotiate: () => void): Promise<void> {
    const next = [...topics];
    if (!running) {
      this.#topics = next;
      return Promise.resolve();
    }
    if (!this.#change && sameList(next, this.#topics)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (this.#change) {
        this.#change.topics = next;
        this.#change.waiters.push({ resolve, reject });
      } else {
        this.#change = { topics: next, waiters: [{ resolve, reject }] };
      }
      renegotiate();
    });
  }

  /**
   * Negotiates a session with the current (or pending) topics and the
   * cursor. `adopted` runs once the new session is current, before anyone
   * waiting for it hears. Refused new topics reject their callers and keep
   * the old ones (and the old session, if any); other errors throw.
   */
  async negotiate(signal: AbortSignal, adopted: (s: Session) => void): Promise<void> {
    const { api, tracker, book, usable, meta, emitter } = this.#ctx;
    const change = this.#change;
    const topics = change ? change.topics : this.#topics;
    const cursor = tracker.cursor;
    const failed = book.list();
    const worked = book.workedList();
    let s: Session;
    try {
      s = await negotiate(
        api,
        {
          topics,
          ...(cursor ? { cursor } : {}),
          transports: [...usable],
          ...(failed.length ? { failed } : {}),
          ...(worked.length ? { worked } : {}),
          device: book.device,
          ...(meta ? { meta } : {}),
        },
        usable,
        signal,
        book.headerless,
      );
    } catch (err) {
      if (err instanceof AbortedError || signal.aborted) throw err;
      const e = toLifelineError(err);
      if (change && this.#change === change && refusesTopics(e)) {
        this.#change = null;
        for (const w of change.waiters) w.reject(e);
        emitter.emit('error', e);
        return;
      }
      throw e;
    }
    if (signal.aborted) {
      void endSession(api, s);
      return;
    }
    const old = this.#session;
    this.#session = s;
    adopted(s);
    if (old && old.token !== s.token) void endSession(api, old);
    if (change) {
      this.#topics = [...topics];
      if (this.#change === change && change.topics === topics) {
        this.#change = null;
        for (const w of change.waiters) w.resolve();
      } // else setTopics was called again meanwhile: the supervisor negotiates once more
    }
    const reset = this.#pendingReset ?? (s.reset ? { reason: 'negotiate' as const, ...(cursor ? { previousCursor: cursor } : {}) } : null);
    this.#pendingReset = null;
    tracker.adopt(s.cursor);
    this.everConnected = true;
    for (const w of [...this.#waiters]) w.resolve(s);
    this.#waiters.clear();
    if (reset) emitter.emit('reset', { ...reset, cursor: s.cursor });
  }

  /** Resolves with the live session, waiting for a negotiate if there is none. */
  wait(): Promise<Session> {
    const s = this.#session;
    if (s) return Promise.resolve(s);
    return new Promise<Session>((resolve, reject) => {
      this.#waiters.add({ resolve, reject });
    });
  }

  /** Forgets the session (the server no longer knows it, or the client stops); returns it. */
  drop(): Session | null {
    const s = this.#session;
    this.#session = null;
    return s;
  }

  /** Forgets the session and ends it on the server (best effort, bounded: see endSession), so that others see the `leave` at once. */
  end(): Promise<void> {
    const s = this.drop();
    return s ? endSession(this.#ctx.api, s) : Promise.resolve();
  }

  /** Our cursor is garbage (e.g. a corrupted stored one): start over from now at the next negotiate, and say so. */
  restartFromNow(): void {
    const previousCursor = this.#ctx.tracker.cursor;
    this.#ctx.tracker.clear();
    this.#pendingReset = previousCursor ? { reason: 'bad_cursor', previousCursor } : { reason: 'bad_cursor' };
    this.#session = null;
  }

  /** Rejects everyone waiting for a session or a topics change. */
  rejectAll(err: LifelineError): void {
    for (const w of [...this.#waiters]) w.reject(err);
    this.#waiters.clear();
    const change = this.#change;
    this.#change = null;
    if (change) for (const w of change.waiters) w.reject(err);
  }
}
