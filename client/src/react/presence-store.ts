/**
 * Who is present in a topic: the server's list, loaded once the session
 * follows the topic (and again for every new session), kept current by the
 * topic's presence events, including those that arrive while it loads.
 */
import type { Envelope, PresenceClient, PresenceData } from '../index.js';
import type { Hub } from './hub.js';

const NONE: readonly PresenceClient[] = Object.freeze([]);

export class PresenceStore {
  readonly #hub: Hub;
  readonly #topic: string;
  #members: readonly PresenceClient[] = NONE;
  /** The session the list was loaded for. */
  #loadedFor: string | undefined;
  /** Presence events that arrived while the list was loading. */
  #early: PresenceData[] | null = null;
  readonly #listeners = new Set<() => void>();
  #off: (() => void)[] = [];

  constructor(hub: Hub, topic: string) {
    this.#hub = hub;
    this.#topic = topic;
  }

  readonly getSnapshot = (): readonly PresenceClient[] => this.#members;

  readonly subscribe = (fn: () => void): (() => void) => {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  };

  /** Follows the topic and keeps the list; returns the stop function. */
  start(): () => void {
    this.#off = [
      this.#hub.follow(this.#topic),
      this.#hub.onEvent(this.#topic, (ev) => this.#event(ev)),
      this.#hub.subscribe(() => this.#check()),
    ];
    this.#check();
    return () => {
      for (const off of this.#off) off();
      this.#off = [];
    };
  }

  /** Loads the list when the current session follows the topic and has not loaded it. */
  #check(): void {
    const id = this.#hub.getState().clientId;
    const client = this.#hub.client;
    if (!client || !id || id === this.#loadedFor || !this.#hub.getAccepted().has(this.#topic)) return;
    this.#loadedFor = id;
    const early: PresenceData[] = (this.#early = []);
    client.presence(this.#topic).then(
      (res) => {
        if (this.#early !== early || !this.#off.length) return; // a newer load, or stopped
        const map = new Map(res.clients.map((c) => [c.clientId, c]));
        for (const d of early) apply(map, d);
        this.#early = null;
        this.#set([...map.values()]);
      },
      () => {
        if (this.#early === early) this.#early = null; // e.g. presence disabled: live events only
      },
    );
  }

  #event(ev: Envelope): void {
    if (ev.type !== 'presence') return;
    const d = ev.data as PresenceData;
    if (!d || typeof d.clientId !== 'string') return;
    this.#early?.push(d);
    const map = new Map(this.#members.map((c) => [c.clientId, c]));
    if (apply(map, d)) this.#set([...map.values()]);
  }

  #set(members: PresenceClient[]): void {
    this.#members = Object.freeze(members);
    for (const fn of [...this.#listeners]) fn();
  }
}

/** Applies a join or leave; whether it changed anything. */
function apply(map: Map<string, PresenceClient>, d: PresenceData): boolean {
  if (d.action === 'join') {
    map.set(d.clientId, d.meta === undefined ? { clientId: d.clientId } : { clientId: d.clientId, meta: d.meta });
    return true;
  }
  return d.action === 'leave' && map.delete(d.clientId);
}
