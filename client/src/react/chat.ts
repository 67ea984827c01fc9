import { useCallback, useEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import type { ConnectionStatus, LifelineError, Outgoing, PresenceClient } from '../index.js';
import { ChatStore, type ChatMessage, type ChatOptions, type TypingUser } from './chat-store.js';
import { usePresence } from './hooks.js';
import { useHub } from './provider.js';

/** What useChat returns. */
export interface Chat<D = unknown> {
  /** The room's history, then its live messages, then this client's messages not yet delivered. */
  messages: readonly ChatMessage<D>[];
  /** Sends a message optimistically: it is listed at once as `pending`. */
  send(data: D): Outgoing | undefined;
  /** Sends a `failed` message again under its mid. */
  retry(mid: string): boolean;
  /** Others typing now (each until its indicator's TTL). */
  typingUsers: readonly TypingUser[];
  /** Call on each keystroke: sends a typing indicator at most every `typingEveryMs`; false re-arms it. */
  setTyping(typing?: boolean): void;
  /** Who is in the room. */
  members: readonly PresenceClient[];
  /** The connection's status. */
  status: ConnectionStatus;
  /** True until the room's history is loaded (or the room is refused: see `error`). */
  loading: boolean;
  /** False when older messages may have been lost from the server's buffer. */
  complete: boolean;
  /** Why the history could not be loaded (live messages still come). */
  historyError?: LifelineError;
  /**
   * Why the server refused to follow the room (403 `forbidden_topic` from
   * the app's Authorize, 400 `bad_topic`): no history and no live messages
   * come, and `loading` is false. The connection stays on the rooms it
   * followed before; changing `room` to one the server allows recovers.
   */
  error?: LifelineError;
}

/**
 * A chat room: follows `room` (a topic) while mounted, lists its history
 * then its live messages, with this client's messages shown at once and
 * replaced by their events (pending → sent, or failed and retryable),
 * typing indicators and presence. Switching rooms is a change of `room`.
 * The options are read when the room changes.
 */
export function useChat<D = unknown>(room: string, options: ChatOptions = {}): Chat<D> {
  const hub = useHub();
  const opts = useRef(options);
  opts.current = options;
  const store = useMemo(() => new ChatStore<D>(hub, room, opts.current), [hub, room]);
  useEffect(() => store.start(), [store]);
  const snap = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const members = usePresence(room);
  const getStatus = useCallback(() => hub.getState().status, [hub]);
  const status = useSyncExternalStore(hub.subscribe, getStatus, getStatus);

  const lastTyping = useRef(0);
  useEffect(() => {
    lastTyping.current = 0;
  }, [room]);
  const send = useCallback(
    (data: D) => {
      const o = opts.current;
      lastTyping.current = 0; // the message ends the indicator at the others: the next keystroke shows it again
      return hub.outbox()?.send(room, o.messageType ?? 'message', data, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs });
    },
    [hub, room],
  );
  const retry = useCallback((mid: string) => {
    const o = opts.current;
    return hub.outbox()?.retry(mid, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }) ?? false;
  }, [hub]);
  const setTyping = useCallback(
    (typing = true) => {
      const o = opts.current;
      const now = Date.now();
      if (!typing) lastTyping.current = 0;
      if (!typing || now - lastTyping.current < (o.typingEveryMs ?? 2500) || hub.getState().status !== 'connected') return;
      lastTyping.current = now;
      hub.client?.send(room, o.typingType ?? 'typing', {}, { ttlMs: o.typingTtlMs ?? 4000 }).catch(() => {
        // best effort: the next keystroke tries again
      });
    },
    [hub, room],
  );
  const chat: Chat<D> = { messages: snap.messages, typingUsers: snap.typingUsers, loading: snap.loading, complete: snap.complete, members, status, send, retry, setTyping };
  if (snap.historyError) chat.historyError = snap.historyError;
  if (snap.error) chat.error = snap.error;
  return chat;
}
