// The React hooks against the real Go test server (internal/testkit/testserver):
// sessions are counted on the server, events published through it.
import { StrictMode, useState } from 'react';
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { WebSocket as WS } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../src/react/index.js';
import { LifelineProvider, useChat, useConnection, useHistory, usePresence, useSend, useTopic, useTopicRefusal } from '../src/react/index.js';
import type { Envelope, FetchLike } from '../src/index.js';
import { TestServer, skip } from '../test/integration/harness.js';

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls the server until it holds n sessions. */
async function sessions(server: TestServer, n: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await server.sessions();
    if (got === n) return;
    if (Date.now() > deadline) throw new Error(`the server holds ${got} sessions, want ${n}`);
    await delay(25);
  }
}

/** A fetch that counts negotiate requests. */
function countingFetch(): { fetch: FetchLike; negotiations: () => number } {
  let n = 0;
  const f = ((input: string, init?: RequestInit) => {
    if (String(input).endsWith('/negotiate')) n++;
    return fetch(input, init);
  }) as FetchLike;
  return { fetch: f, negotiations: () => n };
}

function Status() {
  const c = useConnection();
  return <p data-testid="status">{c.status}</p>;
}

function Follower({ topic, seen }: { topic: string; seen: Envelope[] }) {
  const followed = useTopic(topic, (ev) => seen.push(ev));
  return <p data-testid={`follow-${topic}`}>{String(followed)}</p>;
}

const texts = (ms: readonly ChatMessage[]) => ms.map((m) => (m.data as { text: string }).text);

describe.skipIf(skip)('React hooks against the Go server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await TestServer.start({ pollTimeout: '2s', forbidPrefix: 'secret:' });
  });
  afterEach(() => cleanup());
  afterAll(async () => {
    await server?.stop();
  });
  const provider = (extra: Record<string, unknown> = {}) => ({ url: server.rt, WebSocket: WS, backoff: { minMs: 20, maxMs: 200 }, ...extra });

  it('StrictMode mounts one session; unmount ends it', async () => {
    await sessions(server, 0);
    const { unmount } = render(
      <StrictMode>
        <LifelineProvider {...provider({ topics: ['room:strict'] })}>
          <Status />
        </LifelineProvider>
      </StrictMode>,
    );
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('connected'));
    await delay(300); // a second session would show up by now
    expect(await server.sessions()).toBe(1);
    unmount();
    await sessions(server, 0); // DELETE session, not expiry (the TTL is 60 s)
  });

  it('components share one connection; ten topics mounted together negotiate once', async () => {
    await sessions(server, 0);
    const counter = countingFetch();
    const seen: Envelope[][] = Array.from({ length: 10 }, () => []);
    render(
      <LifelineProvider {...provider({ fetch: counter.fetch })}>
        <Status />
        {seen.map((s, i) => (
          <Follower key={i} topic={`room:t${i}`} seen={s} />
        ))}
      </LifelineProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('follow-room:t9').textContent).toBe('true'));
    expect(counter.negotiations()).toBe(1);
    expect(await server.sessions()).toBe(1);
    for (let i = 0; i < 10; i++) await server.publish(`room:t${i}`, 'message', { i });
    const messages = () => seen.map((s) => s.filter((e) => e.type === 'message'));
    await waitFor(() => expect(messages().every((s) => s.length === 1)).toBe(true));
    expect(messages().map((s) => (s[0]!.data as { i: number }).i)).toEqual([...Array(10).keys()]);
  });

  it('a room switch by prop change shows the new room\'s history, then live, nothing of the old room, nothing twice', async () => {
    for (const room of ['a', 'b']) for (let i = 0; i < 3; i++) await server.publish(`room:sw-${room}`, 'message', { text: `${room}${i}` });
    let shown: readonly ChatMessage[] = [];
    let setRoom!: (r: string) => void;
    function Room() {
      const [room, set] = useState('room:sw-a');
      setRoom = set;
      const chat = useChat(room, { historyLimit: 10 });
      shown = chat.messages;
      return <p data-testid="loading">{String(chat.loading)}</p>;
    }
    render(
      <LifelineProvider {...provider()}>
        <Room />
      </LifelineProvider>,
    );
    await waitFor(() => expect(texts(shown)).toEqual(['a0', 'a1', 'a2']));
    await server.publish('room:sw-a', 'message', { text: 'a3' });
    await waitFor(() => expect(texts(shown)).toEqual(['a0', 'a1', 'a2', 'a3']));
    act(() => setRoom('room:sw-b'));
    await waitFor(() => expect(texts(shown)).toEqual(['b0', 'b1', 'b2']));
    await server.publish('room:sw-a', 'message', { text: 'a4' });
    await server.publish('room:sw-b', 'message', { text: 'b3' });
    await waitFor(() => expect(texts(shown)).toEqual(['b0', 'b1', 'b2', 'b3']));
    await delay(200);
    expect(texts(shown)).toEqual(['b0', 'b1', 'b2', 'b3']);
    expect(new Set(shown.map((m) => m.key)).size).toBe(shown.length);
  });

  /** A chat whose room is a prop: its messages, error, loading and status, and a way to change the room. */
  function switchableRoom(first: string) {
    const view = { chat: undefined as unknown as ReturnType<typeof useChat<{ text: string }>>, setRoom: (_: string) => {} };
    function Room() {
      const [room, set] = useState(first);
      view.setRoom = set;
      view.chat = useChat<{ text: string }>(room, { historyLimit: 10 });
      return <p data-testid="chat">{`${view.chat.status} ${view.chat.loading} ${view.chat.error?.code ?? '-'}`}</p>;
    }
    render(
      <LifelineProvider {...provider()}>
        <Room />
      </LifelineProvider>,
    );
    return view;
  }
  const shownState = () => screen.getByTestId('chat').textContent;

  it('a room switch the server refuses shows the error, keeps the connection, and recovers on a switch to an allowed room', async () => {
    await server.publish('room:deny-a', 'message', { text: 'a0' });
    await server.publish('room:deny-b', 'message', { text: 'b0' });
    const v = switchableRoom('room:deny-a');
    await waitFor(() => expect(texts(v.chat.messages)).toEqual(['a0']));
    act(() => v.setRoom('secret:deny'));
    await waitFor(() => expect(shownState()).toBe('connected false forbidden_topic'));
    expect(v.chat.error?.status).toBe(403);
    expect(v.chat.messages).toEqual([]);
    await server.publish('secret:deny', 'message', { text: 's0' }); // the server publishes to it; the client must not follow it
    await server.publish('room:deny-a', 'message', { text: 'a1' });
    await delay(300);
    expect(v.chat.messages).toEqual([]);
    act(() => v.setRoom('room:deny-b'));
    await waitFor(() => expect(texts(v.chat.messages)).toEqual(['b0']));
    expect(shownState()).toBe('connected false -');
    await server.publish('room:deny-b', 'message', { text: 'b1' });
    await waitFor(() => expect(texts(v.chat.messages)).toEqual(['b0', 'b1']));
  });

  it('useTopicRefusal names the refused topic only, and clears when it unmounts', async () => {
    function Refusal({ topic }: { topic: string }) {
      const refusal = useTopicRefusal(topic);
      return <p data-testid={`refusal-${topic}`}>{refusal ? `${refusal.status} ${refusal.code}` : '-'}</p>;
    }
    function Page({ secret }: { secret: boolean }) {
      return (
        <LifelineProvider {...provider()}>
          <Follower topic="room:open" seen={[]} />
          <Refusal topic="room:open" />
          {secret && <Follower topic="secret:hidden" seen={[]} />}
          {secret && <Refusal topic="secret:hidden" />}
        </LifelineProvider>
      );
    }
    const { rerender } = render(<Page secret={false} />);
    await waitFor(() => expect(screen.getByTestId('follow-room:open').textContent).toBe('true'));
    rerender(<Page secret />);
    await waitFor(() => expect(screen.getByTestId('refusal-secret:hidden').textContent).toBe('403 forbidden_topic'));
    expect(screen.getByTestId('follow-secret:hidden').textContent).toBe('false');
    expect(screen.getByTestId('refusal-room:open').textContent).toBe('-'); // still followed: the switch was refused, not the session
    expect(screen.getByTestId('follow-room:open').textContent).toBe('true');
    rerender(<Page secret={false} />);
    await delay(100);
    expect(screen.getByTestId('refusal-room:open').textContent).toBe('-');
    expect(screen.getByTestId('follow-room:open').textContent).toBe('true');
  });

  it('a first room the server refuses shows the error; switching to an allowed room starts the connection again', async () => {
    await server.publish('room:deny-c', 'message', { text: 'c0' });
    const v = switchableRoom('secret:first');
    await waitFor(() => expect(shownState()).toBe('disconnected false forbidden_topic'));
    act(() => v.setRoom('room:deny-c'));
    await waitFor(() => expect(texts(v.chat.messages)).toEqual(['c0']));
    expect(shownState()).toBe('connected false -');
    await server.publish('room:deny-c', 'message', { text: 'c1' });
    await waitFor(() => expect(texts(v.chat.messages)).toEqual(['c0', 'c1']));
    expect(await server.sessions()).toBe(1);
  });

  it('an optimistic message goes pending → sent under one key, never listed twice', async () => {
    const snapshots: (readonly ChatMessage[])[] = [];
    let send!: (d: { text: string }) => unknown;
    function Room() {
      const chat = useChat<{ text: string }>('room:opt', { historyLimit: 0 });
      send = chat.send;
      snapshots.push(chat.messages);
      return <Status />;
    }
    render(
      <LifelineProvider {...provider()}>
        <Room />
      </LifelineProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('connected'));
    act(() => void send({ text: 'hello' }));
    const first = snapshots.at(-1)!;
    expect(first.map((m) => m.status)).toEqual(['pending']);
    await waitFor(() => expect(snapshots.at(-1)!.map((m) => [m.status, m.id !== undefined])).toEqual([['sent', true]]));
    await delay(200);
    const last = snapshots.at(-1)!;
    expect(last).toHaveLength(1);
    expect(last[0]!.key).toBe(first[0]!.key);
    expect(last[0]!.mid).toBe(first[0]!.mid);
    expect(last[0]!.mine).toBe(true);
    expect(snapshots.every((s) => s.length <= 1)).toBe(true);
  });

  it('typing users appear and expire after their TTL; presence lists both', async () => {
    let typeA!: () => void;
    let typingB: readonly { clientId: string }[] = [];
    let membersB: readonly { clientId: string }[] = [];
    function A() {
      const chat = useChat('room:typing', { historyLimit: 0, typingTtlMs: 700 });
      typeA = () => chat.setTyping();
      return <p data-testid="a-status">{chat.status}</p>;
    }
    function B() {
      const chat = useChat('room:typing', { historyLimit: 0 });
      typingB = chat.typingUsers;
      membersB = chat.members;
      return null;
    }
    render(
      <>
        <LifelineProvider {...provider()}>
          <A />
        </LifelineProvider>
        <LifelineProvider {...provider()}>
          <B />
        </LifelineProvider>
      </>,
    );
    await waitFor(() => expect(membersB).toHaveLength(2));
    await waitFor(() => expect(screen.getByTestId('a-status').textContent).toBe('connected'));
    act(() => typeA());
    await waitFor(() => expect(typingB).toHaveLength(1));
    const seenAt = Date.now();
    await waitFor(() => expect(typingB).toHaveLength(0), { timeout: 3000 });
    expect(Date.now() - seenAt).toBeGreaterThan(300); // it lived for its TTL, not less
  });

  it('re-renders only the components whose data changed', async () => {
    const renders = { a: 0, b: 0, status: 0 };
    let b: readonly ChatMessage[] = [];
    function RoomA() {
      renders.a++;
      useChat('room:iso-a', { historyLimit: 0 });
      return null;
    }
    function RoomB() {
      renders.b++;
      b = useChat('room:iso-b', { historyLimit: 0 }).messages;
      return null;
    }
    function Conn() {
      renders.status++;
      return <p data-testid="status">{useConnection().status}</p>;
    }
    render(
      <LifelineProvider {...provider()}>
        <Conn />
        <RoomA />
        <RoomB />
      </LifelineProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('connected'));
    await delay(300); // presence joins and the first state changes settle
    const before = { ...renders };
    for (let i = 0; i < 3; i++) await server.publish('room:iso-b', 'message', { text: `b${i}` });
    await waitFor(() => expect(texts(b)).toEqual(['b0', 'b1', 'b2']));
    expect(renders.b).toBeGreaterThan(before.b);
    expect(renders.a).toBe(before.a); // another room's messages
    expect(renders.status).toBe(before.status); // events are not connection changes
  });

  it('useHistory and usePresence read the server', async () => {
    await server.publish('room:hist-hook', 'message', { text: 'h1' });
    await server.publish('room:hist-hook', 'message', { text: 'h2' });
    let got: readonly Envelope[] = [];
    let members: readonly { clientId: string }[] = [];
    function H() {
      got = useHistory('room:hist-hook', { limit: 5 }).events.filter((e) => e.type === 'message');
      members = usePresence('room:hist-hook');
      return null;
    }
    render(
      <LifelineProvider {...provider()}>
        <H />
      </LifelineProvider>,
    );
    await waitFor(() => expect(got.map((e) => (e.data as { text: string }).text)).toEqual(['h1', 'h2']));
    await waitFor(() => expect(members).toHaveLength(1));
  });

  it('useSend sends optimistically through the shared client', async () => {
    const seen: Envelope[] = [];
    let sender!: ReturnType<typeof useSend>;
    function S() {
      sender = useSend();
      useTopic('room:usesend', (ev) => seen.push(ev));
      return <Status />;
    }
    render(
      <LifelineProvider {...provider()}>
        <S />
      </LifelineProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('connected'));
    const o = sender.send('room:usesend', 'message', { text: 'x' });
    expect(o?.status).toBe('pending');
    await waitFor(() => expect(seen.filter((e) => e.type === 'message').map((e) => e.mid)).toEqual([o!.mid]));
  });
});

describe.skipIf(skip)('React hooks: a send the rate limit refuses', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await TestServer.start({ pollTimeout: '2s', sendLimit: { limit: 1, period: '1500ms', burst: 1 } });
  });
  afterEach(() => cleanup());
  afterAll(async () => {
    await server?.stop();
  });

  it('goes pending → failed → retried → sent under one mid', async () => {
    let chat!: ReturnType<typeof useChat<{ text: string }>>;
    const statuses = new Map<string, string[]>();
    function Room() {
      chat = useChat<{ text: string }>('room:limited', { historyLimit: 0 });
      for (const m of chat.messages) {
        const s = statuses.get(m.key) ?? [];
        if (s.at(-1) !== m.status) s.push(m.status);
        statuses.set(m.key, s);
      }
      return <p data-testid="status">{chat.status}</p>;
    }
    render(
      <LifelineProvider url={server.rt} WebSocket={WS} sendTimeoutMs={300}>
        <Room />
      </LifelineProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('connected'));
    let b!: string;
    act(() => {
      chat.send({ text: 'a' });
      b = chat.send({ text: 'b' })!.mid;
    });
    await waitFor(() => expect(chat.messages.find((m) => m.key === b)?.status).toBe('failed'));
    expect(chat.messages.find((m) => m.key === b)?.error?.code).toBe('rate_limited');
    await delay(1600); // the bucket refills
    act(() => void chat.retry(b));
    await waitFor(() => expect(chat.messages.map((m) => [texts([m])[0], m.status])).toEqual([['a', 'sent'], ['b', 'sent']]));
    expect(chat.messages.find((m) => m.key === b)?.id).toBeDefined();
    expect(statuses.get(b)).toEqual(['pending', 'failed', 'pending', 'sent']);
    expect(await server.sends()).toBe(2);
  });
});
