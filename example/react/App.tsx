import { useEffect, useRef, useState, type FormEvent } from 'react';
import { LifelineProvider, useChat, useConnection, useTopic, type ChatMessage, type TypingUser } from '@lifeline-go/client/react';
import type { PresenceClient } from '@lifeline-go/client';

const DEFAULT_ROOMS = ['general', 'random'];
const ROOM_RE = /^[a-z0-9-]{1,32}$/;
const NICK_KEY = 'lifeline.nick';
const TRANSPORT_LABELS: Record<string, string> = { longpoll: 'long-poll', websocket: 'WebSocket', sse: 'SSE' };

type Text = { text: string; name?: string };

const topicOf = (room: string) => `room:${room}`;
const nameOf = (meta: unknown) => {
  const n = (meta as { name?: unknown } | undefined)?.name;
  return typeof n === 'string' && n.trim() ? n.trim() : 'anonymous';
};

function storage(key: string, value?: string): string | null {
  try {
    if (value === undefined) return localStorage.getItem(key);
    localStorage.setItem(key, value);
  } catch {
    // private mode: no persistence
  }
  return null;
}

function roomFromHash(): string {
  const r = decodeURIComponent(location.hash.slice(1));
  return ROOM_RE.test(r) ? r : 'general';
}

function requestedTransports() {
  const q = new URLSearchParams(location.search).get('transport');
  const list = (q ?? '').split(',').filter((s): s is 'websocket' | 'sse' | 'longpoll' => ['websocket', 'sse', 'longpoll'].includes(s));
  return list.length ? list : undefined;
}

function hue(name: string): number {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)!) % 360;
  return h;
}

function Avatar({ name }: { name: string }) {
  return (
    <span className="avatar" aria-hidden="true" style={{ ['--hue' as string]: String(hue(name)) }}>
      {[...name][0] ?? '?'}
    </span>
  );
}

export function App() {
  const [nick, setNick] = useState(() => (storage(NICK_KEY) ?? '').trim());
  const [asking, setAsking] = useState(!nick);
  if (asking || !nick) {
    return (
      <NickForm
        initial={nick}
        onDone={(n) => {
          storage(NICK_KEY, n);
          setNick(n);
          setAsking(false);
        }}
      />
    );
  }
  // The nickname travels in negotiate's meta: a new one is a new client (key).
  return (
    <LifelineProvider key={nick} url="/rt" topics={['notifications']} meta={{ name: nick }} transports={requestedTransports()}>
      <Chat nick={nick} onRename={() => setAsking(true)} />
    </LifelineProvider>
  );
}

function NickForm({ initial, onDone }: { initial: string; onDone: (nick: string) => void }) {
  const [value, setValue] = useState(initial || `guest-${Math.floor(Math.random() * 900) + 100}`);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const n = value.trim().replace(/\s+/g, ' ').slice(0, 32);
    if (n) onDone(n);
  };
  return (
    <div className="overlay" data-testid="nick-overlay">
      <form className="card" data-testid="nick-form" onSubmit={submit} autoComplete="off">
        <h2>Pick a nickname</h2>
        <input data-testid="nick-input" maxLength={32} required value={value} onChange={(e) => setValue(e.target.value)} autoFocus />
        <button type="submit" className="primary" data-testid="nick-submit">
          Start chatting
        </button>
      </form>
    </div>
  );
}

function Chat({ nick, onRename }: { nick: string; onRename: () => void }) {
  const [room, setRoom] = useState(roomFromHash);
  const [rooms, setRooms] = useState(() => (DEFAULT_ROOMS.includes(room) ? DEFAULT_ROOMS : [...DEFAULT_ROOMS, room]));
  const chat = useChat<Text>(topicOf(room), { historyLimit: 50 });
  const go = (r: string) => {
    setRooms((rs) => (rs.includes(r) ? rs : [...rs, r]));
    setRoom(r);
    history.replaceState(null, '', `${location.pathname}${location.search}#${r}`);
  };
  return (
    <>
      <header className="topbar">
        <div className="brand">
          <img src="/static/favicon.svg" alt="" width="28" height="28" />
          <span>Lifeline chat · React</span>
        </div>
        <div className="topbar-right">
          <Transport />
          <button type="button" className="who" data-testid="nick-change" onClick={onRename}>
            <Avatar name={nick} />
            <span data-testid="nick-current">{nick}</span>
          </button>
        </div>
      </header>
      <div className="layout">
        <aside className="sidebar">
          <Rooms rooms={rooms} current={room} onPick={go} />
          <People members={chat.members} />
          <Notifications />
        </aside>
        <main className="chat">
          <div className="chat-head">
            <h1 data-testid="room-title">#{room}</h1>
          </div>
          <Messages nick={nick} messages={chat.messages} onRetry={chat.retry} />
          {chat.loading ? null : chat.messages.length ? null : (
            <p className="empty" data-testid="messages-empty">
              No messages yet. Say hello!
            </p>
          )}
          <Typing users={chat.typingUsers} />
          <Composer room={room} disabled={chat.status === 'disconnected'} onType={chat.setTyping} onSend={(text) => chat.send({ text })} />
        </main>
      </div>
    </>
  );
}

function Transport() {
  const c = useConnection();
  const on = c.transport ? `${TRANSPORT_LABELS[c.transport] ?? c.transport} · ` : '';
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (c.retryAt === undefined) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [c.retryAt]);
  const retry = c.retryAt !== undefined ? ` · retry in ${Math.max(1, Math.ceil((c.retryAt - now) / 1000))} s` : '';
  const main = c.rateLimited ? `${on}rate limited${retry}` : c.status === 'connected' ? `${on}connected` : `${on}${c.status}${retry}`;
  const skipped = c.transport && c.skipped?.length ? ` (${c.skipped.map((s) => `${s.transport}: ${s.reason}`).join(', ')})` : '';
  return (
    <span
      className="transport"
      data-testid="transport"
      data-status={c.status}
      data-transport={c.transport ?? ''}
      data-rate-limited={c.rateLimited ? 'true' : undefined}
      role="status"
      title={c.error ? `last error: ${c.error.detail}` : `client ${c.clientId ?? '—'}`}
    >
      <span className="transport-main">{main}</span>
      {skipped ? <span className="transport-skipped">{skipped}</span> : null}
    </span>
  );
}

function Rooms({ rooms, current, onPick }: { rooms: string[]; current: string; onPick: (room: string) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState('');
  const join = (e: FormEvent) => {
    e.preventDefault();
    const r = value.trim().toLowerCase().replace(/^#/, '');
    if (!ROOM_RE.test(r)) return setError('Room names are 1–32 of a–z, 0–9 and “-”.');
    setError('');
    setValue('');
    onPick(r);
  };
  return (
    <section className="panel">
      <h2>Rooms</h2>
      <ul className="rooms" data-testid="rooms">
        {rooms.map((r) => (
          <li key={r}>
            <button type="button" data-testid={`room-${r}`} aria-current={String(r === current) as 'true' | 'false'} onClick={() => onPick(r)}>
              # {r}
            </button>
          </li>
        ))}
      </ul>
      <form className="inline-form" data-testid="join-form" onSubmit={join} autoComplete="off">
        <input data-testid="join-input" placeholder="join a room…" maxLength={32} value={value} onChange={(e) => setValue(e.target.value)} />
        <button type="submit" data-testid="join-submit">
          Join
        </button>
      </form>
      {error ? <p className="hint error" data-testid="join-error">{error}</p> : null}
    </section>
  );
}

function People({ members }: { members: readonly PresenceClient[] }) {
  return (
    <section className="panel">
      <h2>
        Here now <span className="count" data-testid="presence-count">{members.length}</span>
      </h2>
      <ul className="people" data-testid="presence-list">
        {members.map((m) => (
          <li key={m.clientId} data-testid="presence-item">
            <Avatar name={nameOf(m.meta)} />
            <span className="name">{nameOf(m.meta)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Notifications() {
  const [items, setItems] = useState<{ id: string; text: string }[]>([]);
  useTopic('notifications', (ev) => {
    if (ev.type === 'notification') setItems((l) => [{ id: ev.id, text: String((ev.data as Text)?.text ?? '') }, ...l].slice(0, 50));
  });
  return (
    <section className="panel">
      <h2>Notifications</h2>
      <ul className="notifications" data-testid="notifications">
        {items.map((n) => (
          <li key={n.id} data-testid="notification">
            {n.text}
          </li>
        ))}
      </ul>
      {items.length ? null : <p className="hint">Nothing yet.</p>}
    </section>
  );
}

function Messages({ nick, messages, onRetry }: { nick: string; messages: readonly ChatMessage<Text>[]; onRetry: (mid: string) => void }) {
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages.length]);
  return (
    <ol className="messages" data-testid="messages" aria-live="polite" ref={list}>
      {messages.map((m) => {
        const name = m.data?.name ?? nick;
        return (
          <li key={m.key} className={m.mine ? 'message mine' : 'message'} data-testid="message" data-mine={String(m.mine)} data-status={m.status}>
            <Avatar name={name} />
            <div className="bubble">
              <div className="meta">
                <span className="name" data-testid="message-name">
                  {m.mine ? `${name} (you)` : name}
                </span>
                <time dateTime={new Date(m.ts).toISOString()}>
                  {m.status === 'pending' ? 'sending…' : new Date(m.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}
                </time>
              </div>
              <p className="text" data-testid="message-text">
                {m.data?.text}
              </p>
              {m.status === 'failed' ? (
                <p className="hint error">
                  Not sent: {m.error?.detail ?? 'failed'}{' '}
                  <button type="button" className="link" data-testid="retry" onClick={() => onRetry(m.mid!)}>
                    Retry
                  </button>
                </p>
              ) : null}
            </div>
          </li>
        );
      })}
    </ol>
  );
}

function Typing({ users }: { users: readonly TypingUser[] }) {
  const names = [...new Set(users.map((u) => nameOf(u.data)))];
  const text =
    names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : names.length ? 'Several people are typing…' : '';
  return (
    <div className="typing" data-testid="typing" aria-live="polite">
      {text}
    </div>
  );
}

function Composer({ room, disabled, onType, onSend }: { room: string; disabled: boolean; onType: () => void; onSend: (text: string) => void }) {
  const [text, setText] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const t = text.trim();
    if (!t) return;
    onSend(t); // listed at once as pending; no waiting here
    setText('');
  };
  return (
    <form className="composer" data-testid="composer" onSubmit={submit} autoComplete="off">
      <input
        data-testid="message-input"
        placeholder={`Message #${room}`}
        maxLength={2000}
        value={text}
        disabled={disabled}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim()) onType();
        }}
      />
      <button type="submit" data-testid="send-button" disabled={disabled}>
        Send
      </button>
    </form>
  );
}
