import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { LifelineClient, LifelineError, type ConnectionState, type LifelineOptions, type ResetInfo } from '../src/index.js';
import type { Envelope } from '../src/protocol.js';
import { FakeServer, fastClock, json, networkError, problem, until } from './fake.js';

const clients: LifelineClient[] = [];

function setup(opts: Partial<LifelineOptions> = {}, server = new FakeServer()) {
  const clock = fastClock();
  const client = new LifelineClient({
    url: 'http://fake.test/rt',
    topics: ['room:a'],
    fetch: server.fetch,
    clock,
    random: () => 0.5,
    ...opts,
  });
  clients.push(client);
  const events: Envelope[] = [];
  const states: ConnectionState[] = [];
  const resets: ResetInfo[] = [];
  const errors: LifelineError[] = [];
  client.on('event', (e) => {
    if (e.type !== 'presence') events.push(e);
  });
  client.on('state', (s) => states.push(s));
  client.on('reset', (r) => resets.push(r));
  client.on('error', (e) => errors.push(e));
  const connected = () => until(() => client.state.status === 'connected', 3000, 'connected');
  return { server, client, clock, events, states, resets, errors, connected };
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

const ids = (evs: Envelope[]) => evs.map((e) => e.id);

describe('LifelineClient options.url', () => {
  it('refuses, at construction, a URL no request could use', () => {
    // Node has no page to resolve a relative URL against: every request would
    // fail with "Failed to parse URL" and the client would retry forever.
    assert.throws(() => new LifelineClient({ url: '/rt', autoStart: false }), (err: Error) => {
      assert.ok(err instanceof TypeError);
      assert.match(err.message, /"\/rt" is not an absolute URL.*http:\/\/127\.0\.0\.1:8080\/rt/);
      return true;
    });
    assert.throws(() => new LifelineClient({ url: 'ftp://example.com/rt', autoStart: false }), /must be http: or https:/);
    assert.throws(() => new LifelineClient({ url: 'http://[::1/rt', autoStart: false }), /is not an absolute URL/);
  });

  it('resolves a relative URL against the page, where there is one', async () => {
    const g = globalThis as { location?: unknown };
    g.location = { href: 'https://app.example.com/chat/room' };
    try {
      const client = new LifelineClient({ url: '/rt', autoStart: false });
      await client.close();
      assert.throws(() => new LifelineClient({ url: 'http://[::1/rt', autoStart: false }), /is not a URL: pass the path/);
    } finally {
      delete g.location;
    }
  });
});

describe('LifelineClient (fake server)', () => {
  it('negotiates with protocol 1, topics, transports and meta, then long-polls with the token in a header only', async () => {
    const t = setup({ meta: { name: 'ada' }, topics: ['room:a', 'notifications'] });
    await t.connected();
    const neg = t.server.requests.find((r) => r.path === '/rt/negotiate')!;
    // Every transport this client can use here (no WebSocket constructor in Node 20), best first.
    const device = (neg.body as { device?: string }).device;
    assert.match(device ?? '', /^[A-Za-z0-9_-]{8,64}$/, 'a device id for the failure memory');
    assert.deepEqual(neg.body, { protocol: 1, topics: ['room:a', 'notifications'], transports: ['sse', 'longpoll'], device, meta: { name: 'ada' } });
    assert.equal(t.client.clientId, 'c1');
    assert.deepEqual(t.client.state, {
      status: 'connected',
      transport: 'longpoll',
      clientId: 'c1',
      attempt: 0,
      skipped: [{ transport: 'sse', reason: 'not_offered' }], // the fake offers long-poll only
    });
    t.server.publish('room:a', 'message', { n: 1 });
    await until(() => t.events.length === 1);
    const polls = t.server.requests.filter((r) => r.path === '/rt/poll');
    assert.ok(polls.length >= 1);
    for (const r of t.server.requests) assert.ok(!r.url.includes('t1'), `token in URL: ${r.url}`);
    assert.equal(polls[0]!.headers.get('Lifeline-Token'), 't1');
    assert.equal(polls[0]!.query.get('cursor'), 'e1.0');
    assert.equal(t.client.cursor, 'e1.1');
  });

  it('starts in a microtask so listeners added after new see every state; autoStart:false waits', async () => {
    const t = setup();
    await t.connected();
    assert.equal(t.states[0]!.status, 'connecting');
    const u = setup({ autoStart: false });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(u.client.state.status, 'disconnected');
    assert.equal(u.server.requests.length, 0);
    u.client.start();
    u.client.start(); // idempotent
    await u.connected();
    assert.equal(u.server.count('POST /rt/negotiate'), 1);
  });

  it('delivers in order and drops events it already processed (resent, or twice in a batch)', async () => {
    const t = setup();
    await t.connected();
    const a = t.server.publish('room:a', 'message', 1);
    const b = t.server.publish('room:a', 'message', 2);
    await until(() => t.events.length === 2);
    const c: Envelope = { id: 'e1.3', topic: 'room:a', type: 'message', data: 3, ts: 0 };
    // The server resends a and b (e.g. after a reconnect) and repeats c inside the batch.
    t.server.once('GET /rt/poll', () => json(200, { events: [a, b, c, c], cursor: 'e1.3' }));
    t.server.seq = 3;
    t.server.log.push(c);
    await until(() => t.client.cursor === 'e1.3');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(ids(t.events), ['e1.1', 'e1.2', 'e1.3']);
  });

  it('ignores a superseded poll response', async () => {
    const t = setup();
    await t.connected();
    const ghost: Envelope = { id: 'e1.99', topic: 'room:a', type: 'message', data: 'ghost', ts: 0 };
    t.server.once('GET /rt/poll', () => json(200, { events: [ghost], cursor: 'e1.99', superseded: true }));
    await until(() => t.server.count('GET /rt/poll') >= 3);
    assert.equal(t.events.length, 0);
    assert.equal(t.client.cursor, 'e1.0');
  });

  it('retries the first connect with full-jitter backoff, Retry-After as a floor', async () => {
    const server = new FakeServer();
    server
      .once('POST /rt/negotiate', networkError)
      .once('POST /rt/negotiate', () => problem(500, 'internal'))
      .once('POST /rt/negotiate', () => problem(429, 'rate_limited', { 'Retry-After': '2' }))
      .once('POST /rt/negotiate', () => problem(503, 'shutting_down', { 'Retry-After': '1' }));
    const t = setup({}, server);
    await t.connected();
    const retrying = t.states.filter((s) => s.retryInMs !== undefined);
    assert.deepEqual(
      retrying.map((s) => [s.status, s.attempt, s.error?.code, s.retryInMs]),
      [
        ['connecting', 1, 'network', 250], // 0.5 × min(20000, 500·2⁰)
        ['connecting', 2, 'internal', 500], // 0.5 × 1000
        ['rate-limited', 3, 'rate_limited', 3000], // 2000 floor + 0.5 × 2000
        ['connecting', 4, 'shutting_down', 3000], // 1000 floor + 0.5 × 4000
      ],
    );
    assert.deepEqual(t.errors.map((e) => e.code), ['network', 'internal', 'rate_limited', 'shutting_down']);
    assert.equal(t.client.state.attempt, 0);
  });

  it("retries a proxy's 4xx on negotiate (400 Request Header Or Cookie Too Large, 401, 404) with backoff: never final", async () => {
    const server = new FakeServer();
    const html = (status: number, text: string) => () => new Response(`<html><center><h1>${status} ${text}</h1></center></html>`, { status, headers: { 'Content-Type': 'text/html' } });
    server
      .once('POST /rt/negotiate', html(400, 'Request Header Or Cookie Too Large'))
      .once('POST /rt/negotiate', html(401, 'Authorization Required'))
      .once('POST /rt/negotiate', html(404, 'Not Found'));
    const t = setup({}, server);
    await t.connected();
    assert.deepEqual(t.errors.map((e) => `${e.status} ${e.code}`), ['400 http_400', '401 http_401', '404 http_404']);
    assert.ok(t.states.every((s) => s.status !== 'disconnected'), 'never stopped');
    assert.equal(server.count('POST /rt/negotiate'), 4);
  });

  it('behind a proxy that strips Lifeline-Token switches the session to the cookie and the body token at once, without renegotiating', async () => {
    const server = new FakeServer();
    server.stripToken = true;
    const t = setup({}, server);
    await t.connected();
    server.publish('room:a', 'message', 1);
    await until(() => t.events.length === 1);
    const ack = await t.client.send('room:a', 'message', { text: 'hi' });
    assert.ok(ack.id);
    await until(() => t.events.length === 2);
    assert.equal(server.count('POST /rt/negotiate'), 1, 'no negotiate loop');
    const polls = server.requests.filter((r) => r.path === '/rt/poll');
    assert.equal(polls[0]!.headers.get('Lifeline-Token'), 't1', 'first the header');
    assert.ok(polls.slice(1).every((p) => p.query.get('client') === 'c1' && !p.headers.has('Lifeline-Token')), 'then the cookie, named by ?client=');
    const sends = server.requests.filter((r) => r.path === '/rt/send');
    assert.deepEqual(sends.map((r) => [r.body.token, r.headers.has('Lifeline-Token')]), [['t1', false]], 'the token in the body, never in a URL');
    assert.ok(server.requests.every((r) => !r.url.includes('t1')), 'no token in any URL');
    assert.deepEqual(t.errors.map((e) => e.code), [], 'nothing to report: the 401 was understood');
  });

  it('on 503 shutting_down during polls reconnects with backoff, keeping the cursor; a good poll resets the backoff', async () => {
    const t = setup();
    await t.connected();
    t.server.publish('room:a', 'message', 1);
    await until(() => t.events.length === 1);
    t.server.once('GET /rt/poll', () => problem(503, 'shutting_down', { 'Retry-After': '1' }));
    t.server.once('GET /rt/poll', networkError);
    await until(() => t.states.filter((s) => s.status === 'reconnecting').length === 2);
    await until(() => t.client.state.status === 'connected');
    const rec = t.states.filter((s) => s.status === 'reconnecting');
    assert.deepEqual(rec.map((s) => [s.attempt, s.retryInMs]), [
      [1, 1250],
      [2, 500],
    ]);
    // The poll after the failures resumed from the same cursor, on the same session.
    const polls = t.server.requests.filter((r) => r.path === '/rt/poll');
    assert.ok(polls.slice(-2).every((p) => p.query.get('cursor') === 'e1.1' && p.headers.get('Lifeline-Token') === 't1'));
    assert.equal(t.server.count('POST /rt/negotiate'), 1);
    // Backoff starts over after a successful poll.
    t.server.once('GET /rt/poll', networkError);
    await until(() => t.states.filter((s) => s.status === 'reconnecting').length === 3);
    assert.equal(t.states.filter((s) => s.status === 'reconnecting')[2]!.retryInMs, 250);
  });

  it('on 401 unknown_token negotiates again with the last cursor: no loss, no repeat, no reset', async () => {
    const t = setup();
    await t.connected();
    t.server.publish('room:a', 'message', 1);
    t.server.publish('room:a', 'message', 2);
    await until(() => t.events.length === 2);
    t.server.tokens.clear(); // the session expired
    t.server.publish('room:a', 'message', 3);
    await until(() => t.events.length === 3);
    t.server.publish('room:a', 'message', 4);
    await until(() => t.events.length === 4);
    assert.deepEqual(ids(t.events), ['e1.1', 'e1.2', 'e1.3', 'e1.4']);
    const negs = t.server.requests.filter((r) => r.path === '/rt/negotiate');
    // The held poll may have delivered e1.3 before the 401; either way the cursor was the last one processed.
    assert.ok(negs.length === 2 && ['e1.2', 'e1.3'].includes(negs[1]!.body.cursor), JSON.stringify(negs[1]?.body));
    assert.equal(t.resets.length, 0);
    assert.equal(t.client.clientId, 'c2');
  });

  it('on reset (negotiate or poll) tells the application and continues from the new cursor', async () => {
    const t = setup();
    await t.connected();
    t.server.publish('room:a', 'message', 1);
    await until(() => t.events.length === 1);
    t.server.restart('e2'); // new epoch: the token is unknown, the cursor from another epoch
    await until(() => t.resets.length === 1);
    assert.deepEqual(t.resets[0], { reason: 'negotiate', previousCursor: 'e1.1', cursor: 'e2.0' });
    t.server.publish('room:a', 'message', 'after');
    await until(() => t.events.length === 2);
    assert.equal(t.events[1]!.id, 'e2.1');
    // A poll-level reset.
    t.server.once('GET /rt/poll', () => json(200, { events: [], cursor: 'e2.7', reset: true }));
    await until(() => t.resets.length === 2);
    assert.deepEqual(t.resets[1], { reason: 'poll', previousCursor: 'e2.1', cursor: 'e2.7' });
    assert.equal(t.client.cursor, 'e2.7');
  });

  it('on bad_cursor starts over from now and reports a reset', async () => {
    const server = new FakeServer();
    server.once('POST /rt/negotiate', () => problem(400, 'bad_cursor'));
    const t = setup({ cursor: 'garbage' }, server);
    await t.connected();
    const negs = server.requests.filter((r) => r.path === '/rt/negotiate');
    assert.equal(negs[0]!.body.cursor, 'garbage');
    assert.equal(negs[1]!.body.cursor, undefined);
    assert.deepEqual(t.resets, [{ reason: 'bad_cursor', previousCursor: 'garbage', cursor: 'e1.0' }]);
  });

  it('stops on a fatal negotiate error: disconnected, error, sends reject with it', async () => {
    const server = new FakeServer();
    server.once('POST /rt/negotiate', () => problem(403, 'forbidden_topic'));
    const t = setup({}, server);
    const sent = t.client.send('room:a', 'message', 1);
    const outcome = sent.catch((e: unknown) => e); // observed below, after the state settles
    await until(() => t.client.state.status === 'disconnected' && t.client.state.error !== undefined);
    assert.equal(t.client.state.error?.code, 'forbidden_topic');
    const e = await outcome;
    assert.ok(e instanceof LifelineError && e.code === 'forbidden_topic' && e.status === 403, String(e));
    assert.equal(server.count('POST /rt/negotiate'), 1, 'not retried');
    t.client.start(); // a fresh start tries again
    await t.connected();
  });

  it('refuses to run without a transport it implements', async () => {
    const t = setup({ transports: ['websocket'] });
    await until(() => t.client.state.error !== undefined);
    assert.equal(t.client.state.error?.code, 'no_transport');
    assert.equal(t.server.requests.length, 0);
  });

  it('send: retries with the same mid on 5xx, network errors, 429 and 401 until acked', async () => {
    const t = setup();
    await t.connected();
    t.server
      .once('POST /rt/send', () => problem(502, 'http_502'))
      .once('POST /rt/send', networkError)
      .once('POST /rt/send', () => problem(429, 'rate_limited', { 'Retry-After': '1' }))
      .once('POST /rt/send', () => {
        t.server.tokens.clear();
        return problem(401, 'unknown_token');
      });
    const ack = await t.client.send('room:a', 'message', { text: 'hi' }, { ttlMs: 5000 });
    const sends = t.server.requests.filter((r) => r.path === '/rt/send');
    assert.equal(sends.length, 5);
    const mids = new Set(sends.map((r) => r.body.mid));
    assert.equal(mids.size, 1);
    assert.match(ack.mid, /^m_[A-Za-z0-9_-]{22}$/);
    assert.equal(sends[0]!.body.mid, ack.mid);
    assert.deepEqual(sends[0]!.body, { topic: 'room:a', type: 'message', data: { text: 'hi' }, mid: ack.mid, ttlMs: 5000 });
    assert.equal(sends[4]!.headers.get('Lifeline-Token'), 't2', 'retried on the new session');
    assert.equal(t.server.applied, 1);
    assert.ok(ack.id);
    // Backoff per retry: 0.5 × 500, 0.5 × 1000, then the 429's 1 s floor + 0.5 × 2000.
    for (const d of [250, 500, 2000]) assert.ok(t.clock.delays.includes(d), `waited ${d} ms: ${t.clock.delays}`);
  });

  it('send: a non-retryable error rejects with status, code and detail; later sends go on', async () => {
    const t = setup();
    await t.connected();
    t.server.once('POST /rt/send', () => problem(422, 'rejected'));
    const bad = t.client.send('room:a', 'message', 'no');
    const good = t.client.send('room:a', 'message', 'yes');
    await assert.rejects(bad, (e: unknown) => {
      assert.ok(e instanceof LifelineError);
      assert.equal(e.status, 422);
      assert.equal(e.code, 'rejected');
      assert.equal(e.detail, 'fake rejected');
      assert.equal(e.retryable, false);
      return true;
    });
    assert.ok((await good).id);
    assert.equal(t.server.count('POST /rt/send'), 2);
  });

  it('send: queues while connecting, flushes in order, and refuses beyond maxQueue', async () => {
    const t = setup({ autoStart: false, maxQueue: 3 });
    const p = [1, 2, 3].map((n) => t.client.send('room:a', 'message', n));
    await assert.rejects(t.client.send('room:a', 'message', 4), (e: unknown) => e instanceof LifelineError && e.code === 'queue_full');
    assert.equal(t.server.requests.length, 0);
    t.client.start();
    const acks = await Promise.all(p);
    assert.deepEqual(
      t.server.requests.filter((r) => r.path === '/rt/send').map((r) => r.body.data),
      [1, 2, 3],
    );
    assert.deepEqual(acks.map((a) => a.id), ['e1.1', 'e1.2', 'e1.3']);
    await until(() => t.events.length === 3);
    assert.deepEqual(t.events.map((e) => [e.data, e.from]), [
      [1, 'c1'],
      [2, 'c1'],
      [3, 'c1'],
    ]);
  });

  it('close: aborts the poll and in-flight sends, rejects queued ones with closed, ends the session, stops', async () => {
    const t = setup();
    await t.connected();
    t.server.once('POST /rt/send', () => new Promise<Response>(() => {})); // never answers
    const inFlight = t.client.send('room:a', 'message', 1);
    const queued = t.client.send('room:a', 'message', 2);
    const presence = t.client.presence('room:a');
    await until(() => t.server.count('POST /rt/send') === 1);
    await t.client.close();
    for (const p of [inFlight, queued]) await assert.rejects(p, (e: unknown) => e instanceof LifelineError && e.code === 'closed');
    await presence.catch(() => {}); // it may have finished before close
    const del = t.server.requests.find((r) => r.method === 'DELETE')!;
    assert.equal(del.path, '/rt/session');
    assert.equal(del.headers.get('Lifeline-Token'), 't1');
    assert.deepEqual(t.client.state, { status: 'disconnected', transport: null, attempt: 0 });
    const n = t.server.requests.length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(t.server.requests.length, n, 'nothing after close');
    await assert.rejects(t.client.send('room:a', 'message', 3), (e: unknown) => e instanceof LifelineError && e.code === 'closed');
    assert.equal(t.client.close(), t.client.close(), 'idempotent');
    // start() again resumes from the cursor on a new session.
    t.client.start();
    await t.connected();
    assert.equal(t.server.requests.filter((r) => r.path === '/rt/negotiate').at(-1)!.body.cursor, 'e1.0');
  });

  it('close while retrying cancels the backoff timer and pending operations', async () => {
    const server = new FakeServer();
    for (let i = 0; i < 50; i++) server.once('POST /rt/negotiate', networkError);
    const t = setup({ backoff: { minMs: 100_000, maxMs: 100_000 } }, server);
    const sent = t.client.send('room:a', 'message', 1);
    const topics = (async () => {
      await until(() => t.client.state.status === 'connecting' && t.client.state.attempt === 1);
      return t.client.setTopics(['room:b']);
    })();
    await until(() => t.client.state.attempt === 1);
    await t.client.close();
    await assert.rejects(sent, (e: unknown) => e instanceof LifelineError && e.code === 'closed');
    await assert.rejects(topics, (e: unknown) => e instanceof LifelineError && e.code === 'closed');
    assert.equal(server.count('POST /rt/negotiate'), 1);
  });

  it('setTopics: re-negotiates keeping the cursor and ends the old session; a refusal keeps the old topics', async () => {
    const t = setup();
    await t.connected();
    t.server.publish('room:a', 'message', 1);
    await until(() => t.events.length === 1);
    await t.client.setTopics(['room:a', 'room:b']);
    const neg = t.server.requests.filter((r) => r.path === '/rt/negotiate');
    assert.equal(neg.length, 2);
    assert.deepEqual(neg[1]!.body.topics, ['room:a', 'room:b']);
    assert.equal(neg[1]!.body.cursor, 'e1.1');
    assert.deepEqual(t.client.topics, ['room:a', 'room:b']);
    await until(() => t.server.count('DELETE /rt/session') === 1);
    assert.equal(t.server.requests.find((r) => r.method === 'DELETE')!.headers.get('Lifeline-Token'), 't1');
    assert.equal(t.client.clientId, 'c2');

    t.server.once('POST /rt/negotiate', () => problem(403, 'forbidden_topic'));
    await assert.rejects(t.client.setTopics(['secret']), (e: unknown) => e instanceof LifelineError && e.code === 'forbidden_topic');
    assert.deepEqual(t.client.topics, ['room:a', 'room:b']);
    t.server.publish('room:b', 'message', 2);
    await until(() => t.events.length === 2);
    assert.equal(t.client.clientId, 'c2', 'still on the old session');
    assert.equal(t.client.state.status, 'connected');
    await t.client.setTopics(['room:a', 'room:b']); // unchanged: no negotiate
    assert.equal(t.server.count('POST /rt/negotiate'), 3);
  });

  it('presence: GET {base}/presence?topic= with the token header', async () => {
    const t = setup();
    await t.connected();
    const res = await t.client.presence('room:a');
    assert.deepEqual(res, { topic: 'room:a', clients: [{ clientId: 'c1' }] });
    const req = t.server.requests.find((r) => r.path === '/rt/presence')!;
    assert.equal(req.query.get('topic'), 'room:a');
    assert.equal(req.headers.get('Lifeline-Token'), 't1');
  });

  it('treats a garbled 200 as retryable', async () => {
    const server = new FakeServer();
    server.once('POST /rt/negotiate', () => new Response('<html>proxy</html>', { status: 200 }));
    const t = setup({}, server);
    await t.connected();
    assert.equal(t.errors[0]?.code, 'bad_response');
  });
});
