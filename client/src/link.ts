/**
 * The transports in use: the active one (being opened, or open and
 * delivering) and at most one probe of a better one. It makes them, routes
 * what they report (ignoring anything from one that is no longer in use),
 * delivers the active one's events and resets, and hands the supervisor
 * their outcomes one at a time.
 */
import type { Offer, Session } from './api.js';
import type { ClientContext } from './context.js';
import { LongPollTransport } from './longpoll.js';
import type { Envelope, TransportName } from './protocol.js';
import { AGAIN, type Ended } from './policy.js';
import { SseTransport } from './sse.js';
import type { Transport, TransportClose, TransportContext } from './transport.js';
import type { LifelineEvent } from './types.js';
import { WebSocketTransport } from './websocket.js';

/** What the supervisor waits for: the active transport opening or ending, or `again`. */
export type Outcome = 'open' | Ended;

/** What the link reports about the active transport. */
export interface LinkHooks {
  /** `t` became the open, active transport (it opened, or a probe took over). */
  opened(t: Transport, switched: boolean): void;
  /** The active transport ended (the outcome follows through `next`). */
  ended(): void;
  /** Events and resets are delivered only while running. */
  readonly running: boolean;
  /** The server answered on the active transport: the connection works. */
  alive(): void;
}

export class Link {
  readonly #ctx: ClientContext;
  readonly #hooks: LinkHooks;
  #active: Transport | null = null;
  #open = false;
  #probe: Transport | null = null;
  #probeSettle: ((o: 'open' | TransportClose) => void) | null = null;
  #waiter: ((o: Outcome) => void) | null = null;
  #stash: Outcome | null = null;

  constructor(ctx: ClientContext, hooks: LinkHooks) {
    this.#ctx = ctx;
    this.#hooks = hooks;
  }

  /** The transport delivering events (or being opened). */
  get active(): Transport | null {
    return this.#active;
  }

  /** The active transport, when it is open. */
  get openTransport(): Transport | null {
    return this.#open ? this.#active : null;
  }

  /** Starts one transport as the active one; the next outcome is its opening or ending. */
  attempt(offer: Offer, s: Session): Promise<Outcome> {
    const t = this.#create(offer, s);
    this.#active = t;
    this.#open = false;
    this.#stash = null;
    const next = this.next();
    t.start();
    return next;
  }

  /** Starts a probe of a better transport beside the open one; settles when it opens (and took over) or ends. */
  probe(offer: Offer, s: Session): Promise<'open' | TransportClose> {
    const t = this.#create(offer, s);
    return new Promise((resolve) => {
      this.#probe = t;
      this.#probeSettle = resolve;
      t.start();
    });
  }

  /** The next outcome: one that came while no one waited, or the next to come. */
  next(): Promise<Outcome> {
    const stashed = this.#stash;
    if (stashed) {
      this.#stash = null;
      return Promise.resolve(stashed);
    }
    return new Promise<Outcome>((resolve) => (this.#waiter = resolve));
  }

  /** Ends the transports and makes the supervisor go round at once. */
  interrupt(): void {
    this.stop();
    this.#wake(AGAIN);
  }

  /** Closes the transports, silently: the supervisor is not woken; a probe settles as ended. */
  stop(): void {
    const active = this.#active;
    const probe = this.#probe;
    this.#active = this.#probe = null;
    this.#open = false;
    active?.close();
    probe?.close();
    this.#settleProbe({ kind: 'retry' });
  }

  #wake(o: Outcome): void {
    const w = this.#waiter;
    this.#waiter = null;
    if (w) w(o);
    else if (!this.#stash || this.#stash === 'open') this.#stash = o;
  }

  #settleProbe(o: 'open' | TransportClose): void {
    const settle = this.#probeSettle;
    this.#probeSettle = null;
    settle?.(o);
  }

  #create(offer: Offer, s: Session): Transport {
    const { api, tracker, wsCtor, idle } = this.#ctx;
    let t: Transport | undefined;
    /** Whether `t` is still the active transport: what it reports otherwise is ignored. */
    const active = (): boolean => t === this.#active;
    const ctx: TransportContext = {
      api,
      session: s,
      url: offer.url,
      idle,
      cursor: () => tracker.cursor ?? s.cursor,
      handlers: {
        open: () => this.#onOpen(t!),
        event: (ev) => active() && this.#event(ev),
        reset: (cursor) => active() && this.#reset(t!.name, cursor),
        cursor: (cursor) => active() && tracker.adopt(cursor),
        alive: () => active() && this.#hooks.alive(),
        close: (c) => this.#onClose(t!, c),
      },
    };
    if (offer.name === 'websocket' && wsCtor) t = new WebSocketTransport(ctx, wsCtor);
    else if (offer.name === 'sse') t = new SseTransport(ctx);
    else t = new LongPollTransport(ctx);
    return t;
  }

  #onOpen(t: Transport): void {
    if (t === this.#probe) {
      // The probe was opened from the cursor of the last event processed: it
      // takes over, the old transport is closed and anything it still
      // delivers is ignored (what it delivered meanwhile comes again on the
      // new one and is dropped as a duplicate).
      const old = this.#active;
      this.#probe = null;
      this.#active = t;
      this.#open = true;
      old?.close();
      this.#hooks.opened(t, true);
      this.#settleProbe('open');
      return;
    }
    if (t !== this.#active) return;
    this.#open = true;
    this.#hooks.opened(t, false);
    this.#wake('open');
  }

  #onClose(t: Transport, c: TransportClose): void {
    if (t === this.#probe) {
      this.#probe = null;
      this.#settleProbe(c);
      return;
    }
    if (t !== this.#active) return;
    this.#active = null;
    this.#open = false;
    this.#hooks.ended();
    this.#wake(c);
  }

  /** An event of the active transport: delivered once, advancing the cursor. */
  #event(ev: Envelope): void {
    const { tracker, emitter } = this.#ctx;
    if (!this.#hooks.running || tracker.isDuplicate(ev.id)) return;
    tracker.advance(ev.id);
    emitter.emit('event', ev as LifelineEvent);
  }

  /** The active transport could not resume from the cursor: delivery goes on from `cursor`, and the application is told. */
  #reset(name: TransportName, cursor: string): void {
    const { tracker, emitter } = this.#ctx;
    if (!this.#hooks.running) return;
    const previousCursor = tracker.cursor;
    tracker.adopt(cursor);
    emitter.emit('reset', { reason: name === 'longpoll' ? 'poll' : 'stream', cursor, ...(previousCursor ? { previousCursor } : {}) });
  }
}
