/**
 * The connection supervisor: runs the state machine of machine.ts. One loop
 * per start() negotiates, opens a transport from the home one down, serves
 * it until it ends, and decides (policy.ts) whether to go on at once,
 * negotiate again, wait, or stop; every move goes through `Machine.fire`.
 * It owns the session keeper, the link, failback, the send path and the
 * status, and is what the facade (client.ts) talks to.
 * A closure: its state is local variables only its functions touch; the
 * parts see it through `host` (LinkHooks, FailbackHost, SendHost).
 */
import type { Session } from './api.js';
import { backoffDelay } from './backoff.js';
import { LostSessionBreaker } from './breaker.js';
import { sleep } from './clock.js';
import type { ClientContext } from './context.js';
import { clientError, closedError, type LifelineError } from './errors.js';
import { Failback, type FailbackHost } from './failback.js';
import type { Failure } from './failures.js';
import { AbortedError } from './http.js';
import { Link, type LinkHooks } from './link.js';
import { Machine, type Phase, type PhaseEvent } from './machine.js';
import { AGAIN, CALM, EARLY_DROPS, CLOSED_EARLY_MS, candidates, closeForThrown, dropKind, meaning, worseThan, type Ended, type Trouble } from './policy.js';
import type { ClientTransport } from './protocol.js';
import { SendPath, type SendHost } from './sender.js';
import { SessionKeeper } from './session.js';
import { StatusBoard, onOnline } from './status.js';
import type { FailureReason } from './transport.js';

/** What the facade (client.ts) sees of the supervisor. */
export interface Supervisor {
  /** `client.state`. */
  readonly status: StatusBoard;
  /** The session and the topics. */
  readonly keeper: SessionKeeper;
  /** Sends, presence calls, `client.limits`. */
  readonly sender: SendPath;
  readonly phase: Phase;
  /** close() was called (and start() not since). */
  readonly closed: boolean;
  start(): void;
  setTopics(topics: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export function supervise(ctx: ClientContext, topics: readonly string[], maxQueue: number): Supervisor {
  const { book, clock, emitter } = ctx;
  const machine = new Machine();
  /** Aborted by close(); a new one on start() after close(). */
  let life = new AbortController();
  let running = false;
  let closed = false;
  let closing: Promise<void> | null = null;
  let fatal: LifelineError | null = null;
  let trouble: Trouble = CALM;
  /** The transport the loop reconnects to first; null: the server's order. */
  let home: ClientTransport | null = null;
  /** Early drops of `home` in a row. */
  let early = 0;
  let openedAt = 0;
  /** The transports that failed to open in the current round: kept once a worse one opens. */
  let roundFailed: Failure[] = [];
  let unlistenOnline: (() => void) | null = null;

  /** What the parts ask of the supervisor, and what the link reports. */
  const host: LinkHooks & FailbackHost & SendHost = {
    get running() { return running; },
    get signal() { return life.signal; },
    get session() { return keeper.current; },
    get openTransport() { return link.openTransport; },
    waitSession(signal) {
      if (signal.aborted || closed) return Promise.reject(closedError());
      if (fatal) return Promise.reject(fatal);
      return keeper.wait();
    },
    invalidate(s, error) {
      if (keeper.current !== s) return;
      keeper.drop();
      breaker.note(clock.now(), error);
      interrupt();
    },
    showConnected,
    opened(t, switched) {
      if (!switched) machine.fire('opened');
      for (const f of roundFailed.splice(0)) book.record(f.transport, f.reason);
      openedAt = clock.now();
      if (home !== t.name) early = 0;
      home = t.name;
      book.worked(t.name);
      keeper.current?.auth.seen(openedAt);
      if (t.name !== 'longpoll') trouble = CALM;
      showConnected();
      failback.schedule();
    },
    ended() {
      failback.cancel();
    },
    alive() {
      trouble = CALM;
      keeper.current?.auth.seen(clock.now());
      if (status.behind(sender.held)) showConnected();
    },
  };
  const status = new StatusBoard(ctx);
  const keeper = new SessionKeeper(ctx, topics);
  const sender = new SendPath(ctx, host, maxQueue);
  const link = new Link(ctx, host);
  const failback = new Failback(ctx, link, machine, host);
  const breaker = new LostSessionBreaker();

  function showConnected(): void {
    const s = keeper.current;
    const t = link.openTransport;
    if (s && t) status.connected(s, t.name, sender.held);
  }

  /** Ends the transports and makes the loop go round at once (setTopics, a lost session, close). */
  function interrupt(): void {
    failback.cancel();
    link.interrupt();
  }

  /** Cuts every backoff and rate-limit wait short. */
  function wakeAll(): void {
    for (const wake of [...ctx.wakers]) wake();
  }

  async function run(signal: AbortSignal): Promise<void> {
    trouble = CALM;
    while (!signal.aborted) {
      let out: Ended | null;
      try {
        if (machine.phase === 'negotiating') {
          const hold = breaker.take(ctx.backoff, ctx.random);
          if (hold > 0) {
            // Sessions keep getting lost right after negotiate: wait instead of looping.
            await backoff({ kind: 'retry', error: breaker.error ?? clientError('network', 'sessions keep ending'), retryAfterMs: hold }, signal);
            if (signal.aborted) return;
            machine.fire(onward());
            continue;
          }
          await keeper.negotiate(signal, adopted);
          if (signal.aborted) return;
          machine.fire(onward());
          continue;
        }
        out = await connect(keeper.current!, signal);
        if (!out || signal.aborted) return;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof AbortedError) {
          machine.fire(onward());
          continue;
        }
        out = closeForThrown(err);
      }
      if (out.kind === 'unknown_token' && keeper.drop()) breaker.note(clock.now(), out.error); // negotiate again with the last cursor
      const next = meaning(out, trouble);
      trouble = next.trouble;
      if (next.action === 'fatal') return fail(out.error ?? clientError('error', 'failed'));
      if (next.action === 'restart') {
        keeper.restartFromNow();
        if (out.error) emitter.emit('error', out.error);
      }
      if (next.action === 'backoff') {
        await backoff(out, signal);
        if (signal.aborted) return;
      }
      machine.fire(onward());
    }
  }

  /** A new session: transports start over from the server's order, with a fresh send budget. */
  function adopted(): void {
    sender.newSession();
    home = null;
    early = 0;
  }

  /** Where to go on from here without waiting: negotiate if the session is stale, else open a transport. */
  function onward(): PhaseEvent {
    if (keeper.stale) return 'renegotiate';
    return machine.phase === 'negotiating' ? 'session_ready' : 'reconnect';
  }

  /** Shows the failure and waits: full-jitter backoff, at least what the server advised. */
  async function backoff(out: Ended, signal: AbortSignal): Promise<void> {
    const e = out.error ?? clientError('network', `the ${home ?? 'transport'} connection ended`);
    const failures = trouble.failures;
    const delay = backoffDelay(failures, ctx.backoff, ctx.random, out.retryAfterMs);
    trouble = { ...trouble, failures: failures + 1 };
    machine.fire('backoff');
    status.waiting(e, failures + 1, delay, keeper.current?.clientId, keeper.everConnected);
    emitter.emit('error', e);
    await sleep(clock, delay, signal, ctx.wakers);
  }

  /**
   * Opens the first transport that works, from `home` down (the server's
   * order right after negotiate), and serves it until it ends. A transport
   * that fails to open for a reason of its own passes to the next one; the
   * failures are kept (and reported at the next negotiate) only once a
   * worse transport opened, so that a server that is simply down does not
   * get WebSocket blamed. Resolves with how it ended, or null if aborted.
   */
  async function connect(s: Session, signal: AbortSignal): Promise<Ended | null> {
    const failed: Failure[] = (roundFailed = []);
    let last: Ended = AGAIN;
    for (const offer of candidates(s.offers, home)) {
      if (signal.aborted) return null;
      const r = await link.attempt(offer, s);
      if (signal.aborted) return null;
      if (r === 'open') return serve(); // the failures were recorded when it opened
      if (r.kind !== 'failed') return r;
      machine.fire('open_failed');
      failed.push({ transport: offer.name, reason: r.reason ?? 'error' });
      if (r.error) emitter.emit('error', r.error);
      last = { ...r, kind: 'retry' };
    }
    return last;
  }

  /** Waits until the active transport ends, following switches to a probe that opened. */
  async function serve(): Promise<Ended> {
    const startedAt = openedAt;
    for (;;) {
      const out = await link.next();
      if (out === 'open') continue;
      if (failback.probing && out.kind !== 'again') {
        await failback.probing; // e.g. the probe superseded the old transport
        if (link.openTransport) continue; // switched
      }
      const t = home;
      if (out.kind === 'failed' && t) {
        // It opened, then found itself unfit (an SSE stream behind a buffering proxy): the next one down, at once.
        fallDown(t, out.reason ?? 'error', out.error);
        return AGAIN;
      }
      if (out.kind === 'again') return out;
      if (out.kind === 'retry' && out.quietMs !== undefined && ctx.idle.cut(out.quietMs)) {
        // A proxy's idle timeout, foreseen (idle.ts): from now on polls and
        // streams stay below it; reconnect at once, without showing trouble.
        return { ...out, immediate: true };
      }
      const drop = dropKind(out, t, openedAt || startedAt, clock.now());
      if (drop === 'late') early = 0;
      else if (drop === 'early' && ++early >= EARLY_DROPS) {
        fallDown(t!, 'closed_early', clientError('closed_early', `${t}: dropped within ${CLOSED_EARLY_MS} ms of opening ${EARLY_DROPS} times`));
      }
      return out;
    }
  }

  /** The home transport failed after opening (e.g. it keeps dropping right away): use the next one down. */
  function fallDown(t: ClientTransport, reason: FailureReason, e?: LifelineError): void {
    early = 0;
    book.record(t, reason);
    if (e) emitter.emit('error', e);
    home = worseThan(keeper.current?.offers ?? [], t) ?? home;
  }

  /** A fatal error: stop, tell everyone waiting, and say why. */
  function fail(e: LifelineError): void {
    fatal = e;
    void stop('fatal', e);
    emitter.emit('error', e);
  }

  /**
   * Stops the loop and what it runs, rejects the callers waiting for a
   * session or a topics change with `err`, and ends the session; resolves
   * once the server heard (or gave up).
   */
  function stop(event: 'close' | 'fatal', err: LifelineError): Promise<void> {
    const ended = keeper.end();
    running = false;
    interrupt();
    keeper.rejectAll(err);
    wakeAll();
    unlistenOnline?.();
    unlistenOnline = null;
    machine.fire(event);
    status.stopped(event === 'fatal' ? err : undefined);
    return ended;
  }

  return {
    status,
    keeper,
    sender,
    get phase() { return machine.phase; },
    get closed() { return closed; },
    start() {
      if (running) return;
      if (closed) {
        closed = false;
        closing = null;
        life = new AbortController();
      }
      fatal = null;
      running = true;
      unlistenOnline ??= onOnline(wakeAll);
      machine.fire('start');
      status.set({ status: keeper.everConnected ? 'reconnecting' : 'connecting', transport: null, attempt: 0 });
      void run(life.signal);
    },
    setTopics: (next) => keeper.setTopics(next, running, interrupt),
    close() {
      if (!closing) {
        closed = true;
        life.abort();
        const err = closedError();
        sender.rejectAll(err);
        closing = stop('close', err);
      }
      return closing;
    },
  };
}
