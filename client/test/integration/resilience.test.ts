import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { LifelineClient } from '../../src/index.js';
import { Recorder, TestServer, WebSocket, freePort, skip } from './harness.js';

const servers: TestServer[] = [];
const clients: LifelineClient[] = [];
const start = async (opts: Parameters<typeof TestServer.start>[0] = {}) => {
  const s = await TestServer.start(opts);
  servers.push(s);
  return s;
};
const client = (opts: ConstructorParameters<typeof LifelineClient>[0]) => {
  const c = new LifelineClient({ WebSocket, ...opts });
  clients.push(c);
  return { c, rec: new Recorder(c) };
};
const connected = (rec: Recorder) => rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');

describe('against the Go server: resume, expiry, idempotency, backoff', { skip }, () => {
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('after a server restart (new epoch) emits reset once and keeps delivering', async () => {
    const s1 = await start();
    const { c, rec } = client({ url: s1.rt, topics: ['room:r'], backoff: { minMs: 20, maxMs: 200 } });
    await connected(rec);
    const before = await s1.publish('room:r', 'message', 'before');
    await rec.until(() => rec.of().length === 1, 'the first message');
    await s1.stop();
    await rec.until(() => rec.states.at(-1)?.status === 'reconnecting', 'reconnecting');
    const s2 = await start({ addr: `127.0.0.1:${s1.port}` });
    await rec.until(() => rec.resets.length === 1, 'reset');
    assert.equal(rec.resets[0]!.reason, 'negotiate');
    assert.equal(rec.resets[0]!.previousCursor, before);
    assert.equal(rec.resets[0]!.cursor, c.cursor);
    await connected(rec);
    const ids = [await s2.publish('room:r', 'message', 'after-1'), await s2.publish('room:r', 'message', 'after-2')];
    await rec.until(() => rec.of().length === 3, 'the messages after the restart');
    assert.deepEqual(rec.of().map((e) => e.id), [before, ...ids]);
    assert.equal(rec.resets.length, 1);
    // It waited with backoff in between, reconnecting (never a fatal disconnect).
    const down = rec.states.filter((st) => st.status === 'reconnecting' && st.retryInMs !== undefined);
    assert.ok(down.length >= 1);
    assert.ok(rec.states.every((st) => st.status !== 'disconnected'));
  });

  it('after session expiry negotiates again with its cursor: no loss, no duplicate, no reset', async () => {
    const s = await start({ pollTimeout: '1s' });
    const { c, rec } = client({ url: s.rt, topics: ['room:e'], backoff: { minMs: 20, maxMs: 200 } });
    await connected(rec);
    const first = c.clientId;
    const ids = [await s.publish('room:e', 'message', 1), await s.publish('room:e', 'message', 2)];
    await rec.until(() => rec.of().length === 2, '2 messages');
    await s.expireSessions();
    ids.push(await s.publish('room:e', 'message', 3)); // may ride the held poll, or come after re-negotiating
    await rec.until(() => c.clientId !== undefined && c.clientId !== first, 'a new session', 5000);
    ids.push(await s.publish('room:e', 'message', 4));
    ids.push(await s.publish('room:e', 'message', 5));
    await rec.until(() => rec.of().length >= 5, '5 messages');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(rec.of().map((e) => e.id), ids);
    assert.equal(rec.resets.length, 0);
  });

  it('retries a send whose response was lost with the same mid: applied once, same ack', async () => {
    const s = await start();
    const bodies: { mid: string }[] = [];
    let firstAck: unknown;
    let dropped = false;
    const lossy: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input).endsWith('/send')) {
        bodies.push(JSON.parse(String(init?.body)));
        if (!dropped) {
          dropped = true;
          firstAck = await res.json(); // the server applied it; the client never hears
          throw new TypeError('fetch failed: connection reset');
        }
      }
      return res;
    };
    // Sends over HTTP (on WebSocket they go in-band: see transports.test.ts).
    const { c, rec } = client({ url: s.rt, topics: ['room:i'], fetch: lossy, backoff: { minMs: 20, maxMs: 100 }, transports: ['sse', 'longpoll'] });
    await connected(rec);
    const before = await s.sends();
    const ack = await c.send('room:i', 'message', { text: 'once' });
    assert.equal(bodies.length, 2);
    assert.equal(bodies[0]!.mid, bodies[1]!.mid);
    assert.equal(ack.mid, bodies[0]!.mid);
    assert.deepEqual(ack, firstAck);
    assert.equal((await s.sends()) - before, 1);
    await rec.until(() => rec.of().length === 1, 'the message');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(rec.of().length, 1);
    assert.equal(rec.of()[0]!.id, ack.id);
  });

  it('keeps retrying within the backoff bounds while the server is down, then connects', async () => {
    const port = await freePort();
    const bounds = { minMs: 40, maxMs: 320 };
    const draws: number[] = [];
    const random = () => {
      const r = Math.random();
      draws.push(r);
      return r;
    };
    const attempts: number[] = [];
    const timed: typeof fetch = (input, init) => {
      if (String(input).endsWith('/negotiate')) attempts.push(Date.now());
      return fetch(input, init);
    };
    const { rec } = client({ url: `http://127.0.0.1:${port}/rt`, topics: ['room:b'], backoff: bounds, random, fetch: timed });
    await rec.until(() => rec.states.filter((st) => st.retryInMs !== undefined).length >= 7, '7 retries', 5000);
    const waits = rec.states.filter((st) => st.retryInMs !== undefined);
    waits.forEach((st, i) => {
      const ceiling = Math.min(bounds.maxMs, bounds.minMs * 2 ** i);
      assert.equal(st.status, 'connecting', 'the first connect is retried');
      assert.equal(st.attempt, i + 1);
      assert.equal(st.error?.code, 'network');
      assert.equal(st.retryInMs, Math.floor(draws[i]! * ceiling), `retry ${i}: full jitter over [0, ${ceiling}]`);
      assert.ok(st.retryInMs! >= 0 && st.retryInMs! <= ceiling);
    });
    // The requests really were spaced by those waits.
    for (let i = 1; i < Math.min(attempts.length, waits.length); i++) {
      const gap = attempts[i]! - attempts[i - 1]!;
      const want = waits[i - 1]!.retryInMs!;
      assert.ok(gap >= want - 2 && gap <= want + 500, `gap ${i}: ${gap} ms for a wait of ${want} ms`);
    }
    const s = await start({ addr: `127.0.0.1:${port}` });
    await connected(rec);
    assert.equal(rec.states.at(-1)!.attempt, 0);
    const id = await s.publish('room:b', 'message', 'up');
    await rec.until(() => rec.of().some((e) => e.id === id), 'a message once up');
  });
});
