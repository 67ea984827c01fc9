/**
 * The connection supervisor: runs the state machine of machine.ts. One loop
 * per start() negotiates, opens a transport from the home one down, serves
 * it until it ends, and decides (policy.ts) whether to go on at once,
 * negotiate again, wait, or stop; every move goes through `Machine.fire`.
 * It owns the session keeper, the link, failback, the send path and the
 * status, and is what the facade (client.ts) talks to.
 */
import { endSession, type Session } from './api.js';
import { backoffDelay } from './backoff.js';
import { sleep } from './clock.js';
import { END_SESSION_TIMEOUT_MS, type ClientContext } from './context.js';
import { clientError, closedError, type LifelineError } from './errors.js';
import { Failback, type FailbackHost } from './failback.js';
import type { Failure } from './failures.js';
import { AbortedError } from './http.js';
import { Link, type LinkHooks } from './link.js';
import { Machine, type Phase, type PhaseEvent } from './machine.js';
import { AGAIN, EARLY_DROPS, CLOSED_EARLY_MS, candidates, closeForThrown, dropKind, meaning, worseThan, type Ended, type Trouble } from './policy.js';
import type { Ack, ClientTransport, PresenceResponse, SendRequest } from './protocol.js';
import type { RateLimitInfo } from './ratelimit.js';
import { SendPath, type SendHost } from './sender.js';
import { SessionKeeper } from './session.js';
import { StatusBoard, onOnline } from './status.js';
import type { FailureReason, Transport } from './transport.js';
import type { ConnectionState } from './types.js';

/** No trouble: the counters after the connection worked. */
const CALM: Trouble = { failures: 0, renegotiated: false };

export class Supervisor implements LinkHooks, FailbackHost, SendHost {
  readonly #ctx: ClientContext;
  readonly #machine = new Machine();
  readonly #status: StatusBoard;
  readonly #keeper: SessionKeeper;
  readonly #sender: SendPath;
  readonly #link: Link;
  readonly #failback: Failback;
  /** Aborted by close(); a new one on start() after close(). */
  #life = new AbortController();
  running = false;
  closed = false;
  #closing: Promise<void> | null = null;
  #fatal: LifelineError | null = null;
  #trouble: Trouble = CALM;
  /** The transport the loop reconnects to first; null: the server's order. */
  #home: ClientTransport | null = null;
  /** Early drops of `home` in a row. */
  #early = 0;
  #openedAt = 0;
  /** The transports that failed to open in the current round: kept once a worse one opens. */
  #roundFailed: Failure[] = [];
  #unlistenOnline: (() => void) | null = null;

  constructor(ctx: ClientContext, topics: readonly string[], maxQueue: number) {
    this.#ctx = ctx;
    this.#status = new StatusBoard(ctx);
    this.#keeper = new SessionKeeper(ctx, topics);
    this.#sender = new SendPath(ctx, this, maxQueue);
    this.#link = new Link(ctx, this);
    this.#failback = new Failback(ctx, this.#link, this.#machine, this);
  }

  // ---- for the facade ----------------------------------------------------------

  get phase(): Phase {
    return this.#machine.phase;
  }

  get state(): ConnectionState {
    return this.#status.state;
  }

  get topics(): readonly string[] {
    return this.#keeper.topics;
  }

  get limits(): Readonly<Record<string, RateLimitInfo>> {
    return this.#sender.limits;
  }

  /** Reads the rate-limit fields of any response. */
  observe(url: string, headers: Headers): void {
    this.#sender.observe(url, headers);
  }

  send(msg: SendRequest): Promise<Ack> {
    return this.#sender.send(msg, this.#life.signal);
  }

  presence(topic: string): Promise<PresenceResponse> {
    return this.#sender.presence(topic, this.#life.signal);
  }

  setTopics(topics: readonly string[]): Promise<void> {
    return this.#keeper.setTopics(topics, this.running, () => this.interrupt());
  }

  /** The cursor after the last event delivered (or where the session started). */
  get cursor(): string | undefined {
    return this.#ctx.tracker.cursor;
  }

  get session(): Session | null {
    return this.#keeper.current;
  }

  get openTransport(): Transport | null {
    return this.#link.openTransport;
  }

  start(): void {
    if (this.running) return;
    if (this.closed) {
      this.closed = false;
      this.#closing = null;
      this.#life = new AbortController();
    }
    this.#fatal = null;
    this.running = true;
    this.#unlistenOnline ??= onOnline(() => this.#wakeAll());
    this.#machine.fire('start');
    this.#status.set({ status: this.#keeper.everConnected ? 'reconnecting' : 'connecting', transport: null, attempt: 0 });
    void this.#run(this.#life.signal);
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const err = closedError();
    const session = this.#keeper.drop();
    this.closed = true;
    this.running = false;
    this.#life.abort();
    this.interrupt();
    this.#sender.rejectAll(err);
    this.#keeper.rejectAll(err);
    this.#unlistenOnline?.();
    this.#unlistenOnline = null;
    this.#machine.fire('close');
    this.#status.set({ status: 'disconnected', transport: null, attempt: 0 });
    this.#closing = session ? endSession(this.#ctx.api, session, END_SESSION_TIMEOUT_MS) : Promise.resolve();
    return this.#closing;
  }

  /** Ends the transports and makes the loop go round at once (setTopics, a lost session, close). */
  interrupt(): void {
    this.#failback.cancel();
    this.#link.interrupt();
  }

  waitSession(signal: AbortSignal): Promise<Session> {
    if (signal.aborted || this.closed) return Promise.reject(closedError());
    if (this.#fatal) return Promise.reject(this.#fatal);
    return this.#keeper.wait();
  }

  invalidate(s: Session): void {
    if (this.#keeper.current !== s) return;
    this.#keeper.drop();
    this.interrupt();
  }

  showConnected(): void {
    const s = this.#keeper.current;
    const t = this.#link.openTransport;
    if (s && t) this.#status.connected(s, t.name, this.#sender.held);
  }

  // ---- the loop --------------------------------------------------------------

  async #run(signal: AbortSignal): Promise<void> {
    const machine = this.#machine;
    const keeper = this.#keeper;
    this.#trouble = CALM;
    while (!signal.aborted) {
      let out: Ended | null;
      try {
        if (machine.phase === 'negotiating') {
          await keeper.negotiate(signal, () => this.#adopted());
          if (signal.aborted) return;
          machine.fire(this.#onward());
          continue;
        }
        out = await this.#connect(keeper.current!, signal);
        if (!out || signal.aborted) return;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof AbortedError) {
          machine.fire(this.#onward());
          continue;
        }
        out = closeForThrown(err);
      }
      if (out.kind === 'unknown_token') keeper.drop(); // negotiate again with the last cursor
      const { action, trouble } = meaning(out, this.#trouble);
      this.#trouble = trouble;
      if (action === 'fatal') return this.#fail(out.error ?? clientError('error', 'failed'));
      if (action === 'restart') {
        keeper.restartFromNow();
        if (out.error) this.#ctx.emitter.emit('error', out.error);
      }
      if (action !== 'backoff') {
        machine.fire(this.#onward());
        continue;
      }
      await this.#backoff(out, signal);
      if (signal.aborted) return;
      machine.fire(this.#onward());
    }
  }

  /** Where to go on from here without waiting: negotiate if the session is stale, else open a transport. */
  #onward(): PhaseEvent {
    if (this.#keeper.stale) return 'renegotiate';
    return this.#machine.phase === 'negotiating' ? 'session_ready' : 'reconnect';
  }

  /** Shows the failure and waits: full-jitter backoff, at least what the server advised. */
  async #backoff(out: Ended, signal: AbortSignal): Promise<void> {
    const { backoff, random, clock, wakers, emitter } = this.#ctx;
    const e = out.error ?? clientError('network', `the ${this.#home ?? 'transport'} connection ended`);
    const failures = this.#trouble.failures;
    const delay = backoffDelay(failures, backoff, random, out.retryAfterMs);
    this.#trouble = { ...this.#trouble, failures: failures + 1 };
    this.#machine.fire('backoff');
    this.#status.waiting(e, failures + 1, delay, this.#keeper.current?.clientId, this.#keeper.everConnected);
    emitter.emit('error', e);
    await sleep(clock, delay, signal, wakers);
  }

  /**
   * Opens the first transport that works, from `home` down (the server's
   * order right after negotiate), and serves it until it ends. A transport
   * that fails to open for a reason of its own passes to the next one; the
   * failures are kept (and reported at the next negotiate) only once a
   * worse transport opened, so that a server that is simply down does not
   * get WebSocket blamed. Resolves with how it ended, or null if aborted.
   */
  async #connect(s: Session, signal: AbortSignal): Promise<Ended | null> {
    const failed: Failure[] = [];
    this.#roundFailed = failed;
    let last: Ended = AGAIN;
    for (const offer of candidates(s.offers, this.#home)) {
      if (signal.aborted) return null;
      const r = await this.#link.attempt(offer, s);
      if (signal.aborted) return null;
      if (r === 'open') return this.#serve(); // the failures were recorded when it opened
      if (r.kind !== 'failed') return r;
      this.#machine.fire('open_failed');
      failed.push({ transport: offer.name, reason: r.reason ?? 'error' });
      if (r.error) this.#ctx.emitter.emit('error', r.error);
      last = { ...r, kind: 'retry' };
    }
    return last;
  }

  /** Waits until the active transport ends, following switches to a probe that opened. */
  async #serve(): Promise<Ended> {
    const startedAt = this.#openedAt;
    for (;;) {
      const out = await this.#link.next();
      if (out === 'open') continue;
      if (this.#failback.probing && out.kind !== 'again') {
        await this.#failback.probing; // e.g. the probe superseded the old transport
        if (this.#link.openTransport) continue; // switched
      }
      const home = this.#home;
      if (out.kind === 'failed' && home) {
        // It opened, then found itself unfit (an SSE stream behind a buffering proxy): the next one down, at once.
        this.#fallDown(home, out.reason ?? 'error', out.error);
        return AGAIN;
      }
      if (out.kind === 'again') return out;
      const drop = dropKind(out, home, this.#openedAt || startedAt, this.#ctx.clock.now());
      if (drop === 'late') this.#early = 0;
      else if (drop === 'early' && ++this.#early >= EARLY_DROPS) {
        this.#fallDown(home!, 'closed_early', clientError('closed_early', `${home}: dropped within ${CLOSED_EARLY_MS} ms of opening ${EARLY_DROPS} times`));
      }
      return out;
    }
  }

  /** The home transport failed after opening (e.g. it keeps dropping right away): use the next one down. */
  #fallDown(t: ClientTransport, reason: FailureReason, e?: LifelineError): void {
    this.#early = 0;
    this.#ctx.book.record(t, reason);
    if (e) this.#ctx.emitter.emit('error', e);
    const worse = worseThan(this.#keeper.current?.offers ?? [], t);
    if (worse) this.#home = worse;
  }

  /** A fatal error: stop the loop, and tell everyone waiting. */
  #fail(e: LifelineError): void {
    this.running = false;
    this.#fatal = e;
    const session = this.#keeper.drop();
    this.#failback.cancel();
    this.#link.stop();
    if (session) void endSession(this.#ctx.api, session, END_SESSION_TIMEOUT_MS);
    this.#keeper.rejectAll(e);
    this.#wakeAll();
    this.#unlistenOnline?.();
    this.#unlistenOnline = null;
    this.#machine.fire('fatal');
    this.#status.set({ status: 'disconnected', transport: null, attempt: 0, error: e });
    this.#ctx.emitter.emit('error', e);
  }

  /** Cuts every backoff and rate-limit wait short. */
  #wakeAll(): void {
    for (const wake of [...this.#ctx.wakers]) wake();
  }

  // ---- what the link reports (LinkHooks) -----------------------------------------

  /** A new session: transports start over from the server's order, with a fresh send budget. */
  #adopted(): void {
    this.#sender.newSession();
    this.#home = null;
    this.#early = 0;
  }

  opened(t: Transport, switched: boolean): void {
    const { book, clock } = this.#ctx;
    if (!switched) this.#machine.fire('opened');
    for (const f of this.#roundFailed.splice(0)) book.record(f.transport, f.reason);
    this.#openedAt = clock.now();
    if (this.#home !== t.name) this.#early = 0;
    this.#home = t.name;
    book.clear(t.name);
    if (t.name !== 'longpoll') this.#trouble = CALM;
    this.showConnected();
    this.#failback.schedule();
  }

  ended(): void {
    this.#failback.cancel();
  }

  alive(): void {
    this.#trouble = CALM;
    if (this.#status.behind(this.#sender.held)) this.showConnected();
  }
}
