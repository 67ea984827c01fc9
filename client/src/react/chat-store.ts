/**
 * One chat room's messages and typing users: the room's history, loaded
 * once the session follows the room (so that live events start no later
 * than the history's cursor), then its live events, de-duplicated by event
 * id; and this client's optimistic messages for the room from the shared
 * outbox, until their events replace them (same key: the mid).
 */
import type { Envelope, LifelineError, OutgoingStatus, Outgoing } from '../index.js';
import type { Hub } from './hub.js';
import { TopicStore } from './topic-store.js';

/** A message of the room as useChat lists it. */
export interface ChatMessage<D = unknown> {
  /** Stable across pending → sent: the mid when there is one, else the event id. */
  key: string;
  /** The event id (the cursor after it); absent while pending. */
  id?: string;
  /** The sender's message id, when it was sent by a client. */
  mid?: string;
  /** The sender's clientId; absent for server events. */
  from?: string;
  data: D;
  /** Server time of publication; for a message not yet delivered, when it was sent. */
  ts: number;
  /** `sent` for delivered events; an optimistic message's outbox status otherwise. */
  status: OutgoingStatus;
  /** Why it failed, when `failed`. */
  error?: LifelineError;
  /** Sent by this client (in this or an earlier session). */
  mine: boolean;
}

/** Someone typing in the room. */
export interface TypingUser<D = unknown> {
  clientId: string;
  /** The typing event's data (the example puts `{ name }` there). */
  data: D;
  /** When the indicator expires (Date.now() time). */
  until: number;
}

/** Options of useChat. */
export interface ChatOptions {
  /** How many recent messages to load on joining (GET history). Default 50; 0 loads none. */
  historyLimit?: number;
  /** The event type of messages. Default 'message'. */
  messageType?: string;
  /** The event type of typing indicators. Default 'typing'. */
  typingType?: string;
  /** TTL of the typing events setTyping sends, and of those received without one. Default 4000 ms. */
  typingTtlMs?: number;
  /** setTyping sends at most one typing event this often. Default 2500 ms. */
  typingEveryMs?: number;
  /** Keep at most this many delivered messages. Default 500. */
  maxMessages?: number;
  /** Mark a message failed when not acknowledged within this many ms. Default: the provider's sendTimeoutMs. */
  timeoutMs?: number;
}

export interface ChatSnapshot<D = unknown> {
  messages: readonly ChatMessage<D>[];
  typingUsers: readonly TypingUser[];
  /** True until the history is loaded (or failed to load). */
  loading: boolean;
  /** False when older messages may have been lost from the server's buffer. */
  complete: boolean;
  /** Why the history could not be loaded. */
  historyError?: LifelineError;
  /** Why the server refused to follow the room (e.g. 403 forbidden_topic); loading is then false. */
  error?: LifelineError;
}

const DEFAULT_TYPING_TTL_MS = 4000;

export class ChatStore<D = unknown> extends TopicStore<ChatSnapshot<D>> {
  readonly #o: ChatOptions;
  /** Delivered messages, oldest first, and their ids. */
  #delivered: ChatMessage<D>[] = [];
  #ids = new Set<string>();
  #typers = new Map<string, TypingUser>();
  #typingTimer: ReturnType<typeof setTimeout> | undefined;
  #outbox: readonly Outgoing[] | null = null;
  /** The outbox entries the snapshot shows: an outbox change elsewhere does not re-render this room. */
  #shown: readonly Outgoing[] = [];
  #loadedFor = -1;
  #generation = 0;

  constructor(hub: Hub, topic: string, options: ChatOptions) {
    super(hub, topic, { messages: [], typingUsers: [], loading: (options.historyLimit ?? 50) > 0, complete: true });
    this.#o = options;
  }

  protected override more(): (() => void)[] {
    return [this.hub.onReset(() => this.#reload())];
  }

  protected override stopped(): void {
    clearTimeout(this.#typingTimer);
  }

  /** On any hub change: show a refusal of the room; load the history once the room is followed; pick up outbox changes. */
  protected onHub(): void {
    const refused = this.hub.refusalOf(this.topic);
    if (refused !== this.getSnapshot().error) {
      const { error: _, ...rest } = this.getSnapshot();
      this.set(refused ? { ...rest, loading: false, error: refused } : { ...rest, loading: this.#loadedFor !== this.#generation && (this.#o.historyLimit ?? 50) > 0 });
    }
    if (this.#loadedFor !== this.#generation && this.hub.getAccepted().has(this.topic) && this.hub.client) {
      this.#loadedFor = this.#generation;
      this.#load(this.#generation);
    }
    if (this.hub.getOutbox() !== this.#outbox) this.#publish();
  }

  /** The cursor could not be resumed: messages may be missing, load the history again. */
  #reload(): void {
    this.#generation++;
    this.#delivered = [];
    this.#ids.clear();
    this.#publish({ loading: (this.#o.historyLimit ?? 50) > 0 });
    this.onHub();
  }

  #load(generation: number): void {
    const limit = this.#o.historyLimit ?? 50;
    const client = this.hub.client!;
    if (limit <= 0) return;
    client.history(this.topic, { limit }).then(
      (h) => {
        if (generation !== this.#generation || !this.running) return;
        const type = this.#o.messageType ?? 'message';
        const older = h.events.filter((e) => e.type === type && !this.#ids.has(e.id)).map((e) => this.#message(e));
        for (const m of older) this.#ids.add(m.id!);
        // Live events that came first and are not in the history are newer than all of it.
        this.#delivered = this.#cap([...older, ...this.#delivered]);
        this.#publish({ loading: false, complete: h.complete });
      },
      (err: LifelineError) => {
        if (generation === this.#generation && this.running) this.#publish({ loading: false, historyError: err });
      },
    );
  }

  protected onEvent(ev: Envelope): void {
    if (ev.type === (this.#o.typingType ?? 'typing')) {
      if (!ev.from || this.hub.isMine(ev.from)) return;
      const ttl = ev.ttlMs ?? this.#o.typingTtlMs ?? DEFAULT_TYPING_TTL_MS;
      this.#typers.set(ev.from, { clientId: ev.from, data: ev.data, until: Date.now() + ttl });
      this.#expireTyping();
      return;
    }
    if (ev.type !== (this.#o.messageType ?? 'message') || this.#ids.has(ev.id)) return;
    this.#ids.add(ev.id);
    this.#delivered = this.#cap([...this.#delivered, this.#message(ev)]);
    // A message ends its sender's typing.
    if (ev.from && this.#typers.delete(ev.from)) this.#expireTyping();
    else this.#publish({});
  }

  #message(ev: Envelope): ChatMessage<D> {
    const m: ChatMessage<D> = { key: ev.mid ?? ev.id, id: ev.id, data: ev.data as D, ts: ev.ts, status: 'sent', mine: this.hub.isMine(ev.from) };
    if (ev.mid) m.mid = ev.mid;
    if (ev.from) m.from = ev.from;
    return m;
  }

  #cap(list: ChatMessage<D>[]): ChatMessage<D>[] {
    const max = this.#o.maxMessages ?? 500;
    if (list.length <= max) return list;
    for (const m of list.slice(0, list.length - max)) this.#ids.delete(m.id!);
    return list.slice(list.length - max);
  }

  /** Drops expired typers, publishes, and wakes up at the next expiry. */
  #expireTyping(): void {
    clearTimeout(this.#typingTimer);
    const now = Date.now();
    for (const [id, t] of this.#typers) if (t.until <= now) this.#typers.delete(id);
    this.#publish({ typingUsers: Object.freeze([...this.#typers.values()]) });
    if (!this.#typers.size || !this.running) return;
    const next = Math.min(...[...this.#typers.values()].map((t) => t.until));
    this.#typingTimer = setTimeout(() => this.#expireTyping(), Math.max(10, next - now));
  }

  /**
   * A new snapshot: delivered messages, then this room's outbox entries not
   * yet delivered. Without `change`, only if those entries changed.
   */
  #publish(change?: Partial<ChatSnapshot<D>>): void {
    const type = this.#o.messageType ?? 'message';
    this.#outbox = this.hub.getOutbox();
    const delivered = new Set(this.#delivered.map((m) => m.mid));
    const shown = this.#outbox.filter((o) => o.topic === this.topic && o.type === type && !delivered.has(o.mid));
    const unchanged = shown.length === this.#shown.length && shown.every((o, i) => o === this.#shown[i]);
    if (!change && unchanged) return; // only the outbox changed, and not for this room
    this.#shown = shown;
    const pending = shown.map((o) => {
      const m: ChatMessage<D> = { key: o.mid, mid: o.mid, data: o.data as D, ts: o.at, status: o.status, mine: true };
      if (o.id) m.id = o.id;
      if (o.error) m.error = o.error;
      return m;
    });
    this.set({ ...this.getSnapshot(), ...change, messages: Object.freeze([...this.#delivered, ...pending]) });
  }
}
