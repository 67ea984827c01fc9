// A third-party SSE client (the `eventsource` package, with a fetch that
// adds the Lifeline-Token header) reads the SSE URL that negotiate gives.
// The server ends each stream after a second (`event: recycle`), and the
// client reconnects by itself with Last-Event-ID: nothing is lost or
// repeated (PROTOCOL.md §5a).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { TestServer, delay, skip } from './harness.js';

describe('a third-party EventSource against the Go server', { skip }, () => {
  let server: TestServer | undefined;
  let es: EventSource | undefined;
  after(async () => {
    es?.close();
    await server?.stop();
  });

  it('reconnects after recycle with Last-Event-ID on its own, losing and repeating nothing', async () => {
    server = await TestServer.start({ streamMaxAge: '1s', heartbeat: '500ms', noLimits: true });
    const s = server;
    const topic = 'room:es';
    const res = await fetch(`${s.rt}/negotiate`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ protocol: 1, topics: [topic], transports: ['sse'] }),
    });
    const neg = (await res.json()) as { token: string; cursor: string; transports: { name: string; url: string }[] };
    const sse = neg.transports.find((t) => t.name === 'sse')!;
    assert.ok(!sse.url.includes(neg.token), 'no token in the URL');
    const url = new URL(sse.url, s.url);
    url.searchParams.set('cursor', neg.cursor);

    const requests: { lastEventId: string | null }[] = [];
    const received: string[] = [];
    const seen = new Set<string>([neg.cursor]);
    const kinds: string[] = [];
    es = new EventSource(url.href, {
      fetch: (input, init) => {
        const headers = new Headers(init?.headers as HeadersInit);
        headers.set('Lifeline-Token', neg.token);
        requests.push({ lastEventId: headers.get('Last-Event-ID') });
        return fetch(input, { ...init, headers } as RequestInit);
      },
    });
    es.onmessage = (m) => {
      const ev = JSON.parse(m.data) as { id: string; type: string };
      assert.equal(m.lastEventId, ev.id);
      seen.add(ev.id);
      if (ev.type === 'message') received.push(ev.id);
    };
    for (const k of ['open', 'recycle', 'problem', 'reset']) es.addEventListener(k, () => kinds.push(k));
    while (!kinds.includes('open')) await delay(10);

    const published: string[] = [];
    const until = Date.now() + 3500; // spans at least two recycles and reconnects
    while (Date.now() < until) {
      published.push(await s.publish(topic, 'message', { n: published.length }));
      await delay(20);
    }
    const deadline = Date.now() + 5000;
    while (received.length < published.length && Date.now() < deadline) await delay(20);
    await delay(100);
    assert.deepEqual(received, published, 'every event once, in order');
    assert.ok(kinds.filter((k) => k === 'recycle').length >= 2, `recycled: ${kinds.join(' ')}`);
    assert.ok(!kinds.includes('problem') && !kinds.includes('reset'), kinds.join(' '));
    // The first request resumed from the query's cursor; every reconnect from the last event it saw.
    assert.equal(requests[0]!.lastEventId, null);
    assert.ok(requests.length >= 3, `${requests.length} requests`);
    for (const r of requests.slice(1)) assert.ok(r.lastEventId && seen.has(r.lastEventId), String(r.lastEventId));
  });
});
