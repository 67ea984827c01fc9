/**
 * Who is present in a topic: the server's list, loaded once the session
 * follows the topic (and again for every new session), kept current by the
 * topic's presence events, including those that arrive while it loads.
 */
import type { Envelope, PresenceClient, PresenceData } from '../index.js';
import type { Hub } from './hub.js';
import { TopicStore } from './topic-store.js';

const NONE: readonly PresenceClient[] = Object.freeze([]);

export class PresenceStore extends TopicStore<readonly PresenceClient[]> {
  /** The session the list was loaded for. */
  #loadedFor: string | undefined;
  /** Presence events that arrived while the list was loading. */
  #early: PresenceData[] | null = null;

  constructor(hub: Hub, topic: string) {
    super(hub, topic, NONE);
  }

  /** Loads the list when the current session follows the topic and has not loaded it. */
  protected onHub(): void {
    const id = this.hub.getState().clientId;
    const client = this.hub.client;
    if (!client || !id || id === this.#loadedFor || !this.hub.getAccepted().has(this.topic)) return;
    this.#loadedFor = id;
    const early: PresenceData[] = (this.#early = []);
    client.presence(this.topic).then(
      (res) => {
        if (this.#early !== early || !this.running) return; // a newer load, or stopped
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

  protected onEvent(ev: Envelope): void {
    if (ev.type !== 'presence') return;
    const d = ev.data as PresenceData;
    if (!d || typeof d.clientId !== 'string') return;
    this.#early?.push(d);
    const map = new Map(this.getSnapshot().map((c) => [c.clientId, c]));
    if (apply(map, d)) this.#set([...map.values()]);
  }

  #set(members: PresenceClient[]): void {
    this.set(Object.freeze(members));
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
