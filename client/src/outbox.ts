/**
 * Optimistic sends: messages the application renders before the server
 * acknowledges them. Each is sent under its own mid (PROTOCOL.md §6); the
 * event the server publishes for it carries that mid (§4), so when it
 * arrives the outgoing entry is removed and the event takes its place: no
 * duplicate line, on any transport, whether the event or the
 * acknowledgement comes first.
 */
import type { LifelineClient } from './client.js';
import type { Unsubscribe } from './emitter.js';
import { toLifelineError, type LifelineError } from './errors.js';
import { newMid } from './mid.js';
import type { Envelope } from './protocol.js';
import type { DefaultEvents, EventMap, SendOptions } from './types.js';

/**
 * `pending` until acknowledged; `sent` once acknowledged, until its event
 * arrives (then the entry leaves the outbox); `failed` when the server
 * refused it, the client was closed, or `timeoutMs` passed (retry it).
 */
export type OutgoingStatus = 'pending' | 'sent' | 'failed';

/** A message in the outbox. A new frozen object on every change. */
export interface Outgoing {
  readonly mid: string;
  readonly topic: string;
  readonly type: string;
  readonly data: unknown;
  readonly status: OutgoingStatus;
  /** When it was first sent (Date.now()): where to show it until its event arrives. */
  readonly at: number;
  /** The published event's id, once acknowledged. */
  readonly id?: string;
  /** Why it failed, when `failed`. */
  readonly error?: LifelineError;
}

/** Options of an Outbox. */
export interface OutboxOptions {
  /**
   * Mark a message failed when it is not acknowledged within this many ms
   * (offline, retrying, held by the rate limit); retry() sends it again
   * under the same mid. Default: never, so a message written offline waits
   * for the connection.
   */
  timeoutMs?: number;
}

/**
 * Tracks a client's optimistic sends: `send` returns at once with a
 * pending entry; `items` lists every entry not yet replaced by its event,
 * oldest first; `subscribe` tells of changes. Uses only the client's
 * public API; `close` detaches it.
 */
export class Outbox<M extends EventMap = DefaultEvents> {
  readonly #client: LifelineClient<M>;
  readonly #timeoutMs: number | undefined;
  readonly #listeners = new Set<() => void>();
  readonly #off: Unsubscribe[];
  /** Every clientId the client has had: its own events keep matching across sessions. */
  readonly #mine = new Set<string>();
  #items: readonly Outgoing[] = [];

  constructor(client: LifelineClient<M>, options: OutboxOptions = {}) {
    this.#client = client;
    this.#timeoutMs = options.timeoutMs;
    this.#off = [
      client.on('state', (s) => {
        if (s.clientId) this.#mine.add(s.clientId);
      }),
      client.on('event', (ev) => this.#delivered(ev as Envelope)),
    ];
  }

  /** The messages not yet replaced by their event, oldest first (a new array on every change). */
  get items(): readonly Outgoing[] {
    return this.#items;
  }

  /** Whether clientId is (or was) this client's: the `from` of its own events. */
  isMine(clientId: string | undefined): boolean {
    if (clientId === undefined) return false;
    if (clientId === this.#client.clientId) this.#mine.add(clientId);
    return this.#mine.has(clientId);
  }

  /** Calls fn after every change of `items`. */
  subscribe(fn: () => void): Unsubscribe {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Sends a message and returns its pending entry at once. */
  send<K extends keyof M & string>(topic: string, type: K, data: M[K], options?: Omit<SendOptions, 'mid'>): Outgoing {
    const o: Outgoing = Object.freeze({ mid: newMid(), topic, type, data, status: 'pending', at: Date.now() });
    this.#set([...this.#items, o]);
    this.#go(o, options);
    return o;
  }

  /** Sends a failed message again under its mid; false when there is none such. */
  retry(mid: string, options?: Omit<SendOptions, 'mid'>): boolean {
    const o = this.#items.find((i) => i.mid === mid);
    if (!o || o.status !== 'failed') return false;
    const again: Outgoing = Object.freeze({ mid, topic: o.topic, type: o.type, data: o.data, status: 'pending', at: o.at });
    this.#replace(mid, again);
    this.#go(again, options);
    return true;
  }

  /** Drops a message from the outbox (e.g. a failed one the user gave up on). */
  discard(mid: string): void {
    if (this.#items.some((i) => i.mid === mid)) this.#set(this.#items.filter((i) => i.mid !== mid));
  }

  /** Stops listening to the client and to subscribers. */
  close(): void {
    for (const off of this.#off) off();
    this.#listeners.clear();
  }

  #go(o: Outgoing, options: Omit<SendOptions, 'mid'> | undefined): void {
    const opts: SendOptions = { ...options, mid: o.mid };
    if (opts.timeoutMs === undefined && this.#timeoutMs !== undefined) opts.timeoutMs = this.#timeoutMs;
    this.#client.send(o.topic, o.type as keyof M & string, o.data as M[keyof M & string], opts).then(
      (ack) => {
        if (this.#current(o) !== o) return; // its event came first, or it was discarded
        if (ack.id) this.#replace(o.mid, Object.freeze({ ...o, status: 'sent', id: ack.id }));
        else this.discard(o.mid); // the application published nothing
      },
      (err: unknown) => {
        if (this.#current(o) === o) this.#replace(o.mid, Object.freeze({ ...o, status: 'failed', error: toLifelineError(err) }));
      },
    );
  }

  #delivered(ev: Envelope): void {
    if (ev.mid !== undefined && this.isMine(ev.from)) this.discard(ev.mid);
  }

  #current(o: Outgoing): Outgoing | undefined {
    return this.#items.find((i) => i.mid === o.mid);
  }

  #replace(mid: string, o: Outgoing): void {
    this.#set(this.#items.map((i) => (i.mid === mid ? o : i)));
  }

  #set(items: readonly Outgoing[]): void {
    this.#items = Object.freeze(items);
    for (const fn of [...this.#listeners]) fn();
  }
}
