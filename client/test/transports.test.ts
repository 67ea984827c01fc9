// The client's transport choice against the fake server and a fake
// WebSocket: fallback and its reasons, closed_early, close codes, in-band
// sends, failback.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { LifelineClient, LifelineError, type ConnectionState, type LifelineOptions } from '../src/index.js';
import type { Envelope } from '../src/protocol.js';
import { FakeServer, fakeWebSocket, fastClock, scaledClock, until } from './fake.js';

const clients: LifelineClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function setup(opts: Partial<LifelineOptions> = {}) {
  const server = new FakeServer();
  server.offers = [
    { name: 'websocket', url: '/rt/ws' },
    { name: 'longpoll', url: '/rt/poll' },
  ];
  const ws = fakeWebSocket(server);
  const client = new LifelineClient({
    url: 'http://fake.test/rt',
    topics: ['room:a'],
    fetch: server.fetch,
    clock: fastClock(),
    random: () => 0.5,
    WebSocket: ws.WebSocket,
    transports: ['websocket', 'longpoll'], // what the fake offers
    ...opts,
  });
  clients.push(client);
  const events: Envelope[] = [];
  const states: ConnectionState[] = [];
  const errors: LifelineError[] = [];
  client.on('event', (e) => events.push(e));
  client.on('state', (s) => states.push(s));
  client.on('error', (e) => errors.push(e));
  const on = (t: string) => until(() => client.state.status === 'connected' && client.state.transport === t, 3000, `connected on ${t}`);
  return { server, ws, client, events, states, errors, on };
}

describe('transports (fake server, fake WebSocket)', () => {
  it('WebSocket: ws:// URL without the token, auth first frame with token and cursor, then events', async () => {
    const t = setup({ clock: fastClock(10) }); // 500 ms (real) to open: exactly one socket even on a loaded machine
    await t.on('websocket');
    assert.deepEqual(t.ws.ctl.urls, ['ws://fake.test/rt/ws']);
    assert.deepEqual(t.ws.ctl.frames[0], { op: 'auth', token: 't1', cursor: 'e1.0', batch: true });
    t.server.publish('room:a', 'message', 1);
    t.server.publish('room:a', 'message', 2);
    await until(() => t.events.length === 2);
    assert.deepEqual(t.events.map((e) => e.id), ['e1.1', 'e1.2']);
    assert.equal(t.server.count('GET /rt/poll'), 0);
    assert.equal(t.client.state.skipped, undefined);
  });

  it('WebSocket: a batch of events in one "events" frame is delivered in order, one by one', async () => {
    const t = setup();
    await t.on('websocket');
    for (let i = 1; i <= 3; i++) t.server.publish('room:a', 'message', i); // one flush: one frame
    await until(() => t.events.length === 3);
    assert.equal(t.ws.ctl.batches, 1);
    assert.deepEqual(t.events.map((e) => e.id), ['e1.1', 'e1.2', 'e1.3']);
    assert.deepEqual(t.events.map((e) => e.data), [1, 2, 3]);
  });

  it('sends in-band on WebSocket, acknowledged by mid; HTTP on long-poll', async () => {
    const t = setup();
    await t.on('websocket');
    const ack = await t.client.send('room:a', 'message', { text: 'hi' });
    assert.equal(t.server.count('POST /rt/send'), 0);
    const f = t.ws.ctl.frames.find((x) => x.op === 'send');
    assert.deepEqual(f, { op: 'send', topic: 'room:a', type: 'message', data: { text: 'hi' }, mid: ack.mid });
    assert.equal(ack.id, 'e1.1');
  });

  it('a refused handshake is no_upgrade: long-poll, skipped says why, the next negotiate reports it', async () => {
    const t = setup();
    t.ws.ctl.mode = 'refuse';
    await t.on('longpoll');
    assert.deepEqual(t.client.state.skipped, [{ transport: 'websocket', reason: 'no_upgrade' }]);
    await t.client.setTopics(['room:a', 'room:b']);
    const negs = t.server.requests.filter((r) => r.path === '/rt/negotiate');
    assert.deepEqual(negs[1]!.body.failed, [{ transport: 'websocket', reason: 'no_upgrade' }]);
    assert.equal(negs[0]!.body.failed, undefined);
  });

  it('no open frame within 5 s is open_timeout', async () => {
    const t = setup();
    t.ws.ctl.mode = 'hang';
    await t.on('longpoll');
    assert.deepEqual(t.client.state.skipped, [{ transport: 'websocket', reason: 'open_timeout' }]);
  });

  it('when every transport fails (the server is down) nothing is blamed: backoff, and WebSocket first again', async () => {
    const t = setup();
    t.ws.ctl.mode = 'refuse';
    let polls = 0;
    for (let i = 0; i < 2; i++)
      t.server.once('GET /rt/poll', () => {
        polls++;
        throw new TypeError('fetch failed');
      });
    await until(() => polls === 2);
    t.ws.ctl.mode = 'accept';
    await t.on('websocket');
    assert.ok(t.states.some((s) => s.retryInMs !== undefined && s.error?.code === 'network'));
    assert.equal(t.client.state.skipped, undefined);
    assert.equal(t.ws.ctl.urls.length, 3, 'WebSocket tried in each round');
  });

  it('a WebSocket that drops right after opening, three times, is closed_early: long-poll', async () => {
    const t = setup();
    t.ws.ctl.mode = 'drop';
    await t.on('longpoll');
    assert.equal(t.ws.ctl.sockets.length, 3);
    assert.deepEqual(t.client.state.skipped, [{ transport: 'websocket', reason: 'closed_early' }]);
    assert.ok(t.errors.some((e) => e.code === 'closed_early'));
  });

  it('close codes: 4001 negotiates again with the cursor; 4003/1011/1006 reconnect from the cursor; 4005 is a superseded receiver', async () => {
    const t = setup();
    await t.on('websocket');
    t.server.publish('room:a', 'message', 1);
    await until(() => t.events.length === 1);
    for (const code of [4003, 1011, 1006, 4005]) {
      const n = t.ws.ctl.sockets.length;
      t.ws.ctl.sockets.at(-1)!.serverClose(code);
      await until(() => t.ws.ctl.sockets.length === n + 1 && t.client.state.status === 'connected', 3000, `reconnected after ${code}`);
      assert.equal(t.ws.ctl.frames.filter((f) => f.op === 'auth').at(-1).cursor, 'e1.1');
    }
    assert.equal(t.server.count('POST /rt/negotiate'), 1);
    t.server.tokens.clear();
    t.ws.ctl.sockets.at(-1)!.serverClose(4001);
    await until(() => t.server.count('POST /rt/negotiate') === 2 && t.client.state.status === 'connected');
    assert.equal(t.server.requests.filter((r) => r.path === '/rt/negotiate')[1]!.body.cursor, 'e1.1');
    t.server.publish('room:a', 'message', 2);
    await until(() => t.events.length === 2);
    assert.deepEqual(t.events.map((e) => e.id), ['e1.1', 'e1.2']);
  });

  it('1013 (the server\'s shared store is unavailable) reconnects from the cursor after the advised 2 s', async () => {
    const clock = fastClock();
    const t = setup({ clock });
    await t.on('websocket');
    const n = t.ws.ctl.sockets.length;
    const waitsBefore = clock.delays.length;
    t.ws.ctl.sockets.at(-1)!.serverClose(1013);
    await until(() => t.errors.some((e) => e.code === 'unavailable' && e.status === 503), 1000, 'the unavailable error');
    await until(() => t.ws.ctl.sockets.length === n + 1 && t.client.state.status === 'connected', 3000, 'reconnected after 1013');
    const waited = Math.max(...clock.delays.slice(waitsBefore));
    assert.ok(waited >= 2000, `waited at most ${waited} ms (clock time) before reconnecting, under the advised 2 s`);
  });

  it('1009 fails the send in flight (too_large, not resent); a send cut by another close is retried with the same mid', async () => {
    const t = setup();
    await t.on('websocket');
    t.ws.ctl.ack = false;
    const big = t.client.send('room:a', 'message', 'x');
    await until(() => t.ws.ctl.frames.some((f) => f.op === 'send'));
    t.ws.ctl.sockets.at(-1)!.serverClose(1009);
    await assert.rejects(big, (e: unknown) => e instanceof LifelineError && e.code === 'too_large' && e.status === 413);
    await t.on('websocket');
    t.ws.ctl.mode = 'hang'; // the next socket never opens: the retry goes over HTTP
    const sent = t.client.send('room:a', 'message', 'y');
    await until(() => t.ws.ctl.frames.filter((f) => f.op === 'send').length === 2);
    const mid = t.ws.ctl.frames.filter((f) => f.op === 'send')[1].mid;
    t.ws.ctl.sockets.at(-1)!.serverClose(1006);
    const ack = await sent;
    assert.equal(ack.mid, mid);
    assert.equal(t.server.count('POST /rt/send'), 1, 'retried over HTTP');
    assert.equal(t.server.log.filter((e) => e.data === 'y').length, 1, 'y applied once');
  });

  it('a stream silent for twice heartbeatMs is dead: it reconnects from the cursor', async () => {
    const t = setup({ clock: scaledClock() }); // heartbeatMs 1000 → dead after 20 ms
    t.ws.ctl.mode = 'mute';
    await t.on('websocket');
    const openedAt = Date.now();
    t.ws.ctl.mode = 'accept';
    await until(() => t.ws.ctl.sockets.length === 2 && t.client.state.status === 'connected', 3000, 'reconnected');
    assert.ok(Date.now() - openedAt >= 15, 'not before 2 × heartbeatMs');
    assert.ok(t.errors.some((e) => e.code === 'timeout'), t.errors.map((e) => e.code).join());
  });

  it('fails back: probes WebSocket every ~failbackMs and switches to it once it works, without loss or repeat', async () => {
    const t = setup({ failbackMs: 20_000 }); // 200 ms on the fast clock
    t.ws.ctl.mode = 'refuse';
    await t.on('longpoll');
    for (let i = 0; i < 5; i++) t.server.publish('room:a', 'message', i);
    await until(() => t.events.length === 5);
    await until(() => t.ws.ctl.sockets.length >= 2, 3000, 'a probe'); // refused: stays on long-poll
    assert.equal(t.client.state.transport, 'longpoll');
    t.ws.ctl.mode = 'accept';
    await t.on('websocket');
    for (let i = 5; i < 10; i++) t.server.publish('room:a', 'message', i);
    await until(() => t.events.length === 10);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(t.events.map((e) => e.data), [...Array(10).keys()]);
    assert.equal(t.client.state.skipped, undefined);
  });
});
