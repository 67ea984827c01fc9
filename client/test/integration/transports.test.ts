// Each transport forced alone against the real Go server: delivery in
// order, resume after a restart (reset) and after session expiry (no loss),
// and sends acknowledged once when an acknowledgement is lost.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket as WS } from 'ws';
import type { LifelineClient, TransportName } from '../../src/index.js';
import { Recorder, TestServer, delay, newClient, skip } from './harness.js';

const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'longpoll'];

/** A `ws` WebSocket that loses the first `drop` acks it receives, cutting the connection instead. */
function lossyWebSocket(drop: number, lost: unknown[]) {
  class Lossy extends WS {}
  const base = Object.getOwnPropertyDescriptor(WS.prototype, 'onmessage')!;
  Object.defineProperty(Lossy.prototype, 'onmessage', {
    configurable: true,
    get() {
      return base.get!.call(this);
    },
    set(fn: ((ev: { data: unknown }) => void) | null) {
      base.set!.call(
        this,
        fn &&
          ((ev: { data: unknown }) => {
            const f = JSON.parse(String(ev.data)) as { op: string };
            if (f.op === 'ack' && drop > 0) {
              drop--;
              lost.push(f);
              (this as unknown as WS).terminate(); // the server applied it; the client never hears
              return;
            }
            fn(ev);
          }),
      );
    },
  });
  return Lossy;
}

for (const transport of TRANSPORTS) {
  describe(`against the Go server, ${transport} alone`, { skip }, () => {
    let server: TestServer;
    const servers: TestServer[] = [];
    const clients: LifelineClient[] = [];
    const client = (opts: Partial<Parameters<typeof newClient>[0]> = {}) => {
      const c = newClient({ url: server.rt, transports: [transport], ...opts });
      clients.push(c);
      return { c, rec: new Recorder(c) };
    };
    const connected = (rec: Recorder) =>
      rec.until(() => rec.states.at(-1)?.status === 'connected' && rec.states.at(-1)?.transport === transport, `connected on ${transport}`);

    before(async () => {
      server = await TestServer.start({ pollTimeout: '2s', heartbeat: '1s', noLimits: true });
      servers.push(server);
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('delivers every event in the order published, once each', async () => {
      const { c, rec } = client({ topics: ['room:d1', 'room:d2'] });
      await connected(rec);
      assert.equal(c.state.transport, transport);
      const published: string[] = [];
      for (let i = 0; i < 60; i++) {
        published.push(await server.publish(i % 2 ? 'room:d1' : 'room:d2', 'message', { i }));
        if (i % 20 === 0) await delay(30); // some in bursts, some apart
      }
      await rec.until(() => rec.of().length >= 60, '60 messages');
      await delay(100);
      assert.deepEqual(rec.of().map((e) => e.id), published);
      assert.equal(rec.resets.length, 0);
      assert.ok(rec.states.every((s) => s.status !== 'connected' || s.transport === transport));
    });

    it('after session expiry negotiates again with its cursor: no loss, no duplicate, no reset', async () => {
      const { c, rec } = client({ topics: ['room:exp'] });
      await connected(rec);
      const first = c.clientId;
      const ids = [await server.publish('room:exp', 'message', 1), await server.publish('room:exp', 'message', 2)];
      await rec.until(() => rec.of().length === 2, '2 messages');
      await server.expireSessions();
      for (let i = 3; i <= 8; i++) {
        ids.push(await server.publish('room:exp', 'message', i)); // before, during and after re-negotiating
        await delay(15);
      }
      await rec.until(() => c.clientId !== undefined && c.clientId !== first, 'a new session', 5000);
      ids.push(await server.publish('room:exp', 'message', 9));
      await rec.until(() => rec.of().length >= 9, '9 messages');
      await delay(100);
      assert.deepEqual(rec.of().map((e) => e.id), ids);
      assert.equal(rec.resets.length, 0);
      await connected(rec);
    });

    it('a send whose acknowledgement was lost is retried with the same mid: applied once, same ack, seen once', async () => {
      const mids: string[] = [];
      const lost: unknown[] = [];
      const lossyFetch: typeof fetch = async (input, init) => {
        const res = await fetch(input, init);
        if (String(input).endsWith('/send')) {
          mids.push((JSON.parse(String(init?.body)) as { mid: string }).mid);
          if (lost.length === 0) {
            lost.push(await res.json());
            throw new TypeError('fetch failed: connection reset');
          }
        }
        return res;
      };
      const { c, rec } =
        transport === 'websocket'
          ? client({ topics: ['room:ack'], WebSocket: lossyWebSocket(1, lost) })
          : client({ topics: ['room:ack'], fetch: lossyFetch });
      await connected(rec);
      const before = await server.sends();
      const ack = await c.send('room:ack', 'message', { text: 'once' });
      assert.equal(lost.length, 1, 'an acknowledgement was lost');
      assert.equal((lost[0] as { mid: string }).mid, ack.mid);
      assert.equal((lost[0] as { id: string }).id, ack.id, 'the retry got the same acknowledgement');
      if (transport !== 'websocket') assert.deepEqual(mids, [ack.mid, ack.mid]);
      assert.equal((await server.sends()) - before, 1, 'applied once');
      await rec.until(() => rec.of().length === 1, 'the message');
      await delay(150);
      assert.deepEqual(rec.of().map((e) => e.id), [ack.id]);
    });

    it('after a server restart (new epoch) emits reset once and goes on delivering', async () => {
      const s1 = await TestServer.start({ pollTimeout: '2s', heartbeat: '1s', noLimits: true });
      servers.push(s1);
      const { c, rec } = client({ url: s1.rt, topics: ['room:rs'] });
      await connected(rec);
      const before = await s1.publish('room:rs', 'message', 'before');
      await rec.until(() => rec.of().length === 1, 'the first message');
      await s1.stop();
      await rec.until(() => rec.states.at(-1)?.status === 'reconnecting', 'reconnecting');
      const s2 = await TestServer.start({ addr: `127.0.0.1:${s1.port}`, pollTimeout: '2s', heartbeat: '1s', noLimits: true });
      servers.push(s2);
      await rec.until(() => rec.resets.length === 1, 'reset');
      assert.equal(rec.resets[0]!.reason, 'negotiate');
      assert.equal(rec.resets[0]!.previousCursor, before);
      await connected(rec);
      const ids = [await s2.publish('room:rs', 'message', 'after-1'), await s2.publish('room:rs', 'message', 'after-2')];
      await rec.until(() => rec.of().length === 3, 'the messages after the restart');
      assert.deepEqual(rec.of().map((e) => e.id), [before, ...ids]);
      assert.equal(rec.resets.length, 1);
      assert.equal(c.state.transport, transport);
      assert.ok(rec.states.every((st) => st.status !== 'disconnected'));
    });
  });
}
