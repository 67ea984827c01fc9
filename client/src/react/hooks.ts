import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { Envelope, HistoryResponse, LifelineClient, LifelineError, Outgoing, PresenceClient, SendOptions } from '../index.js';
import type { Connection } from './hub.js';
import { PresenceStore } from './presence-store.js';
import { useHub } from './provider.js';

/**
 * The connection: status, transport, the better transports skipped and
 * why (`skipped`), the wait before the next attempt (`retryInMs`,
 * `retryAt`), and whether the rate limit holds it back (`rateLimited`).
 * Re-renders only when it changes.
 */
export function useConnection(): Connection {
  const hub = useHub();
  return useSyncExternalStore(hub.subscribe, hub.getState, hub.getState);
}

/** The provider's client (null before it is created and after it is closed). */
export function useClient(): LifelineClient | null {
  const hub = useHub();
  const get = useCallback(() => hub.client, [hub]);
  return useSyncExternalStore(hub.subscribe, get, get);
}

/**
 * Follows `topic` while the component is mounted, calling onEvent (the
 * latest one passed) with each of its events. Several components may
 * follow the same topic. Returns whether the session follows it yet.
 */
export function useTopic(topic: string, onEvent?: (ev: Envelope) => void): boolean {
  const hub = useHub();
  const latest = useRef(onEvent);
  useEffect(() => {
    latest.current = onEvent;
  });
  useEffect(() => {
    const unfollow = hub.follow(topic);
    const off = hub.onEvent(topic, (ev) => latest.current?.(ev));
    return () => {
      off();
      unfollow();
    };
  }, [hub, topic]);
  const followed = useCallback(() => hub.getAccepted().has(topic), [hub, topic]);
  return useSyncExternalStore(hub.subscribe, followed, followed);
}

/**
 * Why the server refused to follow `topic` (e.g. a LifelineError with
 * status 403 and code `forbidden_topic`), or undefined while the topic is
 * followed, on its way, or not asked. A refusal holds while the topic stays
 * mounted; unmounting every component that follows it clears it.
 */
export function useTopicRefusal(topic: string): LifelineError | undefined {
  const hub = useHub();
  const refusal = useCallback(() => hub.refusalOf(topic), [hub, topic]);
  return useSyncExternalStore(hub.subscribe, refusal, refusal);
}

/** Who is present in `topic` (which it follows while mounted): the server's list, kept current. */
export function usePresence(topic: string): readonly PresenceClient[] {
  const hub = useHub();
  const store = useMemo(() => new PresenceStore(hub, topic), [hub, topic]);
  useEffect(() => store.start(), [store]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** What useHistory returns. */
export interface HistoryState {
  /** The topic's newest events, oldest first; empty while loading. */
  events: readonly Envelope[];
  /** Where following the topic continues after `events`. */
  cursor?: string;
  /** False when older events may have been lost. */
  complete: boolean;
  loading: boolean;
  error?: LifelineError;
}

const LOADING: HistoryState = Object.freeze({ events: Object.freeze([]), complete: true, loading: true });

/** A topic's recent events (GET history), loaded once per topic and limit. */
export function useHistory(topic: string, options: { limit?: number } = {}): HistoryState {
  const client = useClient();
  const { limit } = options;
  const [state, setState] = useState<{ key: string; value: HistoryState }>({ key: '', value: LOADING });
  const key = `${limit ?? ''}\n${topic}`;
  useEffect(() => {
    if (!client) return;
    let live = true;
    client.history(topic, limit === undefined ? {} : { limit }).then(
      (h: HistoryResponse) => live && setState({ key, value: { events: h.events, cursor: h.cursor, complete: h.complete, loading: false } }),
      (error: LifelineError) => live && setState({ key, value: { events: [], complete: false, loading: false, error } }),
    );
    return () => {
      live = false;
    };
  }, [client, topic, limit, key]);
  return state.key === key ? state.value : LOADING;
}

/** Optimistic sends through the provider's shared outbox (stable functions). */
export interface Sender {
  /** Sends and returns the pending entry at once; undefined outside a mounted provider. */
  send(topic: string, type: string, data: unknown, options?: Omit<SendOptions, 'mid'>): Outgoing | undefined;
  /** Sends a failed message again under its mid. */
  retry(mid: string, options?: Omit<SendOptions, 'mid'>): boolean;
  /** Forgets a message (e.g. a failed one the user dismissed). */
  discard(mid: string): void;
}

/** Sends through the provider's client; see Sender. Never re-renders. */
export function useSend(): Sender {
  const hub = useHub();
  return useMemo(
    () => ({
      send: (topic, type, data, options) => hub.outbox()?.send(topic, type, data, options),
      retry: (mid, options) => hub.outbox()?.retry(mid, options) ?? false,
      discard: (mid) => hub.outbox()?.discard(mid),
    }),
    [hub],
  );
}
