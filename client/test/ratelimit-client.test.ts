// The client under the server's rate limits, against the fake server and
// fake WebSocket: the `rate-limited` state, `limits`, pacing sends on r=0,
// retrying refused sends with the same mid, and backing off refused polls,
// stream opens (WebSocket 429 + 1008, SSE `problem`) and negotiates.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { LifelineClient, type ConnectionState, type LifelineOptions, type RateLimitInfo } from '../src/index.js';
import { FakeServer, fakeWebSocket, fastClock, json, problem, until } from './fake.js';

const clients: LifelineClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** fastClock, but now() runs 100 times faster too, so that waits against it (pacing) are consistent. */
function scaledRecordingClock() {
  const clock = fastClock();
  const t0 = Date.now();
  return { ...clock, now: () => t0 + (Date.now() - t0) * 100 };
}

function setup(opts: Partial<LifelineOptions> = {}, server = new FakeServer(), clock = fastClock()) {
  const ws = fakeWebSocket(server);
  const client = new LifelineClient({ url: 'http://fake.test/rt', topics: ['room:a'], fetch: server.fetch, clock, random: () => 0.5, ...opts });
  clients.push(client);
  const states: ConnectionState[] = [];
  const limits: RateLimitInfo[] = [];
  client.on('state', (s) => states.push(s));
  client.on('limits', (l) => limits.push(l));
  const on = (t: string) => until(() => client.state.status === 'connected' && client.state.transport === t, 3000, `connected on ${t}`);
  return { server, ws, client, clock, states, limits, on };
}

const SEND_FIELDS = { RateLimit: '"sends";r=0;t=2', 'RateLimit-Policy': '"sends";q=2;w=4' };

describe('rate limits (fake server)', () => {
  it('exposes the RateLimit fields as `limits`, and paces the next send by t when r=0, showing rate-limited', async () => {
    const t = setup({}, new FakeServer(), scaledRecordingClock());
    await t.on('longpoll');
    t.server.once('POST /rt/send', (req) => json(200, t.server.apply(req.body, 'c1'), SEND_FIELDS));
    await t.client.send('room:a', 'message', 1);
    assert.equal(t.limits.length, 1);
    assert.deepEqual({ ...t.client.limits.sends, at: 0 }, { policy: 'sends', remaining: 0, resetInMs: 2000, quota: 2, windowMs: 4000, at: 0 });
    assert.equal(t.client.limits.sends, t.limits[0]);
    const n = t.clock.delays.length;
    await t.client.send('room:a', 'message', 2);
    const paced = t.clock.delays.slice(n).filter((d) => d > 1000 && d <= 2000);
    assert.equal(paced.length, 1, `one paced wait: ${t.clock.delays.slice(n)}`);
    const limited = t.states.filter((s) => s.status === 'rate-limited');
    assert.equal(limited.length, 1);
    assert.equal(limited[0]!.transport, 'longpoll', 'the connection stayed open');
    assert.equal(limited[0]!.error?.code, 'rate_limited');
    assert.ok(limited[0]!.retryInMs! > 1000 && limited[0]!.retryInMs! <= 2000);
    assert.equal(t.client.state.status, 'connected');
    // The paced wait is spent: the third send (no fields this time) goes at once.
    const m = t.clock.delays.length;
    await t.client.send('room:a', 'message', 3);
    assert.ok(t.clock.delays.slice(m).every((d) => d < 1000 || d > 2000), String(t.clock.delays.slice(m)));
    assert.equal(t.server.applied, 3);
  });

  it('retries a send refused with 429 with the same mid after Retry-After + jitter (or the RateLimit t without one)', async () => {
    const t = setup({}, new FakeServer(), scaledRecordingClock());
    await t.on('longpoll');
    t.server
      .once('POST /rt/send', () => problem(429, 'rate_limited', { 'Retry-After': '1', RateLimit: '"sends";r=0;t=1' }))
      .once('POST /rt/send', () => problem(429, 'rate_limited', { RateLimit: '"sends";r=0;t=3' }));
    const ack = await t.client.send('room:a', 'message', 'x');
    const sends = t.server.requests.filter((r) => r.path === '/rt/send');
    assert.equal(sends.length, 3);
    assert.ok(sends.every((r) => r.body.mid === ack.mid));
    assert.equal(t.server.applied, 1);
    // 1 s + 0.5 × 500, then 3 s (from t) + 0.5 × 1000.
    for (const d of [1250, 3500]) assert.ok(t.clock.delays.includes(d), `waited ${d}: ${t.clock.delays}`);
    const limited = t.states.filter((s) => s.status === 'rate-limited');
    assert.deepEqual(limited.map((s) => [s.transport, s.attempt, s.error?.code]), [
      ['longpoll', 1, 'rate_limited'],
      ['longpoll', 2, 'rate_limited'],
    ]);
    assert.equal(t.client.state.status, 'connected');
  });

  it('a non-retryable refusal still rejects; 429 never does', async () => {
    const t = setup();
    await t.on('longpoll');
    t.server.once('POST /rt/send', () => problem(429, 'rate_limited', { 'Retry-After': '1' })).once('POST /rt/send', () => problem(422, 'rejected'));
    await assert.rejects(t.client.send('room:a', 'message', 'no'), (e: unknown) => (e as { code: string }).code === 'rejected');
  });

  it('a poll refused with 429: rate-limited (session kept), waits Retry-After + jitter, then connected', async () => {
    const t = setup();
    await t.on('longpoll');
    t.server.once('GET /rt/poll', () => problem(429, 'rate_limited', { 'Retry-After': '2' }));
    await until(() => t.states.some((s) => s.status === 'rate-limited'));
    await t.on('longpoll');
    const s = t.states.find((x) => x.status === 'rate-limited')!;
    assert.deepEqual([s.transport, s.attempt, s.retryInMs, s.error?.code, s.clientId], [null, 1, 2250, 'rate_limited', 'c1']);
    assert.ok(t.clock.delays.includes(2250));
    assert.equal(t.server.count('POST /rt/negotiate'), 1);
  });

  it('a negotiate refused with 429 is rate-limited too, and setTopics resolves once it goes through', async () => {
    const t = setup();
    await t.on('longpoll');
    t.server.once('POST /rt/negotiate', () => problem(429, 'rate_limited', { 'Retry-After': '1', RateLimit: '"negotiate";r=0;t=1', 'RateLimit-Policy': '"negotiate";q=30;w=30' }));
    await t.client.setTopics(['room:b']);
    assert.ok(t.states.some((s) => s.status === 'rate-limited' && s.retryInMs === 1250));
    assert.deepEqual({ ...t.client.limits.negotiate, at: 0 }, { policy: 'negotiate', remaining: 0, resetInMs: 1000, quota: 30, windowMs: 30_000, at: 0 });
    await t.on('longpoll');
  });

  it('SSE: a problem 429 after retry: waits at least the retry, then reopens', async () => {
    const server = new FakeServer();
    server.offers = [
      { name: 'sse', url: '/rt/sse' },
      { name: 'longpoll', url: '/rt/poll' },
    ];
    const body = 'retry: 1700\nevent: problem\ndata: {"status":429,"code":"rate_limited","detail":"x"}\n\n';
    const sse = (text: string) => () => new Response(text, { headers: { 'Content-Type': 'text/event-stream' } });
    server.once('GET /rt/sse', sse(body));
    server.once('GET /rt/sse', sse('retry: 1000\nevent: open\ndata: {}\n\nevent: probe\ndata: {}\n\n')); // then the stream ends: a plain drop
    const t = setup({ transports: ['sse', 'longpoll'] }, server, fastClock(10)); // 300 ms (real) for the first byte
    await until(() => t.states.some((s) => s.status === 'connected' && s.transport === 'sse'));
    const s = t.states.find((x) => x.status === 'rate-limited')!;
    assert.deepEqual([s.transport, s.retryInMs, s.error?.code, s.error?.retryAfterMs], [null, 1950, 'rate_limited', 1700]);
    assert.equal(server.count('POST /rt/negotiate'), 1, 'no SSE failure was reported');
  });
});

describe('rate limits (fake WebSocket)', () => {
  it('an error frame 429 on a send: retried in-band with the same mid after retryAfterMs + jitter', async () => {
    const server = new FakeServer();
    server.offers = [
      { name: 'websocket', url: '/rt/ws' },
      { name: 'longpoll', url: '/rt/poll' },
    ];
    const ws = fakeWebSocket(server);
    const c = new LifelineClient({ url: 'http://fake.test/rt', fetch: server.fetch, clock: fastClock(10), random: () => 0.5, WebSocket: ws.WebSocket, transports: ['websocket', 'longpoll'] });
    clients.push(c);
    const states: ConnectionState[] = [];
    c.on('state', (s) => states.push(s));
    await until(() => c.state.transport === 'websocket');
    ws.ctl.refuseSends = 2;
    const ack = await c.send('room:a', 'message', 'hi');
    const sends = ws.ctl.frames.filter((f) => f.op === 'send');
    assert.equal(sends.length, 3);
    assert.ok(sends.every((f) => f.mid === ack.mid));
    assert.equal(server.applied, 1);
    assert.equal(server.count('POST /rt/send'), 0, 'stayed in-band');
    // The wait left when the state is told: the hold's length, less what
    // the fast clock (10× real time) advanced between the hold and the state.
    const limited = states.filter((s) => s.status === 'rate-limited');
    assert.deepEqual(
      limited.map((s) => s.transport),
      ['websocket', 'websocket'],
    );
    const waits = limited.map((s) => s.retryInMs ?? Number.NaN);
    const wants = [550, 800]; // 300 + 0.5 × 500, 300 + 0.5 × 1000
    wants.forEach((want, i) => {
      const got = waits[i] ?? Number.NaN;
      assert.ok(got <= want && got > want - 50, `retryInMs ${waits.join(', ')}, want 550 and 800 (less up to 50 ms the clock ran on)`);
    });
    assert.equal(c.state.status, 'connected');
  });

  it('a refused stream open (error frame 429, close 1008 before open) backs off at least retryAfterMs; WebSocket is not blamed', async () => {
    const server = new FakeServer();
    server.offers = [
      { name: 'websocket', url: '/rt/ws' },
      { name: 'longpoll', url: '/rt/poll' },
    ];
    const ws = fakeWebSocket(server);
    ws.ctl.mode = 'limited';
    ws.ctl.retryAfterMs = 1500;
    const clock = fastClock(10); // 500 ms (real) for the WebSocket open timeout, even on a loaded machine
    const c = new LifelineClient({ url: 'http://fake.test/rt', fetch: server.fetch, clock, random: () => 0.5, WebSocket: ws.WebSocket, transports: ['websocket', 'longpoll'] });
    clients.push(c);
    const states: ConnectionState[] = [];
    c.on('state', (s) => states.push(s));
    await until(() => ws.ctl.sockets.length === 1);
    ws.ctl.mode = 'accept';
    await until(() => c.state.status === 'connected');
    assert.equal(c.state.transport, 'websocket');
    assert.equal(c.state.skipped, undefined);
    const s = states.find((x) => x.status === 'rate-limited')!;
    assert.deepEqual([s.transport, s.retryInMs, s.error?.code], [null, 1750, 'rate_limited']);
    assert.ok(clock.delays.includes(1750));
    assert.equal(server.count('GET /rt/poll'), 0, 'no fallback to long-poll');
  });
});
